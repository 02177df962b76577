// SPDX-License-Identifier: Apache-2.0
//! Query watches: re-run a query after commits that touch a table it reads.
//!
//! The tables a query reads are found from its `EXPLAIN` program: every `OpenRead` on the
//! main schema names a root page, which `sqlite_master` maps to a table (indexes map to their
//! table). Views are expanded by SQLite, so a query on view `todos` reads `ps_data__todos`.

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::Notify;

use super::blocking;
use super::clock::Clock;
use crate::db::TableListenerHandle;
use crate::{Database, Result, Row, Value};

/// The raw tables `sql` reads.
pub(crate) fn tables_read(db: &Database, sql: &str, params: &[Value]) -> Result<BTreeSet<String>> {
    let program = db.get_all(&format!("EXPLAIN {sql}"), params)?;
    let mut pages = BTreeSet::new();
    for row in program {
        let opcode = row.get_by_name("opcode").and_then(Value::as_str);
        let database = row.get_by_name("p3").and_then(Value::as_i64);
        if opcode == Some("OpenRead")
            && database == Some(0)
            && let Some(page) = row.get_by_name("p2").and_then(Value::as_i64)
        {
            pages.insert(page);
        }
    }
    let mut tables = BTreeSet::new();
    for page in pages {
        if let Some(row) = db.get_optional(
            "SELECT tbl_name FROM sqlite_master WHERE rootpage = ?",
            &[Value::Integer(page)],
        )? && let Some(name) = row.get(0).and_then(Value::as_str)
        {
            tables.insert(name.to_owned());
        }
    }
    Ok(tables)
}

/// The name an app uses for a raw storage table.
pub(crate) fn friendly_name(raw: &str) -> &str {
    crate::storage::schema::app_table_name(raw)
}

/// Wakes on commits touching a set of tables.
pub struct ChangeWatcher {
    notify: Arc<Notify>,
    _listener: TableListenerHandle,
}

impl ChangeWatcher {
    pub(crate) fn new(db: &Database, tables: BTreeSet<String>) -> Self {
        let wanted: BTreeSet<String> = tables.iter().map(|t| friendly_name(t).to_owned()).collect();
        let notify = Arc::new(Notify::new());
        let waker = Arc::clone(&notify);
        let listener = db.add_table_listener(Box::new(move |changed| {
            if wanted.is_empty() || changed.iter().any(|t| wanted.contains(friendly_name(t))) {
                waker.notify_one();
            }
        }));
        Self {
            notify,
            _listener: listener,
        }
    }

    /// Resolves after the next relevant commit (or at once if one happened since the last
    /// call).
    pub async fn changed(&self) {
        self.notify.notified().await;
    }
}

/// Yields a query's rows initially and after each relevant commit.
pub struct QueryWatcher {
    db: Database,
    sql: String,
    params: Vec<Value>,
    tables: BTreeSet<String>,
    changes: ChangeWatcher,
    first: bool,
    /// Minimum time between two runs; see [`QueryWatcher::throttle`].
    throttle: std::time::Duration,
    last_run: Option<std::time::Instant>,
    /// The client's clock (the throttle waits on it).
    clock: Arc<dyn Clock>,
}

impl QueryWatcher {
    pub(crate) fn new(
        db: Database,
        clock: Arc<dyn Clock>,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<Self> {
        let tables = tables_read(&db, sql, &params)?;
        let changes = ChangeWatcher::new(&db, tables.clone());
        Ok(Self {
            db,
            sql: sql.to_owned(),
            params,
            tables,
            changes,
            first: true,
            throttle: std::time::Duration::ZERO,
            last_run: None,
            clock,
        })
    }

    /// The raw tables the query reads.
    pub fn tables(&self) -> &BTreeSet<String> {
        &self.tables
    }

    /// The watcher as a `Stream` of result sets.
    pub fn into_stream(self) -> impl futures_util::Stream<Item = Result<Vec<Row>>> + Send {
        futures_util::stream::unfold(self, |mut watcher| async move {
            let rows = watcher.next().await;
            Some((rows, watcher))
        })
    }

    /// Runs the query at most once per `interval`: a burst of commits yields one run once
    /// the interval since the previous run has passed, which sees all of them.
    pub fn throttle(mut self, interval: std::time::Duration) -> Self {
        self.throttle = interval;
        self
    }

    /// The rows now (first call) or after the next relevant commit.
    pub async fn next(&mut self) -> Result<Vec<Row>> {
        if self.first {
            self.first = false;
        } else if self.tables.is_empty() {
            // Reads no table: the result never changes.
            std::future::pending::<()>().await;
        } else {
            self.changes.changed().await;
            if let Some(last) = self.last_run {
                let since = self.clock.now().saturating_duration_since(last);
                let wait = self.throttle.saturating_sub(since);
                if !wait.is_zero() {
                    self.clock.sleep(wait).await;
                }
            }
        }
        self.last_run = Some(self.clock.now());
        let sql = self.sql.clone();
        let params = self.params.clone();
        blocking(&self.db, move |db| db.get_all(&sql, &params)).await
    }
}
