// SPDX-License-Identifier: Apache-2.0
//! The running service: shared state, replication, the `TestService` handle and its builder.

use crate::config::{ServiceOptions, SyncConfig};
use crate::faults::{FaultRegistry, Faults};
use crate::script::{ScriptRegistry, ScriptedStream};
use crate::store::{Store, WriteCheckpoint};
use crate::{auth, persist, routes, source};
use parking_lot::{Mutex, MutexGuard};
use rusqlite::Connection;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// State shared by handlers and connection tasks.
pub struct Inner {
    /// Options the service was started with.
    pub options: ServiceOptions,
    /// The source database.
    pub source: Mutex<Connection>,
    /// Buckets and write checkpoints.
    pub store: Mutex<Store>,
    /// Bumped after every replication step, write-checkpoint change and fault/script change.
    pub changes: watch::Sender<u64>,
    /// Set to true on shutdown.
    pub shutdown: watch::Sender<bool>,
    /// Injected faults.
    pub faults: Mutex<FaultRegistry>,
    /// Scripted streams.
    pub scripts: ScriptRegistry,
    /// While set, source changes are not replicated (simulates replication lag).
    pub replication_paused: AtomicBool,
}

impl Inner {
    /// Wakes every connection so it re-evaluates its state.
    pub fn notify(&self) {
        self.changes.send_modify(|v| *v += 1);
    }

    /// Replicates pending source changes; `conn` is the locked source connection.
    pub fn replicate_locked(&self, conn: &Connection) -> rusqlite::Result<usize> {
        if self.replication_paused.load(Ordering::SeqCst) {
            return Ok(0);
        }
        let mut store = self.store.lock();
        // One transaction: changes leave the log only together with the ops made of them.
        let changes = in_savepoint(conn, |conn| {
            let changes = source::take_changes(conn, store.replicated_position)?;
            for change in &changes {
                store.apply_change(&self.options.sync, change);
            }
            persist::flush(conn, &mut store)?;
            Ok(changes)
        })?;
        drop(store);
        if !changes.is_empty() {
            self.notify();
        }
        Ok(changes.len())
    }

    /// Runs `change` on the store (with the current source position) and persists what it
    /// changed before returning, so an answer sent afterwards survives a restart.
    pub fn update_store<R>(
        &self,
        change: impl FnOnce(&mut Store, i64) -> R,
    ) -> rusqlite::Result<R> {
        let conn = self.source.lock();
        let position = source::source_position(&conn)?;
        let mut store = self.store.lock();
        let result = change(&mut store, position);
        in_savepoint(&conn, |conn| persist::flush(conn, &mut store))?;
        Ok(result)
    }

    /// Replicates pending source changes.
    pub fn replicate(&self) -> rusqlite::Result<usize> {
        let conn = self.source.lock();
        self.replicate_locked(&conn)
    }

    /// Seconds since the epoch.
    pub fn now_secs() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }

    /// Mints a token for `user_id` valid for `lifetime`.
    pub fn mint_token(&self, user_id: &str, lifetime: Duration) -> String {
        let now = Self::now_secs();
        let exp = now.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX / 2));
        auth::mint(&self.options.jwt_secret, user_id, now, exp)
    }
}

/// Builder for [`TestService`].
#[derive(Debug, Default)]
pub struct Builder {
    options: ServiceOptions,
    db_path: Option<PathBuf>,
    port: u16,
    global_faults: Option<Faults>,
    client_faults: Vec<(String, Faults)>,
}

impl Builder {
    /// Uses this sync configuration instead of the default.
    pub fn config(mut self, config: SyncConfig) -> Self {
        self.options.sync = config;
        self
    }

    /// Stores the source database in this file (default: in memory).
    pub fn db_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.db_path = Some(path.into());
        self
    }

    /// Listens on this port (default 0 = ephemeral).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Interval of `token_expires_in` keepalive lines (default 20 s).
    pub fn keepalive_interval(mut self, interval: Duration) -> Self {
        self.options.keepalive_interval = interval;
        self
    }

    /// How long before expiry the extra `token_expires_in` warning goes out (default 20 s).
    pub fn expire_warning_period(mut self, period: Duration) -> Self {
        self.options.expire_warning_period = period;
        self
    }

    /// Default lifetime of minted tokens (default 1 h).
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.options.default_token_lifetime = lifetime;
        self
    }

    /// HS256 key for tokens.
    pub fn jwt_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.options.jwt_secret = secret.into();
        self
    }

    /// Maximum ops per data line (default 1000).
    pub fn ops_per_data_line(mut self, n: usize) -> Self {
        self.options.ops_per_data_line = n;
        self
    }

    /// Faults active from the start, for every client.
    pub fn faults(mut self, faults: Faults) -> Self {
        self.global_faults = Some(faults);
        self
    }

    /// Faults active from the start for one client id.
    pub fn client_faults(mut self, client_id: &str, faults: Faults) -> Self {
        self.client_faults.push((client_id.to_owned(), faults));
        self
    }

    /// Starts the service on a runtime of its own (2 worker threads), for non-async callers.
    pub fn start_background(self) -> std::io::Result<BackgroundService> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let service = runtime.block_on(self.start())?;
        Ok(BackgroundService { service, runtime })
    }

    /// The bucket storage a database file kept from an earlier run, else a replication of the
    /// source's current rows (persisted when the source is a file).
    fn initial_store(&self, conn: &Connection) -> rusqlite::Result<Store> {
        let persisted = self.db_path.is_some();
        let kept = if persisted {
            persist::load(conn)?
        } else {
            None
        };
        let mut store = match kept {
            Some(store) => store,
            None => {
                let mut store = Store::journalled(persisted);
                let (rows, position) = source::snapshot(conn, &self.options.sync)?;
                for row in &rows {
                    store.apply_change(&self.options.sync, row);
                }
                store.set_replicated_position(position);
                store
            }
        };
        persist::flush(conn, &mut store)?;
        Ok(store)
    }

    /// Starts the service on 127.0.0.1.
    pub async fn start(self) -> std::io::Result<TestService> {
        self.options
            .sync
            .validate()
            .map_err(std::io::Error::other)?;
        let conn = source::open(self.db_path.as_deref(), &self.options.sync)
            .map_err(std::io::Error::other)?;
        let store =
            in_savepoint(&conn, |conn| self.initial_store(conn)).map_err(std::io::Error::other)?;
        let mut faults = FaultRegistry::default();
        if let Some(global) = self.global_faults {
            faults.set(None, global);
        }
        for (client, f) in self.client_faults {
            faults.set(Some(&client), f);
        }
        let inner = Arc::new(Inner {
            options: self.options,
            source: Mutex::new(conn),
            store: Mutex::new(store),
            changes: watch::Sender::new(0),
            shutdown: watch::Sender::new(false),
            faults: Mutex::new(faults),
            scripts: ScriptRegistry::default(),
            replication_paused: AtomicBool::new(false),
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await?;
        let addr = listener.local_addr()?;
        let app = routes::router(inner.clone());
        let mut shutdown = inner.shutdown.subscribe();
        tokio::spawn(async move {
            let wait = async move {
                let _ = shutdown.wait_for(|s| *s).await;
            };
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(wait)
                .await;
        });
        // Pick up writes made by other processes to a shared database file.
        let poller = Arc::downgrade(&inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let Some(inner) = poller.upgrade() else {
                    return;
                };
                if *inner.shutdown.borrow() {
                    return;
                }
                let _ = inner.replicate();
            }
        });
        Ok(TestService { inner, addr })
    }
}

/// A service running on its own runtime, for tests that are not async. Derefs to
/// [`TestService`]; `block_on` runs async helpers (e.g. scripted streams) on that runtime.
pub struct BackgroundService {
    // Field order matters: the service shuts down before its runtime is dropped.
    service: TestService,
    runtime: tokio::runtime::Runtime,
}

impl BackgroundService {
    /// Runs a future on the service's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}

impl std::ops::Deref for BackgroundService {
    type Target = TestService;
    fn deref(&self) -> &TestService {
        &self.service
    }
}

/// A running service. Shuts down when dropped.
pub struct TestService {
    inner: Arc<Inner>,
    addr: SocketAddr,
}

/// Locked access to the source database; replicates the changes when dropped.
pub struct SourceGuard<'a> {
    inner: &'a Inner,
    conn: MutexGuard<'a, Connection>,
}

impl std::ops::Deref for SourceGuard<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl std::ops::DerefMut for SourceGuard<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

impl Drop for SourceGuard<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.inner.replicate_locked(&self.conn) {
            eprintln!("psync-test-service: replication failed: {e}");
        }
    }
}

/// Test control over the streams of one client id.
pub struct Scripted {
    inner: Arc<Inner>,
    client_id: String,
}

impl Scripted {
    /// Waits for the next stream of this client (an existing one is taken over).
    pub async fn next_connection(&self, timeout: Duration) -> Option<Arc<ScriptedStream>> {
        self.inner.scripts.next(&self.client_id, timeout).await
    }

    /// Returns the client to normal streaming for new connections.
    pub fn release(&self) {
        self.inner.scripts.disable(&self.client_id);
    }
}

impl TestService {
    /// A builder with default options.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Starts a service with defaults on an ephemeral port.
    pub async fn start() -> std::io::Result<TestService> {
        Builder::default().start().await
    }

    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Shared state (for embedding the router elsewhere).
    pub fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// Mints a token with the default lifetime.
    pub fn mint_token(&self, user_id: &str) -> String {
        self.inner
            .mint_token(user_id, self.inner.options.default_token_lifetime)
    }

    /// Mints a token expiring after `lifetime`.
    pub fn mint_token_expiring_in(&self, user_id: &str, lifetime: Duration) -> String {
        self.inner.mint_token(user_id, lifetime)
    }

    /// Direct access to the source database, as the app backend; changes replicate when the
    /// guard drops. Don't hold it across an await.
    pub fn source(&self) -> SourceGuard<'_> {
        SourceGuard {
            inner: &self.inner,
            conn: self.inner.source.lock(),
        }
    }

    /// Replaces the faults of one client id (or the global ones with `None`).
    pub fn set_faults(&self, client_id: Option<&str>, faults: Faults) {
        self.inner.faults.lock().set(client_id, faults);
        self.inner.notify();
    }

    /// Removes all faults.
    pub fn clear_faults(&self) {
        self.inner.faults.lock().clear();
        self.inner.notify();
    }

    /// Forgets write-checkpoint / checkpoint-request records of a client id (or all).
    pub fn forget_checkpoint_requests(&self, client_id: Option<&str>) {
        let _ = self
            .inner
            .update_store(|store, _| store.forget_write_checkpoints(client_id));
        self.inner.notify();
    }

    /// Pauses or resumes replication (source writes queue up meanwhile).
    pub fn set_replication_paused(&self, paused: bool) {
        self.inner
            .replication_paused
            .store(paused, Ordering::SeqCst);
        if !paused {
            let _ = self.inner.replicate();
        }
    }

    /// Takes over the streams of `client_id` (existing ones and future ones).
    pub fn scripted(&self, client_id: &str) -> Scripted {
        self.inner.scripts.enable(client_id);
        self.inner.notify();
        Scripted {
            inner: self.inner.clone(),
            client_id: client_id.to_owned(),
        }
    }

    /// Runs MOVE compaction over every bucket (see [`Store::compact`]); returns the number of
    /// converted ops. Connected streams are not re-sent anything: checksums don't change.
    pub fn compact(&self) -> usize {
        self.inner
            .update_store(|store, _| store.compact())
            .unwrap_or(0)
    }

    /// Last op id.
    pub fn head(&self) -> i64 {
        self.inner.store.lock().head
    }

    /// The stored write-checkpoint record of (user, client id).
    pub fn write_checkpoint(&self, user_id: &str, client_id: &str) -> Option<WriteCheckpoint> {
        self.inner.store.lock().write_checkpoint(user_id, client_id)
    }

    /// Stops the service: ends all streams and the listener.
    pub fn shutdown(&self) {
        self.inner.scripts.close_all();
        let _ = self.inner.shutdown.send(true);
    }
}

impl Drop for TestService {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Runs `body` in a savepoint (a transaction of its own, or nested in the caller's).
fn in_savepoint<R>(
    conn: &Connection,
    body: impl FnOnce(&Connection) -> rusqlite::Result<R>,
) -> rusqlite::Result<R> {
    conn.execute_batch("SAVEPOINT psync_store")?;
    match body(conn) {
        Ok(result) => {
            conn.execute_batch("RELEASE psync_store")?;
            Ok(result)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO psync_store; RELEASE psync_store");
            Err(e)
        }
    }
}
