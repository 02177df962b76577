// SPDX-License-Identifier: Apache-2.0
//! `request_checkpoint()` and [`CheckpointRequest`] (client-state-machine.md §9).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::http::{self, HttpFailure};
use super::session::{SeedState, SessionShared};
use super::{ClientInner, Lifecycle, blocking, engine_calls};

/// Why a checkpoint request could not be made or waited for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointError {
    /// No `connect()` is active (or `disconnect()` was called while waiting).
    NotConnected,
    /// The service does not support checkpoint requests (404), or the client was connected
    /// in legacy mode.
    NotSupported,
    /// The service rejected the credentials (they were invalidated).
    Unauthenticated(String),
    /// `wait_for_sync` timed out; the request stays valid.
    Timeout,
    /// The database was closed.
    Closed,
    /// Sync reported an error while waiting (download or upload error).
    SyncError(String),
    /// The request failed (network, other HTTP status, malformed or stale answer).
    Failed(String),
}

impl std::fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckpointError::NotConnected => f.write_str("not connected"),
            CheckpointError::NotSupported => {
                f.write_str("the sync service does not support checkpoint requests")
            }
            CheckpointError::Unauthenticated(m) => write!(f, "unauthenticated: {m}"),
            CheckpointError::Timeout => f.write_str("timed out waiting for the checkpoint"),
            CheckpointError::Closed => f.write_str("the database was closed"),
            CheckpointError::SyncError(m) => write!(f, "sync error while waiting: {m}"),
            CheckpointError::Failed(m) => write!(f, "checkpoint request failed: {m}"),
        }
    }
}

impl std::error::Error for CheckpointError {}

/// Timestamps of the latest checkpoint request round, so a benchmark can split
/// `request_checkpoint()` → synced into the POST, the service's wait and the client's own
/// work. Recorded by copying a few values under a lock, no allocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckpointTimings {
    /// Id carried by the latest `POST /sync/checkpoint-request` of `request_checkpoint()`.
    pub posted_id: Option<i64>,
    /// When that POST was sent.
    pub post_sent: Option<Instant>,
    /// When its answer was read.
    pub post_answered: Option<Instant>,
    /// Checkpoint request id of the latest applied checkpoint that carried one.
    pub applied_id: Option<i64>,
    /// When the sync client took the network chunk holding the line that completed that
    /// checkpoint off the stream (later than its arrival only if the client was busy).
    pub lines_received: Option<Instant>,
    /// When the write transaction applying it returned, before the status was published.
    pub applied: Option<Instant>,
}

/// A checkpoint the service acknowledged; synced once a checkpoint including it was applied.
pub struct CheckpointRequest {
    id: i64,
    synced: AtomicBool,
    client: Arc<ClientInner>,
}

impl std::fmt::Debug for CheckpointRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointRequest")
            .field("id", &self.id)
            .field("synced", &self.is_synced())
            .finish()
    }
}

impl CheckpointRequest {
    /// The id the service accepted.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Whether a checkpoint including this request was applied locally. Latches: once true it
    /// stays true even if the status later forgets the applied id.
    pub fn is_synced(&self) -> bool {
        if self.synced.load(Ordering::Acquire) {
            return true;
        }
        if self.client.max_applied.load(Ordering::Acquire) >= self.id {
            self.synced.store(true, Ordering::Release);
            return true;
        }
        false
    }

    /// Waits until synced. Fails fast with [`CheckpointError::SyncError`] when the status shows
    /// a download or upload error, with [`CheckpointError::NotConnected`] after
    /// `disconnect()`, [`CheckpointError::Closed`] after `close()`, and
    /// [`CheckpointError::Timeout`] after `timeout` (a zero timeout fails unless synced).
    pub async fn wait_for_sync(&self, timeout: Option<Duration>) -> Result<(), CheckpointError> {
        if self.is_synced() {
            return Ok(());
        }
        match timeout {
            Some(limit) if limit.is_zero() => Err(CheckpointError::Timeout),
            Some(limit) => tokio::time::timeout(limit, self.wait())
                .await
                .unwrap_or(Err(CheckpointError::Timeout)),
            None => self.wait().await,
        }
    }

    async fn wait(&self) -> Result<(), CheckpointError> {
        let mut status = self.client.status.subscribe();
        let mut lifecycle = self.client.lifecycle.subscribe();
        loop {
            if self.is_synced() {
                return Ok(());
            }
            if let Some(error) = status.borrow_and_update().any_error() {
                return Err(CheckpointError::SyncError(error.to_owned()));
            }
            match *lifecycle.borrow_and_update() {
                Lifecycle::Connected => {}
                Lifecycle::Idle => return Err(CheckpointError::NotConnected),
                Lifecycle::Closed => return Err(CheckpointError::Closed),
            }
            tokio::select! {
                changed = status.changed() => if changed.is_err() { return Err(CheckpointError::Closed) },
                changed = lifecycle.changed() => if changed.is_err() { return Err(CheckpointError::Closed) },
            }
        }
    }
}

/// `request_checkpoint()`.
pub(crate) async fn request(
    client: &Arc<ClientInner>,
) -> Result<CheckpointRequest, CheckpointError> {
    if *client.lifecycle.borrow() == Lifecycle::Closed {
        return Err(CheckpointError::Closed);
    }
    let shared = client
        .current
        .lock()
        .clone()
        .ok_or(CheckpointError::NotConnected)?;
    if shared.options.checkpoint_mode != super::CheckpointMode::Requests {
        return Err(CheckpointError::NotSupported);
    }
    let id = allocate(&shared, client).await?;
    Ok(CheckpointRequest {
        id,
        synced: AtomicBool::new(false),
        client: Arc::clone(client),
    })
}

/// What the checkpoint request POSTs of one session have covered so far. Lives inside
/// `SessionShared::allocation`, so it is only read or changed by the caller holding that lock.
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

/// Allocates a checkpoint request id and makes sure a POST covers it, coalescing the POSTs of
/// concurrent callers (client-state-machine.md §9; stale answers §5.2).
///
/// Each caller first allocates its own id (distinct and increasing: the engine counter is
/// bumped in a write transaction), then takes `shared.allocation`. Under the lock:
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
    shared: &Arc<SessionShared>,
    client: &Arc<ClientInner>,
) -> Result<i64, CheckpointError> {
    let id = allocate_own_id(shared, client).await?;
    let mut coverage = shared.allocation.lock().await;
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
    let accepted = post(shared, client, upper).await?;
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
    let reposted = post(shared, client, retry).await?;
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
async fn allocate_own_id(
    shared: &Arc<SessionShared>,
    client: &Arc<ClientInner>,
) -> Result<i64, CheckpointError> {
    // The iteration can end between the seed check and the allocation; then wait again.
    for _ in 0..5 {
        let mut seed = shared.seed.subscribe();
        let state = *seed
            .wait_for(|s| *s != SeedState::Waiting)
            .await
            .map_err(|_| CheckpointError::NotConnected)?;
        match state {
            SeedState::Seeded => {}
            SeedState::Unsupported => return Err(CheckpointError::NotSupported),
            SeedState::Ended | SeedState::Waiting => return Err(CheckpointError::NotConnected),
        }
        match own_id(shared, client).await {
            Ok(allocated) => return Ok(allocated),
            Err(_) if *shared.seed.borrow() != SeedState::Seeded => continue,
            Err(error) => return Err(CheckpointError::Failed(error)),
        }
    }
    Err(CheckpointError::NotConnected)
}

/// Callers waiting for an id, and whether a task is allocating for them.
#[derive(Default)]
pub(crate) struct IdQueue {
    waiting: Vec<oneshot::Sender<Result<i64, String>>>,
    allocating: bool,
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
async fn own_id(shared: &Arc<SessionShared>, client: &Arc<ClientInner>) -> Result<i64, String> {
    loop {
        let (sender, receiver) = oneshot::channel();
        let lead = {
            let mut queue = shared.id_queue.lock();
            queue.waiting.push(sender);
            !std::mem::replace(&mut queue.allocating, true)
        };
        if lead {
            let mut guard = AllocatorGuard(Some(shared));
            allocate_queued(shared, client).await;
            guard.0 = None;
        }
        if let Ok(result) = receiver.await {
            return result;
        }
    }
}

/// Serves the queue until it is empty, then hands the allocator role back.
async fn allocate_queued(shared: &SessionShared, client: &Arc<ClientInner>) {
    loop {
        let group = {
            let mut queue = shared.id_queue.lock();
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

/// Releases the allocator role if the allocating caller's future is dropped.
struct AllocatorGuard<'a>(Option<&'a SessionShared>);

impl Drop for AllocatorGuard<'_> {
    fn drop(&mut self) {
        if let Some(shared) = self.0 {
            // Closing the queued callers' channels makes them queue again, and one of them
            // takes over as allocator.
            let stranded = {
                let mut queue = shared.id_queue.lock();
                queue.allocating = false;
                std::mem::take(&mut queue.waiting)
            };
            drop(stranded);
        }
    }
}

async fn post(
    shared: &Arc<SessionShared>,
    client: &ClientInner,
    id: i64,
) -> Result<i64, CheckpointError> {
    let credentials = shared
        .credentials()
        .await
        .map_err(|e| CheckpointError::Failed(e.to_string()))?;
    let sent = Instant::now();
    let answer =
        http::post_checkpoint_request(&shared.http, &credentials, &shared.client_id, id).await;
    {
        let mut timings = client.checkpoint_timings.lock();
        timings.posted_id = Some(id);
        timings.post_sent = Some(sent);
        timings.post_answered = Some(Instant::now());
    }
    match answer {
        Ok(accepted) => Ok(accepted),
        Err(HttpFailure::Unauthorized(message)) => {
            shared.invalidate_credentials();
            Err(CheckpointError::Unauthenticated(message))
        }
        Err(HttpFailure::NotFound(_)) => Err(CheckpointError::NotSupported),
        Err(HttpFailure::Other(message) | HttpFailure::Network(message)) => {
            Err(CheckpointError::Failed(message))
        }
    }
}

#[cfg(test)]
mod tests {
    //! Scenario L (124–130) as unit tests: no network, the status is driven directly.
    use super::*;
    use crate::Database;
    use crate::client::SyncDatabase;

    fn request_for(db: &SyncDatabase, id: i64) -> CheckpointRequest {
        CheckpointRequest {
            id,
            synced: AtomicBool::new(false),
            client: Arc::clone(&db.inner),
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
    }

    fn connected_db() -> SyncDatabase {
        let db = SyncDatabase::new(Database::open_in_memory().expect("db"));
        db.inner.lifecycle.send_replace(Lifecycle::Connected);
        db
    }

    #[test]
    fn l124_already_synced_returns_immediately_even_with_zero_timeout() {
        let db = connected_db();
        db.inner.record_applied(5);
        let request = request_for(&db, 5);
        assert!(request.is_synced());
        runtime().block_on(async {
            assert_eq!(request.wait_for_sync(Some(Duration::ZERO)).await, Ok(()));
            assert_eq!(request.wait_for_sync(None).await, Ok(()));
        });
    }

    #[test]
    fn l125_l126_timeout_then_later_apply_still_syncs() {
        let db = connected_db();
        let request = request_for(&db, 7);
        runtime().block_on(async {
            assert_eq!(
                request.wait_for_sync(Some(Duration::ZERO)).await,
                Err(CheckpointError::Timeout)
            );
            assert_eq!(
                request.wait_for_sync(Some(Duration::from_millis(20))).await,
                Err(CheckpointError::Timeout)
            );
        });
        db.inner.record_applied(8);
        assert!(request.is_synced());
    }

    #[test]
    fn l127_error_present_or_appearing_fails_the_wait() {
        let db = connected_db();
        db.inner
            .status
            .update(|s| s.upload_error = Some("boom".into()));
        let request = request_for(&db, 3);
        runtime().block_on(async {
            assert_eq!(
                request.wait_for_sync(None).await,
                Err(CheckpointError::SyncError("boom".into()))
            );
        });
        db.inner.status.update(|s| s.upload_error = None);
        let inner = Arc::clone(&db.inner);
        let result = runtime().block_on(async {
            let setter = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                inner
                    .status
                    .update(|s| s.download_error = Some("stream broke".into()));
            });
            let result = request.wait_for_sync(Some(Duration::from_secs(5))).await;
            let _ = setter.await;
            result
        });
        assert_eq!(
            result,
            Err(CheckpointError::SyncError("stream broke".into()))
        );
    }

    #[test]
    fn l128_closed_and_disconnected_end_the_wait() {
        let db = connected_db();
        let request = request_for(&db, 3);
        db.inner.lifecycle.send_replace(Lifecycle::Idle);
        runtime().block_on(async {
            assert_eq!(
                request.wait_for_sync(None).await,
                Err(CheckpointError::NotConnected)
            );
        });
        db.inner.lifecycle.send_replace(Lifecycle::Closed);
        runtime().block_on(async {
            assert_eq!(
                request.wait_for_sync(None).await,
                Err(CheckpointError::Closed)
            );
        });
    }

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

    #[test]
    fn l130_synced_latches_after_the_status_forgets() {
        let db = connected_db();
        let request = request_for(&db, 4);
        db.inner.record_applied(4);
        assert!(request.is_synced());
        // disconnect_and_clear resets the client's applied id; the request stays synced.
        db.inner.max_applied.store(i64::MIN, Ordering::Release);
        assert!(request.is_synced());
    }
}
