// SPDX-License-Identifier: Apache-2.0
//! The public sync status (client-state-machine.md §8) and its publisher.
//!
//! The status lives in a `tokio::sync::watch` channel. Listeners run on their own task and
//! get a clone of each status, so no lock is held while app code runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::sync::{CoreSyncStatus, DownloadProgress, FULL_SYNC_PRIORITY, PriorityStatusEntry};

/// Snapshot of the sync state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SyncStatus {
    /// A sync stream response is being received.
    pub connected: bool,
    /// A connection is being opened (or retried).
    pub connecting: bool,
    /// A checkpoint is being downloaded.
    pub downloading: bool,
    /// Progress of that download.
    pub download_progress: Option<DownloadProgress>,
    /// Local writes are being uploaded.
    pub uploading: bool,
    /// When the last full sync completed (µs since the epoch).
    pub last_synced_at: Option<i64>,
    /// Whether a full sync ever completed; `None` until the status was loaded.
    pub has_synced: Option<bool>,
    /// Why the last sync iteration failed (cleared by the next complete sync).
    pub download_error: Option<String>,
    /// Why the last upload round failed (cleared by the next successful round).
    pub upload_error: Option<String>,
    /// Per-priority state, increasing priority number (full sync last).
    pub priority_status: Vec<PriorityStatusEntry>,
    /// Stream subscription status objects as reported by the engine.
    pub streams: Vec<serde_json::Value>,
    /// Checkpoint request id applied by the latest complete sync of this connection.
    pub last_applied_checkpoint_request_id: Option<i64>,
    /// `Some(false)` when the service answered 404 to checkpoint requests in this session.
    pub checkpoint_requests_supported: Option<bool>,
}

impl SyncStatus {
    /// `download_error`, else `upload_error`.
    pub fn any_error(&self) -> Option<&str> {
        self.download_error
            .as_deref()
            .or(self.upload_error.as_deref())
    }

    /// The state of priority `priority`: the first entry whose number is ≥ `priority`, else
    /// the full-sync state.
    pub fn status_for_priority(&self, priority: i32) -> PriorityStatusEntry {
        self.priority_status
            .iter()
            .find(|e| e.priority >= priority)
            .cloned()
            .unwrap_or(PriorityStatusEntry {
                priority,
                last_synced_at: self.last_synced_at,
                has_synced: self.has_synced,
            })
    }

    /// Replaces the engine-owned fields with `core`.
    pub(crate) fn apply_core(&mut self, core: &CoreSyncStatus) {
        self.connected = core.connected;
        self.connecting = core.connecting;
        self.downloading = core.downloading.is_some();
        self.download_progress = core.downloading.clone();
        self.priority_status = core.priority_status.clone();
        self.streams = core.streams.clone();
        self.last_applied_checkpoint_request_id = core.internal_last_applied_checkpoint_request_id;
        let full = core
            .priority_status
            .iter()
            .find(|e| e.priority == FULL_SYNC_PRIORITY);
        self.last_synced_at = full.and_then(|e| e.last_synced_at);
        self.has_synced = Some(full.is_some_and(|e| e.has_synced.unwrap_or(false)));
    }
}

/// Publishes statuses; shared by the driver, the upload loop and the public API.
#[derive(Debug)]
pub(crate) struct StatusHub {
    tx: watch::Sender<SyncStatus>,
    /// Highest checkpoint request id seen in a `DidCompleteSync` (latches `is_synced`; the
    /// status field itself is cleared on disconnects).
    applied_high_water: AtomicI64,
}

impl StatusHub {
    pub(crate) fn new(initial: SyncStatus) -> Self {
        Self {
            tx: watch::channel(initial).0,
            applied_high_water: AtomicI64::new(0),
        }
    }

    pub(crate) fn current(&self) -> SyncStatus {
        self.tx.borrow().clone()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<SyncStatus> {
        self.tx.subscribe()
    }

    /// Edits the status; subscribers are woken only when something changed.
    pub(crate) fn update(&self, edit: impl FnOnce(&mut SyncStatus)) {
        self.tx.send_if_modified(|s| {
            let before = s.clone();
            edit(s);
            *s != before
        });
    }

    pub(crate) fn record_applied(&self, id: i64) {
        self.applied_high_water.fetch_max(id, Ordering::SeqCst);
        // Wake waiters even when the status itself did not change.
        self.tx.send_modify(|_| {});
    }

    pub(crate) fn applied_high_water(&self) -> i64 {
        self.applied_high_water.load(Ordering::SeqCst)
    }
}

/// Registration of a status or change listener; cancelled by [`ListenerHandle::cancel`] or
/// on drop.
#[derive(Debug)]
pub struct ListenerHandle {
    task: AbortHandle,
}

impl ListenerHandle {
    pub(crate) fn new(task: AbortHandle) -> Self {
        Self { task }
    }

    /// Stops delivering updates.
    pub fn cancel(&self) {
        self.task.abort();
    }
}

impl Drop for ListenerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Calls `listener` with the current status, then with every change, on a task of `runtime`.
pub(crate) fn spawn_listener(
    runtime: &tokio::runtime::Handle,
    mut rx: watch::Receiver<SyncStatus>,
    listener: Arc<dyn Fn(&SyncStatus) + Send + Sync>,
) -> ListenerHandle {
    let task = runtime.spawn(async move {
        loop {
            // Clone, then release the channel's read lock before calling app code.
            let status = rx.borrow_and_update().clone();
            listener(&status);
            if rx.changed().await.is_err() {
                break;
            }
        }
    });
    ListenerHandle::new(task.abort_handle())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core_with_full_sync() -> CoreSyncStatus {
        CoreSyncStatus {
            connected: true,
            priority_status: vec![
                PriorityStatusEntry {
                    priority: 1,
                    last_synced_at: Some(5),
                    has_synced: Some(true),
                },
                PriorityStatusEntry {
                    priority: FULL_SYNC_PRIORITY,
                    last_synced_at: Some(3),
                    has_synced: Some(true),
                },
            ],
            internal_last_applied_checkpoint_request_id: Some(7),
            ..CoreSyncStatus::default()
        }
    }

    #[test]
    fn core_status_fills_derived_fields() {
        let mut s = SyncStatus::default();
        s.apply_core(&core_with_full_sync());
        assert!(s.connected);
        assert_eq!(s.last_synced_at, Some(3));
        assert_eq!(s.has_synced, Some(true));
        assert_eq!(s.last_applied_checkpoint_request_id, Some(7));
        assert_eq!(s.status_for_priority(0).priority, 1);
        assert_eq!(s.status_for_priority(2).priority, FULL_SYNC_PRIORITY);
    }

    #[test]
    fn any_error_prefers_download_error() {
        let s = SyncStatus {
            upload_error: Some("u".into()),
            download_error: Some("d".into()),
            ..SyncStatus::default()
        };
        assert_eq!(s.any_error(), Some("d"));
        let s = SyncStatus {
            upload_error: Some("u".into()),
            ..SyncStatus::default()
        };
        assert_eq!(s.any_error(), Some("u"));
    }

    #[test]
    fn update_without_change_does_not_wake() {
        let hub = StatusHub::new(SyncStatus::default());
        let mut rx = hub.subscribe();
        rx.borrow_and_update();
        hub.update(|s| s.uploading = false);
        assert!(!rx.has_changed().unwrap_or(true));
        hub.update(|s| s.uploading = true);
        assert!(rx.has_changed().unwrap_or(false));
    }

    #[tokio::test]
    async fn listener_gets_current_status_first_then_changes() {
        let hub = StatusHub::new(SyncStatus::default());
        let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let sink = seen.clone();
        let handle = spawn_listener(
            &tokio::runtime::Handle::current(),
            hub.subscribe(),
            Arc::new(move |s: &SyncStatus| sink.lock().push(s.uploading)),
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        hub.update(|s| s.uploading = true);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        handle.cancel();
        hub.update(|s| s.uploading = false);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert_eq!(*seen.lock(), vec![false, true]);
    }
}
