// SPDX-License-Identifier: Apache-2.0
//! [`Database`]: the SDK's entry object.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use psync_core::client::{ClearOptions as CoreClearOptions, SyncDatabase as CoreSyncDatabase};
use psync_core::db::ExecuteResult as CoreExecuteResult;
use psync_core::schema::app_table_name;
use psync_core::{Database as CoreDatabase, OpenOptions as CoreOpenOptions};

use crate::blocking::off_thread;
use crate::crud::{CrudBatch, CrudTransaction};
use crate::error::{Result, SyncError};
use crate::listener::{QueryListener, TableChangeListener};
use crate::logging::{self, LogSink};
use crate::runtime;
use crate::schema::Schema;
use crate::shutdown::{self, HostRef};
use crate::sync::{
    BackendConnector, CheckpointRequest, ConnectorAdapter, StatusListener, SyncOptions, SyncStatus,
};
use crate::task_handle::TaskHandle;
use crate::transaction::{Access, Transaction};
use crate::value::{Row, Value, to_core_params};
use psync_core::storage::crud::UploadQueueStats;

/// A PowerSync-format SQLite database with its app schema.
///
/// Thread-safe: call it from any thread. Queries and writes are async: SQLite works on
/// psync's blocking threads (one writer, several readers) while the caller awaits; listeners
/// are called on psync's own threads. Call `close()` when done: later
/// calls fail with `SyncError.Closed`.
#[derive(uniffi::Object)]
pub struct Database {
    /// The sync client; it owns the core database (`client.database()`).
    client: CoreSyncDatabase,
    /// Shorthand for `client.database()`.
    inner: CoreDatabase,
}

/// One SQL statement with its parameters, for `Database.write_batch`.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Statement {
    /// SQL text with `?` placeholders.
    pub sql: String,
    /// Parameter values, in placeholder order.
    #[uniffi(default = [])]
    pub params: Vec<Value>,
}

/// How to open a database.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OpenOptions {
    /// How long a statement waits for a lock another connection or process holds on the
    /// file before failing with `SyncError.Busy`.
    #[uniffi(default = 30000)]
    pub busy_timeout_ms: u64,
}

impl From<OpenOptions> for CoreOpenOptions {
    fn from(options: OpenOptions) -> Self {
        CoreOpenOptions {
            busy_timeout: Duration::from_millis(options.busy_timeout_ms),
            ..CoreOpenOptions::default()
        }
    }
}

/// What a write statement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct ExecuteResult {
    /// Rows changed by the statement.
    pub rows_affected: u64,
    /// The last inserted rowid on the writer after the statement.
    pub last_insert_rowid: i64,
}

impl From<CoreExecuteResult> for ExecuteResult {
    fn from(result: CoreExecuteResult) -> Self {
        ExecuteResult {
            rows_affected: result.rows_affected,
            last_insert_rowid: result.last_insert_rowid,
        }
    }
}

impl Database {
    fn with_schema(inner: CoreDatabase, schema: Schema) -> Result<Arc<Self>> {
        inner.update_schema(psync_core::schema::Schema::from(schema))?;
        let db = Database::from_client(CoreSyncDatabase::new(inner));
        let db = Arc::new(db);
        shutdown::register(&db);
        Ok(db)
    }

    /// `close()` as a future that owns what it needs (for `shutdown`).
    pub(crate) fn close_async(&self) -> impl Future<Output = Result<()>> + Send + 'static {
        let client = self.client.clone();
        async move { Ok(client.close().await?) }
    }

    /// Another handle on the same client (handed to `BackendConnector.upload_data`).
    pub(crate) fn from_client(client: CoreSyncDatabase) -> Self {
        let inner = client.database().clone();
        Database { client, inner }
    }
}

#[psync_ffi_macros::export]
impl Database {
    /// Opens (or creates) the database file at `path` and applies `schema`.
    #[uniffi::constructor]
    pub fn open(path: String, schema: Schema) -> Result<Arc<Self>> {
        Self::with_schema(CoreDatabase::open(path)?, schema)
    }

    /// [`Database::open`] with `options` (the busy timeout).
    #[uniffi::constructor]
    pub fn open_with_options(
        path: String,
        schema: Schema,
        options: OpenOptions,
    ) -> Result<Arc<Self>> {
        Self::with_schema(CoreDatabase::open_with(path, options.into())?, schema)
    }

    /// Opens a new, empty in-memory database with `schema`; it vanishes on `close()`.
    #[uniffi::constructor]
    pub fn open_in_memory(schema: Schema) -> Result<Arc<Self>> {
        Self::with_schema(CoreDatabase::open_in_memory()?, schema)
    }

    /// Sends psync's log lines (sync retries, failed uploads, protocol events) to `sink`,
    /// replacing the previous sink; none stops logging. Without a sink nothing is logged.
    pub fn set_logger(&self, sink: Option<Arc<dyn LogSink>>) -> Result<()> {
        logging::install(&self.client, sink)
    }

    /// Replaces the app schema: creates, alters or drops views, triggers and indexes.
    pub async fn update_schema(&self, schema: Schema) -> Result<()> {
        let schema = psync_core::schema::Schema::from(schema);
        off_thread(&self.inner, move |db| db.update_schema(schema)).await
    }

    /// Runs one write statement in its own transaction.
    pub async fn execute(&self, sql: String, params: Vec<Value>) -> Result<ExecuteResult> {
        let params = to_core_params(params);
        let result = off_thread(&self.inner, move |db| db.execute(&sql, &params)).await?;
        Ok(result.into())
    }

    /// Runs one statement once for each parameter set, in one write transaction (all sets
    /// apply or none does), preparing it once.
    pub async fn execute_batch(
        &self,
        sql: String,
        param_sets: Vec<Vec<Value>>,
    ) -> Result<ExecuteResult> {
        let param_sets: Vec<_> = param_sets.into_iter().map(to_core_params).collect();
        let result = off_thread(&self.inner, move |db| db.execute_batch(&sql, &param_sets));
        Ok(result.await?.into())
    }

    /// [`Database::execute_batch`] with the parameter sets as one JSON array of arrays (null,
    /// booleans, numbers, strings): one string crosses the FFI instead of one value record
    /// per parameter, for hosts whose generated marshalling is slow per value (Python).
    pub async fn execute_batch_json(
        &self,
        sql: String,
        param_sets_json: String,
    ) -> Result<ExecuteResult> {
        let result = off_thread(&self.inner, move |db| {
            let param_sets = psync_core::param_sets_from_json(&param_sets_json)?;
            db.execute_batch(&sql, &param_sets)
        });
        Ok(result.await?.into())
    }

    /// Runs `statements` in order in one write transaction: all of them apply, or none
    /// does (the first failure rolls back and is returned).
    pub async fn write_batch(&self, statements: Vec<Statement>) -> Result<Vec<ExecuteResult>> {
        let statements: Vec<_> = statements
            .into_iter()
            .map(|s| (s.sql, to_core_params(s.params)))
            .collect();
        off_thread(&self.inner, move |db| {
            db.write(|tx| {
                statements
                    .iter()
                    .map(|(sql, params)| tx.execute(sql, params).map(ExecuteResult::from))
                    .collect()
            })
        })
        .await
    }

    /// The first row of a query; `SyncError.NoRows` if there is none.
    pub async fn get(&self, sql: String, params: Vec<Value>) -> Result<Row> {
        let params = to_core_params(params);
        Ok(off_thread(&self.inner, move |db| db.get(&sql, &params))
            .await?
            .into())
    }

    /// Every row of a query.
    pub async fn get_all(&self, sql: String, params: Vec<Value>) -> Result<Vec<Row>> {
        let params = to_core_params(params);
        let rows = off_thread(&self.inner, move |db| db.get_all(&sql, &params)).await?;
        Ok(rows.into_iter().map(Row::from).collect())
    }

    /// The first row of a query, if any.
    pub async fn get_optional(&self, sql: String, params: Vec<Value>) -> Result<Option<Row>> {
        let params = to_core_params(params);
        let row = off_thread(&self.inner, move |db| db.get_optional(&sql, &params)).await?;
        Ok(row.map(Row::from))
    }

    /// Begins an interactive write transaction: it holds the writer (other writes wait)
    /// until `commit()` or `rollback()`; dropping it uncommitted rolls back. See docs/adr/0004.
    pub async fn write_transaction(&self) -> Result<Arc<Transaction>> {
        let db = self.inner.clone();
        Ok(Arc::new(Transaction::begin(db, Access::Write).await?))
    }

    /// Begins a read transaction: a consistent snapshot on a reader until it ends.
    pub async fn read_transaction(&self) -> Result<Arc<Transaction>> {
        let db = self.inner.clone();
        Ok(Arc::new(Transaction::begin(db, Access::Read).await?))
    }

    /// Up to `limit` queued local writes, oldest first; absent when the queue is empty.
    pub async fn get_crud_batch(&self, limit: u32) -> Result<Option<Arc<CrudBatch>>> {
        let batch = off_thread(&self.inner, move |db| {
            db.read(|tx| psync_core::storage::crud::get_crud_batch(tx.connection(), limit as usize))
        });
        let db = self.inner.clone();
        Ok(batch.await?.map(|b| Arc::new(CrudBatch::new(db, b))))
    }

    /// The queued writes of the oldest local transaction; absent when the queue is empty.
    pub async fn get_next_crud_transaction(&self) -> Result<Option<Arc<CrudTransaction>>> {
        let transaction = off_thread(&self.inner, |db| {
            db.read(|tx| psync_core::storage::crud::get_next_crud_transaction(tx.connection()))
        });
        let db = self.inner.clone();
        Ok(transaction
            .await?
            .map(|t| Arc::new(CrudTransaction::new(db, t))))
    }

    /// The queued local transaction after the one whose last write has `after_client_id`
    /// (0: the oldest); absent at the end of the queue. Walks the queue without completing.
    pub async fn get_crud_transaction_after(
        &self,
        after_client_id: i64,
    ) -> Result<Option<Arc<CrudTransaction>>> {
        let transaction = off_thread(&self.inner, move |db| {
            db.read(|tx| {
                psync_core::storage::crud::get_crud_transaction_after(
                    tx.connection(),
                    after_client_id,
                )
            })
        });
        let db = self.inner.clone();
        Ok(transaction
            .await?
            .map(|t| Arc::new(CrudTransaction::new(db, t))))
    }

    /// How many writes are queued for upload, and their size.
    pub async fn upload_queue_stats(&self) -> Result<UploadQueueStats> {
        off_thread(&self.inner, |db| {
            db.read(|tx| psync_core::storage::crud::upload_queue_stats(tx.connection()))
        })
        .await
    }

    /// Calls `listener` with the tables changed by each committed write, by the names the app
    /// uses (`todos`, not `ps_data__todos`), until the returned handle is cancelled or
    /// dropped. With `tables` non-empty, only commits changing one of them are reported, and
    /// only those names. Changes that arrive while the listener is busy are merged into its
    /// next call.
    pub fn add_table_listener(
        &self,
        tables: Vec<String>,
        listener: Arc<dyn TableChangeListener>,
    ) -> Result<Arc<TaskHandle>> {
        if self.inner.is_closed() {
            return Err(SyncError::Closed);
        }
        let wanted: BTreeSet<String> = tables.into_iter().collect();
        let listener = HostRef::new(listener);
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        let registration = self.inner.add_table_listener(Box::new(move |changed| {
            let names: BTreeSet<String> = changed
                .iter()
                .map(|raw| app_table_name(raw))
                .filter(|name| wanted.is_empty() || wanted.contains(*name))
                .map(str::to_owned)
                .collect();
            if !names.is_empty() {
                // The receiver is gone only once the handle was cancelled.
                let _ = sender.send(names);
            }
        }));
        let task = runtime::spawn(async move {
            // Dropping the registration (task aborted) unregisters the core listener.
            let _registration = registration;
            while let Some(mut tables) = receiver.recv().await {
                while let Ok(more) = receiver.try_recv() {
                    tables.extend(more);
                }
                let names: Vec<String> = tables.into_iter().collect();
                if !listener.call_blocking(move |l| l.on_update(names)).await {
                    break;
                }
            }
        })?;
        Ok(Arc::new(TaskHandle::new(task)))
    }

    /// Starts syncing with the service `connector` points to, replacing any previous
    /// connection. Returns once the sync loop runs; progress shows in the status.
    pub async fn connect(
        &self,
        connector: Arc<dyn BackendConnector>,
        options: SyncOptions,
    ) -> Result<()> {
        let adapter = Arc::new(ConnectorAdapter {
            host: HostRef::new(connector),
        });
        let options = options.try_into()?;
        let client = self.client.clone();
        Ok(runtime::run(async move { client.connect(adapter, options).await }).await??)
    }

    /// Stops syncing; returns once background work has ended. Local data stays.
    pub async fn disconnect(&self) -> Result<()> {
        let client = self.client.clone();
        Ok(runtime::run(async move { client.disconnect().await }).await??)
    }

    /// Stops syncing and deletes all synced data and queued writes (logout); `clear_local`
    /// also deletes the rows of local-only tables (as every PowerSync SDK does by default),
    /// `soft` keeps downloaded buckets for a faster reconnect.
    pub async fn disconnect_and_clear(&self, clear_local: bool, soft: bool) -> Result<()> {
        let client = self.client.clone();
        let options = CoreClearOptions { clear_local, soft };
        Ok(runtime::run(async move { client.disconnect_and_clear(options).await }).await??)
    }

    /// The current sync status.
    pub fn current_status(&self) -> SyncStatus {
        self.client.status().into()
    }

    /// Calls `listener` with the current status now and after every change, until the
    /// returned handle is cancelled or dropped.
    pub fn add_status_listener(
        &self,
        listener: Arc<dyn StatusListener>,
    ) -> Result<Arc<TaskHandle>> {
        let listener = HostRef::new(listener);
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        let registration = self.client.add_status_listener(Box::new(move |status| {
            let _ = sender.send(status.clone());
        }));
        let task = runtime::spawn(async move {
            let _registration = registration;
            while let Some(mut status) = receiver.recv().await {
                // Only the newest status matters to a listener that fell behind.
                while let Ok(newer) = receiver.try_recv() {
                    status = newer;
                }
                let status = SyncStatus::from(status);
                if !listener.call_blocking(move |l| l.on_status(status)).await {
                    break;
                }
            }
        })?;
        Ok(Arc::new(TaskHandle::new(task)))
    }

    /// Waits until a complete sync happened, or all buckets of priority `<= priority`
    /// synced; `Timeout` after `timeout` (none = no limit), `Closed` when the database closes.
    pub async fn wait_for_first_sync(
        &self,
        priority: Option<i32>,
        timeout: Option<std::time::Duration>,
    ) -> Result<()> {
        let client = self.client.clone();
        Ok(
            runtime::run(async move { client.wait_for_first_sync(priority, timeout).await })
                .await??,
        )
    }

    /// A sync stream by name, with parameters as JSON object text (absent = none);
    /// `subscribe` to sync it.
    pub fn sync_stream(
        &self,
        name: String,
        parameters_json: Option<String>,
    ) -> Result<Arc<crate::streams::SyncStream>> {
        let parameters = crate::streams::parse_parameters(parameters_json)?;
        let stream = self.client.sync_stream(&name, parameters)?;
        Ok(Arc::new(crate::streams::SyncStream::new(stream)))
    }

    /// Asks the service for a checkpoint covering everything it received so far (needs an
    /// active `connect`). Wait on the result with `wait_for_sync`.
    pub async fn request_checkpoint(&self) -> Result<Arc<CheckpointRequest>> {
        let client = self.client.clone();
        let request = runtime::run(async move { client.request_checkpoint().await }).await??;
        Ok(Arc::new(CheckpointRequest::new(request)))
    }

    /// Calls `listener` with the rows of the query now and again after every commit that
    /// changes a table it reads, until the returned handle is cancelled or dropped (or the
    /// database closes). `throttle_ms` is the minimum time between two runs: a burst of commits is reported
    /// once.
    pub fn watch(
        &self,
        sql: String,
        params: Vec<Value>,
        throttle_ms: u64,
        listener: Arc<dyn QueryListener>,
    ) -> Result<Arc<TaskHandle>> {
        let listener = HostRef::new(listener);
        let mut watcher = self
            .client
            .watch(&sql, to_core_params(params))?
            .throttle(Duration::from_millis(throttle_ms));
        let task = runtime::spawn(async move {
            // An error (the database closed) ends the subscription.
            while let Ok(rows) = watcher.next().await {
                let rows: Vec<Row> = rows.into_iter().map(Row::from).collect();
                if !listener.call_blocking(move |l| l.on_update(rows)).await {
                    break;
                }
            }
        })?;
        Ok(Arc::new(TaskHandle::new(task)))
    }

    /// Stops syncing and closes the database. Idempotent; every later call fails with
    /// `SyncError.Closed`. Blocks until sync has stopped; call it off the UI thread.
    pub fn close(&self) -> Result<()> {
        if self.inner.is_closed() {
            return Ok(());
        }
        if shutdown::has_begun() {
            // Sync was stopped (or never restarts): close the connections directly.
            return Ok(self.inner.close()?);
        }
        runtime::block_on(self.close_async())?
    }

    /// `true` once `close()` was called.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}
