// SPDX-License-Identifier: Apache-2.0
//! State of one `connect()` session shared by the download driver, the upload loop and
//! `request_checkpoint`: credential cache, seed state, command channel, tasks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::connector::{BackendConnector, Credentials, SyncOptions};
use crate::db::TableListenerHandle;
use crate::sync::SyncCommand;

/// Whether checkpoint request ids may be allocated in the current iteration (§5.2 step 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeedState {
    /// No iteration, or the current one has not reconciled its id yet.
    Pending,
    /// The current iteration was seeded; ids may be allocated.
    Seeded,
    /// Legacy mode (configured, or the service answered 404): no checkpoint requests.
    Legacy,
    /// The session ended.
    Ended,
}

pub(crate) struct Session {
    pub(crate) connector: Arc<dyn BackendConnector>,
    pub(crate) options: SyncOptions,
    pub(crate) cancel: CancellationToken,
    credentials: Mutex<Option<Credentials>>,
    /// Set when the service rejected the credentials; the connector's
    /// `invalidate_credentials` runs before the next fetch.
    pub(crate) invalidated: AtomicBool,
    pub(crate) refreshing: AtomicBool,
    /// The service answered 404 to the reconcile POST during this session.
    pub(crate) requests_unsupported: AtomicBool,
    pub(crate) seed: watch::Sender<SeedState>,
    pub(crate) commands: mpsc::UnboundedSender<SyncCommand>,
    pub(crate) upload_trigger: Notify,
    pub(crate) tasks: Mutex<Vec<JoinHandle<()>>>,
    pub(crate) crud_listener: Mutex<Option<TableListenerHandle>>,
}

impl Session {
    pub(crate) fn new(
        connector: Arc<dyn BackendConnector>,
        options: SyncOptions,
    ) -> (Arc<Self>, mpsc::UnboundedReceiver<SyncCommand>) {
        let (commands, rx) = mpsc::unbounded_channel();
        let session = Arc::new(Self {
            connector,
            options,
            cancel: CancellationToken::new(),
            credentials: Mutex::new(None),
            invalidated: AtomicBool::new(false),
            refreshing: AtomicBool::new(false),
            requests_unsupported: AtomicBool::new(false),
            seed: watch::channel(SeedState::Pending).0,
            commands,
            upload_trigger: Notify::new(),
            tasks: Mutex::new(Vec::new()),
            crud_listener: Mutex::new(None),
        });
        (session, rx)
    }

    /// Cached credentials, fetched from the connector when there are none.
    pub(crate) async fn credentials(&self) -> Result<Credentials, String> {
        if let Some(c) = self.credentials.lock().clone() {
            return Ok(c);
        }
        self.fetch_credentials().await
    }

    /// Asks the connector for new credentials and caches them.
    pub(crate) async fn fetch_credentials(&self) -> Result<Credentials, String> {
        if self.invalidated.swap(false, Ordering::SeqCst) {
            self.connector.invalidate_credentials().await;
        }
        match self.connector.fetch_credentials().await {
            Ok(Some(c)) => {
                *self.credentials.lock() = Some(c.clone());
                Ok(c)
            }
            Ok(None) => Err("no credentials available (signed out)".into()),
            Err(e) => Err(format!("fetching credentials failed: {e}")),
        }
    }

    /// Drops the cached credentials (401 or expired token).
    pub(crate) fn invalidate(&self) {
        *self.credentials.lock() = None;
        self.invalidated.store(true, Ordering::SeqCst);
    }

    pub(crate) fn add_task(&self, task: JoinHandle<()>) {
        let mut tasks = self.tasks.lock();
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    /// Waits until ids may be allocated, or returns the reason they cannot.
    pub(crate) async fn wait_seeded(&self) -> SeedState {
        let mut rx = self.seed.subscribe();
        loop {
            let state = *rx.borrow_and_update();
            if state != SeedState::Pending {
                return state;
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return SeedState::Ended },
                () = self.cancel.cancelled() => return SeedState::Ended,
            }
        }
    }
}
