// SPDX-License-Identifier: Apache-2.0
//! `request_checkpoint()` and [`CheckpointRequest`] (client-state-machine.md §9); the
//! per-session id allocation is in [`allocator`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

mod allocator;

pub(crate) use allocator::{Allocator, SeedState};

use super::clock;
use super::http::ServiceClient;
use super::{ClientInner, Lifecycle};

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
            Some(limit) => clock::timeout(&*self.client.clock, limit, self.wait())
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

/// `request_checkpoint()` on the active session's allocator.
pub(crate) async fn request(
    client: &Arc<ClientInner>,
    checkpoints: &Allocator,
    service: &ServiceClient,
) -> Result<CheckpointRequest, CheckpointError> {
    if *client.lifecycle.borrow() == Lifecycle::Closed {
        return Err(CheckpointError::Closed);
    }
    if !checkpoints.enabled() {
        return Err(CheckpointError::NotSupported);
    }
    let id = checkpoints.allocate(service, client).await?;
    Ok(CheckpointRequest {
        id,
        synced: AtomicBool::new(false),
        client: Arc::clone(client),
    })
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
