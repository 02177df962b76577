// SPDX-License-Identifier: Apache-2.0
//! psync-core's integration tests: a plain connection with every core SQL function
//! registered, the sync engine driven through SQL or its typed API (each call in its own
//! transaction, as the SDKs do), state dumps in the fixtures' shape, and BSON sync lines.
//!
//! The core's internal modules the tests reach into are re-exported here, so that a move
//! inside psync-core changes one line of this file, not every test.

mod dump;

pub use crate::paths::{FIXTURE_A, FIXTURE_C, fixture_db, fixtures_dir};
pub use dump::*;
pub use psync_core::storage::DatabaseState;
pub use psync_core::storage::{crud, gate, hot_statements, kv, sync};

use std::sync::Arc;

use psync_core::schema::{Column, Schema, Table};
use rusqlite::Connection;
use rusqlite::types::{ToSql, Value as SqlValue};
use sync::{Instruction, SyncCommand};

/// A connection with the core's functions and the state they share.
pub struct TestDb {
    /// The connection.
    pub conn: Connection,
    /// The state the functions share (schema, sync engine).
    pub state: Arc<DatabaseState>,
}

/// Registers every core function (the real registration the extension uses) on `conn`.
pub fn register(conn: Connection) -> TestDb {
    let state = Arc::new(DatabaseState::default());
    psync_core::storage::register(&conn, &state).expect("register functions");
    TestDb { conn, state }
}

/// An in-memory database migrated by the core (`powersync_init`) with the scenarios' client id.
pub fn open() -> TestDb {
    let db = register(Connection::open_in_memory().expect("open"));
    db.conn
        .execute_batch(
            "BEGIN; SELECT powersync_init();
             UPDATE ps_kv SET value = 'test-test-test-test' WHERE key = 'client_id'; COMMIT;",
        )
        .expect("migrate");
    db
}

/// [`open`] with the schema most engine tests sync into: one table `items(col TEXT)`.
pub fn open_items() -> TestDb {
    let db = open();
    db.apply(&Schema::new([Table::new("items", [Column::text("col")])]));
    db
}

impl TestDb {
    /// Runs `body` in a transaction: committed when it succeeds, rolled back when it fails
    /// (as the client's `Database::write` does).
    pub fn transaction<T, E>(
        &self,
        body: impl FnOnce(&Connection) -> Result<T, E>,
    ) -> Result<T, E> {
        self.conn.execute_batch("BEGIN").expect("begin");
        let result = body(&self.conn);
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        self.conn.execute_batch(end).expect("end transaction");
        result
    }

    /// `powersync_control(command, payload)` through SQL, in its own transaction.
    pub fn control_sql(&self, command: &str, payload: impl ToSql) -> rusqlite::Result<SqlValue> {
        self.transaction(|conn| {
            conn.query_row(
                "SELECT powersync_control(?, ?)",
                rusqlite::params![command, payload],
                |r| r.get(0),
            )
        })
    }

    /// [`TestDb::control_sql`] expecting success, with the instructions parsed (none for NULL).
    pub fn control_json(&self, command: &str, payload: Option<&str>) -> Vec<serde_json::Value> {
        match self.control_sql(command, payload).expect(command) {
            SqlValue::Text(text) => serde_json::from_str(&text).expect("instructions"),
            SqlValue::Null => vec![],
            other => panic!("{command}: unexpected {other:?}"),
        }
    }

    /// One command through the engine's typed API at time `now` (µs), in its own transaction.
    pub fn control_at(
        &self,
        command: SyncCommand,
        now: i64,
    ) -> psync_core::Result<Vec<Instruction>> {
        self.transaction(|conn| self.state.sync.control(conn, command, now))
    }

    /// Several lines in one transaction through `control_lines` (data ops stored sorted).
    pub fn control_lines(&self, commands: &[SyncCommand]) -> psync_core::Result<Vec<Instruction>> {
        self.transaction(|conn| self.state.sync.control_lines(conn, commands, 0))
    }

    /// Applies a schema through the SQL function, in its own transaction.
    pub fn apply_schema(&self, json: &str) {
        self.transaction(|conn| {
            conn.query_row("SELECT powersync_replace_schema(?)", [json], |_| Ok(()))
        })
        .expect("replace schema");
    }

    /// Applies `schema` (see [`TestDb::apply_schema`]).
    pub fn apply(&self, schema: &Schema) {
        self.apply_schema(&schema.to_json().expect("json"));
    }

    /// Every row of `sql`, each mapped by `row`.
    pub fn rows<T>(
        &self,
        sql: &str,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Vec<T> {
        rows(&self.conn, sql, row)
    }

    /// `(id, tx_id, data)` of every ps_crud row.
    pub fn crud_rows(&self) -> Vec<(i64, Option<i64>, String)> {
        self.rows("SELECT id, tx_id, data FROM ps_crud ORDER BY id", |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
    }

    /// The `data` of every ps_crud row, parsed.
    pub fn crud_json(&self) -> Vec<serde_json::Value> {
        self.crud_rows()
            .into_iter()
            .map(|(_, _, d)| serde_json::from_str(&d).expect("json"))
            .collect()
    }

    /// The `tx_id` of every ps_crud row.
    pub fn tx_ids(&self) -> Vec<Option<i64>> {
        self.crud_rows().into_iter().map(|(_, tx, _)| tx).collect()
    }

    /// The single integer `sql` returns.
    pub fn count(&self, sql: &str) -> i64 {
        self.conn.query_row(sql, [], |r| r.get(0)).expect("count")
    }

    /// The ps_kv entries other than the client id, values as integers.
    pub fn kv_keys(&self) -> Vec<(String, Option<i64>)> {
        self.rows(
            "SELECT key, CAST(value AS INTEGER) FROM ps_kv WHERE key != 'client_id' ORDER BY key",
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// `PRAGMA schema_version`.
    pub fn schema_version(&self) -> i64 {
        self.count("PRAGMA schema_version")
    }
}

/// Every row of `sql` on `conn`, each mapped by `row`.
pub fn rows<T>(
    conn: &Connection,
    sql: &str,
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Vec<T> {
    let mut statement = conn.prepare(sql).expect("prepare");
    statement
        .query_map([], row)
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows")
}

/// A BSON sync line for `value` (a JSON object), encoded by the `bson` crate, an encoder
/// independent of the core's reader.
pub fn bson_line(value: &serde_json::Value) -> Vec<u8> {
    let document = bson::to_document(value).expect("a JSON object");
    let mut bytes = Vec::new();
    document.to_writer(&mut bytes).expect("encode");
    bytes
}
