// SPDX-License-Identifier: Apache-2.0
//! The public [`SyncStatus`] (client-state-machine.md §8) and its listeners.
//!
//! The status lives in a `tokio::sync::watch` channel; callback listeners are called after
//! every change on the thread that made it, with no lock held.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tokio::sync::watch;

/// Priority of the entry that describes a complete sync.
pub const FULL_SYNC_PRIORITY: i32 = 2_147_483_647;

/// Sync state of one bucket priority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorityStatus {
    /// Bucket priority (0 = highest).
    pub priority: i32,
    /// Microseconds since the epoch of the last complete sync at this priority.
    pub last_synced_at: Option<i64>,
    /// Whether this priority ever completed a sync.
    pub has_synced: Option<bool>,
}

/// Download progress of the checkpoint being downloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DownloadProgress {
    /// Operations downloaded so far for this checkpoint.
    pub downloaded: i64,
    /// Operations the checkpoint contains in total.
    pub total: i64,
}

/// Sync state of one stream subscription (explicit, default, or both), as of the last
/// checkpoint or connect.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncStreamStatus {
    /// Stream name.
    pub name: String,
    /// Subscription parameters (`None` without).
    pub parameters: Option<serde_json::Value>,
    /// The latest checkpoint includes the stream.
    pub active: bool,
    /// The service syncs it by default (an auto-subscribed stream).
    pub is_default: bool,
    /// The app subscribed to it (and has not unsubscribed all, nor let the TTL expire).
    pub has_explicit_subscription: bool,
    /// When the explicit subscription expires unless held or renewed (µs since the epoch).
    pub expires_at: Option<i64>,
    /// When its data was last applied (µs since the epoch).
    pub last_synced_at: Option<i64>,
    /// Priority its data completes at (the lowest of its buckets), when known.
    pub priority: Option<i32>,
    /// Progress over its buckets while a checkpoint is downloaded (zero otherwise).
    pub progress: DownloadProgress,
}

impl SyncStreamStatus {
    /// Whether its data was synced at least once.
    pub fn has_synced(&self) -> bool {
        self.last_synced_at.is_some()
    }
}

impl From<crate::storage::sync::types::StreamStatus> for SyncStreamStatus {
    fn from(s: crate::storage::sync::types::StreamStatus) -> Self {
        SyncStreamStatus {
            parameters: s
                .parameters
                .and_then(|p| serde_json::from_str(p.get()).ok())
                .filter(|p: &serde_json::Value| !p.is_null()),
            name: s.name,
            active: s.active,
            is_default: s.is_default,
            has_explicit_subscription: s.has_explicit_subscription,
            expires_at: s.expires_at,
            last_synced_at: s.last_synced_at,
            priority: s.priority,
            progress: DownloadProgress {
                downloaded: s.progress.downloaded,
                total: s.progress.total,
            },
        }
    }
}

/// What the app sees of the sync client.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SyncStatus {
    /// A sync stream is open.
    pub connected: bool,
    /// Trying to (re)connect.
    pub connecting: bool,
    /// A checkpoint is being downloaded.
    pub downloading: bool,
    /// Progress of that download, per bucket summed.
    pub download_progress: Option<DownloadProgress>,
    /// `upload_data` is running.
    pub uploading: bool,
    /// Last complete sync (µs since the epoch).
    pub last_synced_at: Option<i64>,
    /// Whether a complete sync ever happened; `None` until known.
    pub has_synced: Option<bool>,
    /// Per-priority entries, ascending priority number.
    pub priority_status: Vec<PriorityStatus>,
    /// Why the last sync iteration failed; cleared on the next completed sync.
    pub download_error: Option<String>,
    /// Why the last upload round failed; cleared after the next successful round.
    pub upload_error: Option<String>,
    /// Highest checkpoint request id applied by the latest checkpoint (from the engine).
    pub last_applied_checkpoint_request_id: Option<i64>,
    /// The service answered 404 to checkpoint requests during this `connect()`; uploads use
    /// the legacy write-checkpoint endpoint.
    pub checkpoint_requests_unsupported: bool,
    /// Stream subscriptions (explicit and default) in subscription order.
    pub streams: Vec<SyncStreamStatus>,
}

impl SyncStatus {
    /// `download_error` or else `upload_error`.
    pub fn any_error(&self) -> Option<&str> {
        self.download_error
            .as_deref()
            .or(self.upload_error.as_deref())
    }

    /// The first entry whose priority number is ≥ `priority`, else the full-sync entry.
    pub fn status_for_priority(&self, priority: i32) -> PriorityStatus {
        self.priority_status
            .iter()
            .find(|entry| entry.priority >= priority)
            .cloned()
            .unwrap_or(PriorityStatus {
                priority,
                last_synced_at: self.last_synced_at,
                has_synced: self.has_synced,
            })
    }

    /// The entry of stream `name` with `parameters` (`None` or JSON `null` = without).
    pub fn for_stream(
        &self,
        name: &str,
        parameters: Option<&serde_json::Value>,
    ) -> Option<&SyncStreamStatus> {
        let parameters = parameters.filter(|p| !p.is_null());
        self.streams
            .iter()
            .find(|s| s.name == name && s.parameters.as_ref() == parameters)
    }

    /// Copies the engine-owned fields from `priority_status` (last sync, has-synced).
    pub(crate) fn apply_priorities(&mut self, mut entries: Vec<PriorityStatus>) {
        entries.sort_by_key(|e| e.priority);
        match entries.iter().find(|e| e.priority == FULL_SYNC_PRIORITY) {
            Some(full) => {
                self.last_synced_at = full.last_synced_at;
                self.has_synced = Some(full.has_synced.unwrap_or(full.last_synced_at.is_some()));
            }
            None => {
                self.last_synced_at = None;
                self.has_synced = Some(false);
            }
        }
        self.priority_status = entries;
    }

    /// A one-line summary for logs and the demo (no row data, no tokens).
    pub fn summary(&self) -> String {
        let mut flags = Vec::new();
        if self.connected {
            flags.push("connected".to_owned());
        } else if self.connecting {
            flags.push("connecting".to_owned());
        } else {
            flags.push("disconnected".to_owned());
        }
        if self.downloading {
            match self.download_progress {
                Some(p) => flags.push(format!("downloading {}/{}", p.downloaded, p.total)),
                None => flags.push("downloading".to_owned()),
            }
        }
        if self.uploading {
            flags.push("uploading".to_owned());
        }
        match self.has_synced {
            Some(true) => flags.push("synced".to_owned()),
            Some(false) => flags.push("never synced".to_owned()),
            None => {}
        }
        if let Some(id) = self.last_applied_checkpoint_request_id {
            flags.push(format!("applied checkpoint request {id}"));
        }
        if self.checkpoint_requests_unsupported {
            flags.push("legacy write checkpoints".to_owned());
        }
        if let Some(e) = &self.download_error {
            flags.push(format!("download error: {e}"));
        }
        if let Some(e) = &self.upload_error {
            flags.push(format!("upload error: {e}"));
        }
        flags.join(", ")
    }
}

type StatusCallback = Arc<dyn Fn(&SyncStatus) + Send + Sync>;

#[derive(Default)]
struct Listeners {
    next_id: u64,
    callbacks: BTreeMap<u64, StatusCallback>,
}

/// Owns the current status and fans changes out.
pub(crate) struct StatusHub {
    sender: watch::Sender<SyncStatus>,
    listeners: Arc<Mutex<Listeners>>,
    /// Serialises updates so listeners see them in order; never held while calling out.
    update_lock: Mutex<()>,
}

impl StatusHub {
    pub(crate) fn new() -> Self {
        Self {
            sender: watch::Sender::new(SyncStatus::default()),
            listeners: Arc::default(),
            update_lock: Mutex::new(()),
        }
    }

    pub(crate) fn current(&self) -> SyncStatus {
        self.sender.borrow().clone()
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<SyncStatus> {
        self.sender.subscribe()
    }

    /// Applies `change`; listeners run afterwards if anything changed.
    pub(crate) fn update(&self, change: impl FnOnce(&mut SyncStatus)) {
        let snapshot = {
            let _order = self.update_lock.lock();
            let mut changed = None;
            self.sender.send_if_modified(|status| {
                let before = status.clone();
                change(status);
                if *status != before {
                    changed = Some(status.clone());
                    true
                } else {
                    false
                }
            });
            changed
        };
        if let Some(status) = snapshot {
            let callbacks: Vec<_> = self.listeners.lock().callbacks.values().cloned().collect();
            for callback in callbacks {
                callback(&status);
            }
        }
    }

    pub(crate) fn add_listener(
        &self,
        callback: Box<dyn Fn(&SyncStatus) + Send + Sync>,
    ) -> StatusListenerHandle {
        let callback: StatusCallback = Arc::from(callback);
        let id = {
            let mut listeners = self.listeners.lock();
            let id = listeners.next_id;
            listeners.next_id += 1;
            listeners.callbacks.insert(id, Arc::clone(&callback));
            id
        };
        let current = self.current();
        callback(&current);
        StatusListenerHandle {
            listeners: Arc::downgrade(&self.listeners),
            id,
        }
    }
}

/// Keeps a status listener registered; dropping it (or [`StatusListenerHandle::cancel`])
/// unregisters it.
pub struct StatusListenerHandle {
    listeners: Weak<Mutex<Listeners>>,
    id: u64,
}

impl StatusListenerHandle {
    /// Unregisters the listener now.
    pub fn cancel(self) {}
}

impl Drop for StatusListenerHandle {
    fn drop(&mut self) {
        if let Some(listeners) = self.listeners.upgrade() {
            let removed = listeners.lock().callbacks.remove(&self.id);
            drop(removed);
        }
    }
}

impl std::fmt::Debug for StatusListenerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusListenerHandle")
            .field("id", &self.id)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn listener_gets_current_status_first_and_stops_after_cancel() {
        let hub = StatusHub::new();
        hub.update(|s| s.connecting = true);
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&calls);
        let handle = hub.add_listener(Box::new(move |s| seen.lock().push(s.connecting)));
        hub.update(|s| s.connecting = false);
        hub.update(|s| s.connecting = false); // no change, no call
        handle.cancel();
        hub.update(|s| s.connecting = true);
        assert_eq!(*calls.lock(), vec![true, false]);
    }

    #[test]
    fn listener_may_read_status_without_deadlock() {
        let hub = Arc::new(StatusHub::new());
        let count = Arc::new(AtomicUsize::new(0));
        let (hub2, count2) = (Arc::clone(&hub), Arc::clone(&count));
        let _handle = hub.add_listener(Box::new(move |_| {
            let _ = hub2.current();
            count2.fetch_add(1, Ordering::SeqCst);
        }));
        hub.update(|s| s.uploading = true);
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn priority_entries_fill_last_synced_and_lookup() {
        let mut status = SyncStatus::default();
        status.apply_priorities(vec![
            PriorityStatus {
                priority: FULL_SYNC_PRIORITY,
                last_synced_at: Some(5),
                has_synced: Some(true),
            },
            PriorityStatus {
                priority: 1,
                last_synced_at: Some(7),
                has_synced: Some(true),
            },
        ]);
        assert_eq!(status.last_synced_at, Some(5));
        assert_eq!(status.has_synced, Some(true));
        assert_eq!(status.status_for_priority(0).priority, 1);
        assert_eq!(status.status_for_priority(2).priority, FULL_SYNC_PRIORITY);
        status.download_error = None;
        status.upload_error = Some("x".into());
        assert_eq!(status.any_error(), Some("x"));
    }
}
