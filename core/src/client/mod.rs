// SPDX-License-Identifier: Apache-2.0
//! The SDK side of sync (client-state-machine.md §5–§9): a [`SyncClient`] drives the sans-IO
//! engine over HTTP, uploads local writes through the app's [`BackendConnector`], publishes a
//! [`SyncStatus`] and offers checkpoint requests and change notifications.
//!
//! Everything runs on the caller's tokio runtime (this crate never creates one). SQLite work
//! goes to blocking threads; no lock is held across an `.await` or while app code runs.
//!
//! * `connector`: the app's callbacks and the options of a connection;
//! * `driver` / `upload`: the download and upload tasks of one `connect()`;
//! * `checkpoint`: `request_checkpoint`; `status`: status model; `watch`: change streams.

mod checkpoint;
mod connector;
mod driver;
mod http;
mod session;
mod status;
mod upload;
mod watch;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::Stream;
use parking_lot::Mutex;

pub use checkpoint::{CheckpointRequest, CheckpointRequestError, CheckpointWaitError};
pub use connector::{BackendConnector, ConnectorError, Credentials, SyncOptions};
pub use status::{ListenerHandle, SyncStatus};
pub use watch::tables_read_by;

use crate::crud::{CrudBatch, CrudTransaction, get_crud_batch, get_next_crud_transaction};
use crate::db::{Database, Row, Value};
use crate::{Error, Result, kv};
use session::{SeedState, Session};
use status::StatusHub;

/// What `disconnect_and_clear` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClearMode {
    /// Keep downloaded oplog data (re-applied on the next sync); clear rows and state.
    Soft,
    /// Remove all synced data and sync state.
    Hard,
}

pub(crate) struct Inner {
    pub(crate) db: Database,
    pub(crate) http: reqwest::Client,
    pub(crate) status: StatusHub,
    pub(crate) session: Mutex<Option<Arc<Session>>>,
    pub(crate) closed: AtomicBool,
    runtime: tokio::runtime::Handle,
    client_id: Mutex<Option<String>>,
    /// Serialises connect/disconnect/close.
    lifecycle: tokio::sync::Mutex<()>,
    /// Serialises checkpoint-request id allocation + POST and remembers the last POST as
    /// (sequence number, accepted id) for coalescing (see `upload::allocate_and_post`).
    pub(crate) request_lock: tokio::sync::Mutex<Option<(u64, i64)>>,
    /// Number of checkpoint-request POSTs started.
    pub(crate) posts_started: std::sync::atomic::AtomicU64,
}

impl Inner {
    pub(crate) async fn client_id(&self) -> std::result::Result<String, String> {
        if let Some(id) = self.client_id.lock().clone() {
            return Ok(id);
        }
        let db = self.db.clone();
        let id = blocking(move || db.read(|tx| kv::client_id(tx.connection())))
            .await
            .map_err(|e| format!("reading the client id failed: {e}"))?;
        *self.client_id.lock() = Some(id.clone());
        Ok(id)
    }
}

/// Current time in µs since the epoch (the engine never reads the clock itself).
pub(crate) fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Runs blocking SQLite work off the executor.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| Error::state("a database task panicked or was cancelled"))?
}

/// Syncs one [`Database`] with a PowerSync-compatible service. Cheap to clone.
#[derive(Clone)]
pub struct SyncClient {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for SyncClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncClient")
            .field("status", &self.inner.status.current())
            .finish()
    }
}

impl SyncClient {
    /// A client for `db`. Must be called within a tokio runtime, which runs all sync tasks.
    pub fn new(db: Database) -> Result<Self> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::state("SyncClient::new must be called within a tokio runtime"))?;
        let offline = db.read(|tx| crate::sync::offline_status(tx.connection()))?;
        let mut status = SyncStatus::default();
        status.apply_core(&offline);
        let http = reqwest::Client::builder()
            .user_agent(concat!("psync-core/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| Error::state("could not create the HTTP client"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                http,
                status: StatusHub::new(status),
                session: Mutex::new(None),
                closed: AtomicBool::new(false),
                runtime,
                client_id: Mutex::new(None),
                lifecycle: tokio::sync::Mutex::new(()),
                request_lock: tokio::sync::Mutex::new(None),
                posts_started: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }

    /// The synced database.
    pub fn database(&self) -> &Database {
        &self.inner.db
    }

    /// Starts syncing (replacing any previous connection). Returns once the tasks run; watch
    /// the status for progress.
    pub async fn connect(
        &self,
        connector: Arc<dyn BackendConnector>,
        options: SyncOptions,
    ) -> Result<()> {
        let _guard = self.inner.lifecycle.lock().await;
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(Error::closed());
        }
        self.stop_session().await;
        let (session, commands) = Session::new(connector, options);
        let trigger = Arc::downgrade(&session);
        let listener =
            self.inner
                .db
                .add_table_listener(Box::new(move |tables: &BTreeSet<String>| {
                    if tables.contains("ps_crud")
                        && let Some(session) = trigger.upgrade()
                    {
                        session.upload_trigger.notify_one();
                    }
                }));
        *session.crud_listener.lock() = Some(listener);
        let driver =
            self.inner
                .runtime
                .spawn(driver::run(self.inner.clone(), session.clone(), commands));
        let uploads = self
            .inner
            .runtime
            .spawn(upload::run(self.inner.clone(), session.clone()));
        session.add_task(driver);
        session.add_task(uploads);
        // Writes made before connecting are uploaded right away.
        session.upload_trigger.notify_one();
        *self.inner.session.lock() = Some(session);
        Ok(())
    }

    /// Cancels the current session and waits for all its tasks.
    async fn stop_session(&self) {
        let session = self.inner.session.lock().take();
        let Some(session) = session else { return };
        session.cancel.cancel();
        session.crud_listener.lock().take();
        session.seed.send_replace(SeedState::Ended);
        // Tasks may spawn refresh tasks while stopping: drain until none are left.
        loop {
            let tasks: Vec<_> = std::mem::take(&mut *session.tasks.lock());
            if tasks.is_empty() {
                break;
            }
            for task in tasks {
                let _ = task.await;
            }
        }
        self.inner.status.update(|s| {
            s.connected = false;
            s.connecting = false;
            s.downloading = false;
            s.download_progress = None;
            s.uploading = false;
            s.last_applied_checkpoint_request_id = None;
        });
    }

    /// Stops syncing; returns once no sync task is left.
    pub async fn disconnect(&self) -> Result<()> {
        let _guard = self.inner.lifecycle.lock().await;
        self.stop_session().await;
        Ok(())
    }

    /// Disconnects and removes synced data: [`ClearMode::Hard`] everything,
    /// [`ClearMode::Soft`] keeps the downloaded oplog for re-application.
    pub async fn disconnect_and_clear(&self, mode: ClearMode) -> Result<()> {
        let _guard = self.inner.lifecycle.lock().await;
        self.stop_session().await;
        let flags = match mode {
            ClearMode::Soft => crate::crud::CLEAR_SOFT,
            ClearMode::Hard => 0,
        };
        let db = self.inner.db.clone();
        blocking(move || {
            db.write(|tx| {
                tx.connection()
                    .query_row("SELECT powersync_clear(?)", [flags], |_| Ok(()))?;
                Ok(())
            })
        })
        .await?;
        self.inner.status.update(|s| {
            s.last_synced_at = None;
            s.has_synced = Some(false);
            s.priority_status.clear();
            s.download_error = None;
            s.upload_error = None;
        });
        Ok(())
    }

    /// Disconnects and closes the database. Waiters fail with `Closed`.
    pub async fn close(&self) -> Result<()> {
        let _guard = self.inner.lifecycle.lock().await;
        self.stop_session().await;
        self.inner.closed.store(true, Ordering::SeqCst);
        // Wake waiters so they observe `closed`.
        self.inner.status.update(|s| s.connecting = false);
        self.inner.status.record_applied(0);
        let db = self.inner.db.clone();
        blocking(move || db.close()).await
    }

    /// The current status.
    pub fn status(&self) -> SyncStatus {
        self.inner.status.current()
    }

    /// The current status, then every change.
    pub fn status_stream(&self) -> impl Stream<Item = SyncStatus> + Send + use<> {
        let rx = self.inner.status.subscribe();
        futures_util::stream::unfold((rx, true), |(mut rx, first)| async move {
            if !first && rx.changed().await.is_err() {
                return None;
            }
            let status = rx.borrow_and_update().clone();
            Some((status, (rx, false)))
        })
    }

    /// Calls `listener` with the current status, then on every change, on a runtime task and
    /// never under a lock. Dropping or cancelling the handle unregisters it.
    pub fn add_status_listener(
        &self,
        listener: Box<dyn Fn(&SyncStatus) + Send + Sync>,
    ) -> ListenerHandle {
        status::spawn_listener(
            &self.inner.runtime,
            self.inner.status.subscribe(),
            Arc::from(listener),
        )
    }

    /// Waits until a full sync completed (or `priority`'s state says so).
    pub async fn wait_for_first_sync(&self, priority: Option<i32>) -> Result<()> {
        let mut rx = self.inner.status.subscribe();
        loop {
            let done = {
                let s = rx.borrow_and_update();
                match priority {
                    Some(p) => s.status_for_priority(p).has_synced == Some(true),
                    None => s.has_synced == Some(true),
                }
            };
            if done {
                return Ok(());
            }
            rx.changed().await.map_err(|_| Error::closed())?;
        }
    }

    /// Asks the service for a checkpoint covering everything written so far (§9).
    pub async fn request_checkpoint(
        &self,
    ) -> std::result::Result<CheckpointRequest, CheckpointRequestError> {
        checkpoint::request(&self.inner).await
    }

    /// The oldest queued local transaction, for `upload_data`.
    pub async fn next_crud_transaction(&self) -> Result<Option<CrudTransaction>> {
        let db = self.inner.db.clone();
        blocking(move || db.read(|tx| get_next_crud_transaction(tx.connection()))).await
    }

    /// Up to `limit` queued writes, for `upload_data`.
    pub async fn crud_batch(&self, limit: usize) -> Result<Option<CrudBatch>> {
        let db = self.inner.db.clone();
        blocking(move || db.read(|tx| get_crud_batch(tx.connection(), limit))).await
    }

    /// Marks an uploaded transaction done; `write_checkpoint` is a custom write checkpoint
    /// from the app backend, if it returns one.
    pub async fn complete_transaction(
        &self,
        transaction: CrudTransaction,
        write_checkpoint: Option<i64>,
    ) -> Result<()> {
        let db = self.inner.db.clone();
        blocking(move || db.write(|tx| transaction.complete(tx.connection(), write_checkpoint)))
            .await
    }

    /// Marks an uploaded batch done; see [`complete_transaction`](Self::complete_transaction).
    pub async fn complete_batch(
        &self,
        batch: CrudBatch,
        write_checkpoint: Option<i64>,
    ) -> Result<()> {
        let db = self.inner.db.clone();
        blocking(move || db.write(|tx| batch.complete(tx.connection(), write_checkpoint))).await
    }

    /// Runs `sql` now and after every write to a table it reads.
    pub fn watch(
        &self,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<impl Stream<Item = Result<Vec<Row>>> + Send + use<>> {
        watch::watch(&self.inner.db, sql, params)
    }

    /// Sets of changed tables among `tables` (view names), one per committed transaction.
    pub fn on_change(
        &self,
        tables: &[&str],
    ) -> impl Stream<Item = BTreeSet<String>> + Send + use<> {
        watch::on_change(&self.inner.db, tables)
    }
}
