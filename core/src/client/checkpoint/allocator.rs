// SPDX-License-Identifier: Apache-2.0
//! The checkpoint request allocator of one `connect()` (client-state-machine.md §5, §9):
//! whether the current iteration reconciled the counter ([`SeedState`]), id allocation in
//! groups, and POSTs that concurrent callers share.

use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{oneshot, watch};

use super::CheckpointError;
use crate::client::engine_calls;
use crate::client::http::{HttpFailure, ServiceClient};
use crate::client::{CheckpointMode, ClientInner, blocking};

/// Whether the current iteration reconciled its checkpoint request counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeedState {
    /// No iteration, or not reconciled yet.
    Waiting,
    /// Ids may be allocated.
    Seeded,
    /// The service answered 404: requests mode is off for this `connect()`.
    Unsupported,
    /// The session ended.
    Ended,
}

/// Allocates checkpoint request ids for one `connect()` and makes sure the service saw them.
pub(crate) struct Allocator {
    /// Whether the app asked for [`CheckpointMode::Requests`].
    enabled: bool,
    seed: watch::Sender<SeedState>,
    /// Serialises the checkpoint request POSTs of this session (so the service sees them in
    /// id order) and remembers what they covered, letting concurrent requests share one POST
    /// (see [`Allocator::allocate`]). An async mutex: it is held across the POST's `.await`.
    posted: tokio::sync::Mutex<PostedCoverage>,
    /// Callers waiting for their own checkpoint request id (allocated in groups).
    id_queue: Mutex<IdQueue>,
}

impl Allocator {
    pub(crate) fn new(mode: CheckpointMode) -> Self {
        Self {
            enabled: mode == CheckpointMode::Requests,
            seed: watch::Sender::new(SeedState::Waiting),
            posted: tokio::sync::Mutex::new(PostedCoverage::default()),
            id_queue: Mutex::new(IdQueue::default()),
        }
    }

    /// Whether the app asked for checkpoint requests (even if the service lacks them).
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// Checkpoint requests are on and the service has not said it lacks them.
    pub(crate) fn requests_mode(&self) -> bool {
        self.enabled && *self.seed.borrow() != SeedState::Unsupported
    }

    /// The iteration reconciled the counter: ids may be allocated.
    pub(crate) fn seeded(&self) {
        self.seed.send_replace(SeedState::Seeded);
    }

    /// The service answered 404: legacy write checkpoints for the rest of this `connect()`.
    pub(crate) fn unsupported(&self) {
        self.seed.send_replace(SeedState::Unsupported);
    }

    /// The iteration ended: allocations wait for the next one to reconcile.
    pub(crate) fn iteration_ended(&self) {
        self.seed.send_if_modified(|s| {
            let reset = *s == SeedState::Seeded;
            if reset {
                *s = SeedState::Waiting;
            }
            reset
        });
    }

    /// The session ended: waiting callers fail.
    pub(crate) fn end(&self) {
        self.seed.send_replace(SeedState::Ended);
    }

    /// Waits until the iteration reconciled, found checkpoint requests unsupported, or ended.
    pub(crate) async fn decided(&self) -> SeedState {
        let mut seed = self.seed.subscribe();
        // The sender lives in `self`, so the channel cannot close while this waits.
        seed.wait_for(|s| *s != SeedState::Waiting)
            .await
            .map_or(SeedState::Ended, |s| *s)
    }

    /// Allocates a checkpoint request id and makes sure a POST covers it, coalescing the POSTs of
    /// concurrent callers (client-state-machine.md §9; stale answers §5.2).
    ///
    /// Each caller first allocates its own id (distinct and increasing: the engine counter is
    /// bumped in a write transaction), then takes `self.posted`. Under the lock:
    /// - If an earlier holder already posted a counter value `posted_max >= id`, that POST read
    ///   the counter *after* this id was allocated (the counter only grows and had not reached
    ///   `id` before this caller's allocation), so the service took its head after this
    ///   caller's call started and after every write it made before calling. The caller returns
    ///   its own id without posting: a waiter resolves once the applied id is `>= id`, and the
    ///   service answers the posted (higher) id with a checkpoint whose id is `>= id`.
    /// - Otherwise it posts the CURRENT counter value (`>= id`), which covers every id
    ///   allocated so far, including those of callers still queued on the lock, and records it.
    ///
    /// The stale-answer rule is kept: an answer above the posted value means the service had
    /// already seen a higher id, whose head may predate the covered callers' writes. Then the
    /// counter is re-seeded above the answer, a fresh id allocated and posted once, and every
    /// caller covered only by that stale round is bound to the re-posted id, not its own.
    ///
    /// The counter is assumed not to go backwards within a session (a reconcile seeds at least
    /// the proposed counter); if it ever does, the recorded coverage is dropped.
    pub(crate) async fn allocate(
        &self,
        service: &ServiceClient,
        client: &Arc<ClientInner>,
    ) -> Result<i64, CheckpointError> {
        let id = self.allocate_own_id(client).await?;
        let mut coverage = self.posted.lock().await;
        if let Some(bound) = coverage.binding_for(id) {
            return Ok(bound);
        }
        let counter = blocking(&client.db, engine_calls::current_id)
            .await
            .map_err(|e| CheckpointError::Failed(e.to_string()))?;
        let upper = counter.unwrap_or(id).max(id);
        if coverage.posted_max.is_some_and(|posted| posted > upper) {
            *coverage = PostedCoverage::default();
        }
        let accepted = post(service, client, upper).await?;
        if accepted < upper {
            return Err(CheckpointError::Failed(format!(
                "service accepted {accepted}, older than requested id {upper}"
            )));
        }
        if accepted == upper {
            coverage.posted_max = Some(upper);
            return Ok(id);
        }
        let retry = blocking(&client.db, move |db| {
            engine_calls::seed_above_and_next(db, accepted)
        })
        .await
        .map_err(|e| CheckpointError::Failed(e.to_string()))?;
        let reposted = post(service, client, retry).await?;
        if reposted < retry {
            return Err(CheckpointError::Failed(format!(
                "service accepted {reposted}, older than requested id {retry}"
            )));
        }
        // A second stale answer is accepted as before (re-post once), but then the ids up to
        // `retry` are only covered by a stale round too.
        let stale_upper = if reposted > retry { retry } else { upper };
        coverage.posted_max = Some(retry);
        coverage.stale = Some((stale_upper, reposted));
        Ok(reposted)
    }

    /// Waits for a seeded iteration and allocates this caller's own id (no POST).
    async fn allocate_own_id(&self, client: &Arc<ClientInner>) -> Result<i64, CheckpointError> {
        // The iteration can end between the seed check and the allocation; then wait again.
        for _ in 0..5 {
            match self.decided().await {
                SeedState::Seeded => {}
                SeedState::Unsupported => return Err(CheckpointError::NotSupported),
                SeedState::Ended | SeedState::Waiting => return Err(CheckpointError::NotConnected),
            }
            match self.own_id(client).await {
                Ok(allocated) => return Ok(allocated),
                Err(_) if *self.seed.borrow() != SeedState::Seeded => continue,
                Err(error) => return Err(CheckpointError::Failed(error)),
            }
        }
        Err(CheckpointError::NotConnected)
    }

    /// Allocates one id for this caller. Concurrent callers are served in groups: a caller that
    /// arrives while no allocation runs becomes the allocator and allocates, in one write
    /// transaction, an id for every caller queued at that moment, repeating until the queue is
    /// empty. The ids stay distinct and increasing in queue order; 100 concurrent requests then
    /// cost a few transactions instead of 100, and a lone caller pays nothing extra.
    ///
    /// If the allocator's future is dropped mid-way, every caller it was serving or had queued
    /// sees its channel close and queues again (ids allocated for them are skipped: gaps are
    /// harmless, reuse would not be).
    async fn own_id(&self, client: &Arc<ClientInner>) -> Result<i64, String> {
        loop {
            let (sender, receiver) = oneshot::channel();
            let lead = {
                let mut queue = self.id_queue.lock();
                queue.waiting.push(sender);
                !std::mem::replace(&mut queue.allocating, true)
            };
            if lead {
                let mut guard = AllocatorGuard(Some(self));
                self.allocate_queued(client).await;
                guard.0 = None;
            }
            if let Ok(result) = receiver.await {
                return result;
            }
        }
    }

    /// Serves the queue until it is empty, then hands the allocator role back.
    async fn allocate_queued(&self, client: &Arc<ClientInner>) {
        loop {
            let group = {
                let mut queue = self.id_queue.lock();
                if queue.waiting.is_empty() {
                    queue.allocating = false;
                    return;
                }
                std::mem::take(&mut queue.waiting)
            };
            let count = group.len();
            match blocking(&client.db, move |db| engine_calls::next_ids(db, count)).await {
                Ok(ids) => {
                    for (waiter, id) in group.into_iter().zip(ids) {
                        let _ = waiter.send(Ok(id));
                    }
                }
                Err(error) => {
                    let message = error.to_string();
                    for waiter in group {
                        let _ = waiter.send(Err(message.clone()));
                    }
                }
            }
        }
    }
}

/// What the checkpoint request POSTs of one session have covered so far. Lives inside
/// [`Allocator::posted`], so it is only read or changed by the caller holding that lock.
#[derive(Debug, Default)]
pub(crate) struct PostedCoverage {
    /// The highest counter value a fresh (non-stale) POST of this session carried: every id
    /// allocated before that POST read the counter is at most this value.
    posted_max: Option<i64>,
    /// The latest round answered with a stale id: the highest counter value it carried, and
    /// the re-posted id the callers it covered must wait for instead of their own.
    stale: Option<(i64, i64)>,
}

impl PostedCoverage {
    /// The id a caller holding `id` should wait for if a finished POST already covers it.
    fn binding_for(&self, id: i64) -> Option<i64> {
        if self.posted_max.is_none_or(|posted| posted < id) {
            return None;
        }
        match self.stale {
            // Conservative: any stale round reaching this id may be the one that covered it,
            // and its re-posted id (posted after this id was allocated) is always safe.
            Some((stale_upper, reposted)) if stale_upper >= id => Some(reposted.max(id)),
            _ => Some(id),
        }
    }
}

/// Callers waiting for an id, and whether a task is allocating for them.
#[derive(Default)]
pub(crate) struct IdQueue {
    waiting: Vec<oneshot::Sender<Result<i64, String>>>,
    allocating: bool,
}

/// Releases the allocator role if the allocating caller's future is dropped.
struct AllocatorGuard<'a>(Option<&'a Allocator>);

impl Drop for AllocatorGuard<'_> {
    fn drop(&mut self) {
        if let Some(allocator) = self.0 {
            // Closing the queued callers' channels makes them queue again, and one of them
            // takes over as allocator.
            let stranded = {
                let mut queue = allocator.id_queue.lock();
                queue.allocating = false;
                std::mem::take(&mut queue.waiting)
            };
            drop(stranded);
        }
    }
}

/// One checkpoint request POST for `id`, timed for [`super::CheckpointTimings`].
async fn post(
    service: &ServiceClient,
    client: &ClientInner,
    id: i64,
) -> Result<i64, CheckpointError> {
    let sent = client.clock.now();
    let answer = service.post_own_checkpoint_request(id).await;
    {
        let mut timings = client.checkpoint_timings.lock();
        timings.posted_id = Some(id);
        timings.post_sent = Some(sent);
        timings.post_answered = Some(client.clock.now());
    }
    answer.map_err(|failure| match failure {
        HttpFailure::Unauthorized(message) => CheckpointError::Unauthenticated(message),
        HttpFailure::NotFound(_) => CheckpointError::NotSupported,
        HttpFailure::Credentials(error) => CheckpointError::Failed(error.to_string()),
        HttpFailure::Other(message) | HttpFailure::Network(message) => {
            CheckpointError::Failed(message)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalesced_ids_covered_by_a_fresh_post_keep_their_own_id() {
        let mut coverage = PostedCoverage::default();
        assert_eq!(coverage.binding_for(1), None);
        coverage.posted_max = Some(10);
        assert_eq!(coverage.binding_for(7), Some(7));
        assert_eq!(coverage.binding_for(10), Some(10));
        assert_eq!(coverage.binding_for(11), None);
    }

    #[test]
    fn ids_covered_by_a_stale_round_bind_to_the_reposted_id() {
        let coverage = PostedCoverage {
            posted_max: Some(21),
            stale: Some((10, 21)),
        };
        assert_eq!(coverage.binding_for(4), Some(21));
        assert_eq!(coverage.binding_for(10), Some(21));
        // Allocated after the stale round read the counter: the re-post covered it freshly.
        assert_eq!(coverage.binding_for(15), Some(15));
        assert_eq!(coverage.binding_for(22), None);
    }
}
