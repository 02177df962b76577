// SPDX-License-Identifier: Apache-2.0
//! The async sync client: connects a [`Database`] to a PowerSync-compatible service over
//! HTTP, uploads local writes through a [`BackendConnector`], reports [`SyncStatus`], and
//! offers checkpoint requests and query watches (client-state-machine.md §5–§9).
//!
//! The client never creates a runtime: every async method runs on the caller's tokio runtime,
//! and background tasks are spawned there. Database work runs on `spawn_blocking`; no lock is
//! held across an `.await`.

mod auth;
mod checkpoint;
mod clock;
mod connection;
mod connector;
mod driver;
mod engine_calls;
mod http;
mod lines;
mod session;
mod signals;
mod status;
mod stream_reader;
mod streams;
mod sync_lock;
mod tls;
mod transport;
mod upload;
mod upload_queue;
mod watch;

#[cfg(test)]
mod logic_tests;
#[cfg(test)]
mod test_io;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use parking_lot::Mutex;
use tokio::sync::watch as tokio_watch;

pub use crate::storage::sync::LINE_BATCH_MAX_BYTES;
pub use checkpoint::{CheckpointError, CheckpointRequest, CheckpointTimings};
pub use clock::{Clock, Sleep, TokioClock};
pub use connection::ClearOptions;
pub use connector::{BackendConnector, CheckpointMode, Credentials, SyncOptions};
pub use status::{
    DownloadProgress, PriorityStatus, StatusListenerHandle, SyncStatus, SyncStreamStatus,
};
pub use streams::{SubscribeOptions, SyncStream, SyncStreamSubscription, WaitError};
pub use sync_lock::{SYNC_LOCK_SUFFIX, lock_path as sync_lock_path};
pub use tls::tls_client_config;
pub use transport::{
    HttpBody, HttpClient, HttpMethod, HttpRequest, HttpResponse, ReqwestHttpClient, TransportError,
};
pub use watch::{ChangeWatcher, QueryWatcher};

use crate::db::ExecuteResult;
use crate::{Database, Error, Result, Row, Value};
use session::{Session, SessionParts};
use status::StatusHub;

/// Lifecycle of the client, observed by checkpoint waiters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    /// No `connect()` active.
    Idle,
    /// A `connect()` is active.
    Connected,
    /// `close()` was called.
    Closed,
}

pub(crate) struct ClientInner {
    pub(crate) db: Database,
    pub(crate) status: StatusHub,
    /// The active session; the async mutex serialises connect/disconnect/close.
    session: tokio::sync::Mutex<Option<Session>>,
    /// The active session's parts, for quick synchronous access.
    pub(crate) current: Mutex<Option<Arc<SessionParts>>>,
    /// The time source of every delay, timeout and timestamp the client takes.
    pub(crate) clock: Arc<dyn Clock>,
    /// The injected HTTP client (`None`: reqwest, built per `connect()` from its options).
    pub(crate) http_override: Option<Arc<dyn HttpClient>>,
    /// Highest checkpoint request id ever reported as applied (`i64::MIN` = none).
    pub(crate) max_applied: AtomicI64,
    pub(crate) lifecycle: tokio_watch::Sender<Lifecycle>,
    logger: Mutex<Option<Logger>>,
    /// Held from `connect()` to `disconnect()`/`close()`, or until the client is freed (after
    /// its tasks stopped): no other client syncs this file meanwhile (`sync_lock.rs`).
    sync_lock: Mutex<Option<sync_lock::SyncFileLock>>,
    /// Timestamps of the latest checkpoint request round (see [`CheckpointTimings`]).
    pub(crate) checkpoint_timings: Mutex<CheckpointTimings>,
    /// Streams the app holds subscription handles for.
    pub(crate) active_streams: Mutex<streams::ActiveStreams>,
}

/// Receives log lines from the engine and the client (never tokens or row data).
pub type Logger = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Details of the sync protocol.
    Debug,
    /// Normal progress.
    Info,
    /// Something went wrong and is being retried or worked around.
    Warning,
}

impl ClientInner {
    /// Logs `line` if a logger is installed (called without any lock held).
    pub(crate) fn log(&self, level: LogLevel, line: &str) {
        let logger = self.logger.lock().clone();
        if let Some(logger) = logger {
            logger(level, line);
        }
    }

    pub(crate) fn record_applied(&self, id: i64) {
        self.max_applied.fetch_max(id, Ordering::AcqRel);
    }

    /// The app dropped its last handle: signal the session's tasks to stop, synchronously
    /// (this runs in `Drop`, maybe outside any runtime). The tasks hold the client only
    /// through a `Weak` between steps, end their iteration (sending `Stop` to the engine) and
    /// exit; the client is freed when the last of them lets go.
    fn release(&self) {
        self.lifecycle.send_replace(Lifecycle::Closed);
        let parts = self.current.lock().take();
        if let Some(parts) = parts {
            parts.signal_stop();
        }
        // Drops the task handles (detaching the tasks, which are stopping) and the upload
        // trigger listener. Only busy if a connect/disconnect runs on the connector's handle.
        if let Ok(mut session) = self.session.try_lock() {
            session.take();
        }
        self.show_stopped();
    }

    /// The status once no session runs: nothing connected, downloading or uploading.
    fn show_stopped(&self) {
        self.status.update(|s| {
            s.connected = false;
            s.connecting = false;
            s.downloading = false;
            s.download_progress = None;
            s.uploading = false;
        });
    }
}

/// A [`Database`] plus the sync client. Cheap to clone; clones share the client.
///
/// Dropping the last clone without [`SyncDatabase::close`] stops syncing: the background
/// tasks of a running `connect()` (sync stream, uploads, credential refresh) are told to stop
/// at once, close their connections and end shortly after, without waiting for the caller;
/// pending [`CheckpointRequest`] waits fail with [`CheckpointError::Closed`]. The database
/// itself is not closed (other [`Database`] handles keep working); its connections close when
/// the last handle is gone. Prefer `close()` (or `disconnect()`) when you can await it: it
/// returns only once everything has stopped.
///
/// The handle lent to [`BackendConnector::upload_data`] does not count: a connector that keeps
/// it does not keep syncing alive. A connector that owns a clone of the app's handle does
/// (the client owns the connector), so such a client runs until `close()`/`disconnect()`.
#[derive(Clone)]
pub struct SyncDatabase {
    pub(crate) inner: Arc<ClientInner>,
    /// Shared by the app's clones; dropping the last one stops the background tasks. `None`
    /// in the handle lent to the connector.
    _owner: Option<Arc<OwnerGuard>>,
}

/// Stops the client's background tasks when the app's last [`SyncDatabase`] is dropped.
struct OwnerGuard {
    inner: Arc<ClientInner>,
}

impl Drop for OwnerGuard {
    fn drop(&mut self) {
        self.inner.release();
    }
}

impl std::fmt::Debug for SyncDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncDatabase")
            .field("db", &self.inner.db)
            .finish_non_exhaustive()
    }
}

/// Runs `f` on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    db: &Database,
    f: impl FnOnce(&Database) -> Result<T> + Send + 'static,
) -> Result<T> {
    let db = db.clone();
    tokio::task::spawn_blocking(move || f(&db))
        .await
        .map_err(|_| Error::state("database task failed"))?
}

/// The HTTP client and clock a [`SyncDatabase`] uses (see [`SyncDatabase::with_io`]). The
/// default is what [`SyncDatabase::new`] uses: reqwest (built per `connect()` from its
/// [`SyncOptions`]) and [`TokioClock`].
#[derive(Clone)]
pub struct ClientIo {
    /// Sends every request of every `connect()`; `None` builds a [`ReqwestHttpClient`] per
    /// `connect()` (honouring `extra_root_certificates_pem`).
    pub http: Option<Arc<dyn HttpClient>>,
    /// Every retry delay, throttle, idle timeout, wait timeout and timestamp of the client.
    pub clock: Arc<dyn Clock>,
}

impl Default for ClientIo {
    fn default() -> Self {
        Self {
            http: None,
            clock: Arc::new(TokioClock),
        }
    }
}

impl std::fmt::Debug for ClientIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIo")
            .field("custom_http", &self.http.is_some())
            .finish_non_exhaustive()
    }
}

impl SyncDatabase {
    /// Wraps an open database and loads the stored (offline) sync status, so `has_synced`
    /// and `last_synced_at` are known before connecting.
    pub fn new(db: Database) -> Self {
        Self::with_io(db, ClientIo::default())
    }

    /// [`SyncDatabase::new`] with another HTTP client and/or clock: for tests (client logic
    /// on virtual time, without a network) and custom transports. Apps use `new`.
    pub fn with_io(db: Database, io: ClientIo) -> Self {
        let client = Self::without_offline_status(db, io);
        let offline = client
            .inner
            .db
            .read(|tx| crate::storage::sync::offline_status(tx.connection()));
        if let Ok(core) = offline {
            client.inner.status.update(|s| {
                driver::apply_core_status(s, core);
                s.connected = false;
                s.connecting = false;
            });
        }
        client
    }

    fn without_offline_status(db: Database, io: ClientIo) -> Self {
        let inner = Arc::new(ClientInner {
            db,
            status: StatusHub::new(),
            session: tokio::sync::Mutex::new(None),
            current: Mutex::new(None),
            clock: io.clock,
            http_override: io.http,
            max_applied: AtomicI64::new(i64::MIN),
            lifecycle: tokio_watch::Sender::new(Lifecycle::Idle),
            logger: Mutex::new(None),
            sync_lock: Mutex::new(None),
            checkpoint_timings: Mutex::new(CheckpointTimings::default()),
            active_streams: Mutex::new(Default::default()),
        });
        Self {
            _owner: Some(Arc::new(OwnerGuard {
                inner: Arc::clone(&inner),
            })),
            inner,
        }
    }

    /// A handle that does not keep the background tasks alive (lent to the connector).
    pub(crate) fn lent(inner: &Arc<ClientInner>) -> Self {
        Self {
            inner: Arc::clone(inner),
            _owner: None,
        }
    }

    /// The wrapped database.
    pub fn database(&self) -> &Database {
        &self.inner.db
    }

    /// Installs (or removes) the logger for sync events.
    pub fn set_logger(&self, logger: Option<Logger>) {
        *self.inner.logger.lock() = logger;
    }

    /// The current status.
    pub fn status(&self) -> SyncStatus {
        self.inner.status.current()
    }

    /// A receiver of status changes; its first `changed()` resolves at once with the current
    /// status.
    pub fn status_stream(&self) -> tokio_watch::Receiver<SyncStatus> {
        let mut rx = self.inner.status.subscribe();
        rx.mark_changed();
        rx
    }

    /// Calls `listener` with the current status now and after every change, without any lock
    /// held, until the handle is dropped or cancelled.
    pub fn add_status_listener(
        &self,
        listener: Box<dyn Fn(&SyncStatus) + Send + Sync>,
    ) -> StatusListenerHandle {
        self.inner.status.add_listener(listener)
    }

    /// Runs a write statement on the blocking pool.
    pub async fn execute(&self, sql: &str, params: Vec<Value>) -> Result<()> {
        let sql = sql.to_owned();
        blocking(&self.inner.db, move |db| {
            db.execute(&sql, &params).map(|_| ())
        })
        .await
    }

    /// Runs one statement once for each parameter set in one write transaction, on the
    /// blocking pool (see [`Database::execute_batch`]).
    pub async fn execute_batch(
        &self,
        sql: &str,
        param_sets: Vec<Vec<Value>>,
    ) -> Result<ExecuteResult> {
        let sql = sql.to_owned();
        blocking(&self.inner.db, move |db| {
            db.execute_batch(&sql, &param_sets)
        })
        .await
    }

    /// Runs a query on the blocking pool.
    pub async fn get_all(&self, sql: &str, params: Vec<Value>) -> Result<Vec<Row>> {
        let sql = sql.to_owned();
        blocking(&self.inner.db, move |db| db.get_all(&sql, &params)).await
    }

    /// Asks the service for a checkpoint that includes everything it has received so far
    /// (client-state-machine.md §9). Needs an active [`SyncDatabase::connect`]; waits for the
    /// current iteration to reconcile its checkpoint request counter first.
    pub async fn request_checkpoint(
        &self,
    ) -> std::result::Result<CheckpointRequest, CheckpointError> {
        let parts = self.inner.current.lock().clone();
        match parts {
            Some(parts) => {
                checkpoint::request(&self.inner, &parts.checkpoints, &parts.service).await
            }
            None if *self.inner.lifecycle.borrow() == Lifecycle::Closed => {
                Err(CheckpointError::Closed)
            }
            None => Err(CheckpointError::NotConnected),
        }
    }

    /// Timestamps of the latest checkpoint request round: when its POST went out and was
    /// answered, and when the checkpoint carrying the latest applied request id arrived and
    /// was applied (for latency breakdowns; `cargo xtask bench-client` prints them).
    pub fn checkpoint_timings(&self) -> CheckpointTimings {
        *self.inner.checkpoint_timings.lock()
    }

    /// Waits until a complete sync happened (`has_synced`), or `priority` completed (all
    /// buckets of priority `<= priority`), failing with [`WaitError::Timeout`] after
    /// `timeout` (`None` = no limit) or [`WaitError::Closed`] when the client closes.
    pub async fn wait_for_first_sync(
        &self,
        priority: Option<i32>,
        timeout: Option<std::time::Duration>,
    ) -> std::result::Result<(), WaitError> {
        streams::wait_for_status(self, timeout, |s| match priority {
            Some(p) => s.status_for_priority(p).has_synced == Some(true),
            None => s.has_synced == Some(true),
        })
        .await
    }

    /// A sync stream by name with optional parameters (a JSON object); call
    /// [`SyncStream::subscribe`] to sync it. Fails for an empty name or non-object
    /// parameters.
    pub fn sync_stream(&self, name: &str, params: Option<serde_json::Value>) -> Result<SyncStream> {
        SyncStream::new(self, name, params)
    }

    /// Watches a query: yields its rows now and again after every commit that changes a
    /// table it reads.
    pub fn watch(&self, sql: &str, params: Vec<Value>) -> Result<QueryWatcher> {
        watch::QueryWatcher::new(
            self.inner.db.clone(),
            Arc::clone(&self.inner.clock),
            sql,
            params,
        )
    }

    /// Notifies after commits touching any of `tables` (view names; raw `ps_data__` names
    /// are accepted too). An empty set means every table.
    pub fn on_change(&self, tables: BTreeSet<String>) -> ChangeWatcher {
        watch::ChangeWatcher::new(&self.inner.db, tables)
    }
}
