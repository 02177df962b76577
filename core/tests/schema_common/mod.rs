// SPDX-License-Identifier: Apache-2.0
//! Test setup: a connection with the internal tables the schema/CRUD code needs and every
//! function of the schema, crud and kv modules registered.
#![allow(dead_code)]

use std::sync::Arc;

use psync_core::crud::{CrudConnectionState, register_functions as register_crud};
use psync_core::schema::{Schema, SchemaState, register_functions as register_schema};
use rusqlite::Connection;

/// Internal tables as core 0.5.3 writes them (fixture sqlite_master).
pub const INTERNAL_DDL: &str = "
CREATE TABLE ps_crud (id INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT, tx_id INTEGER);
CREATE TABLE ps_tx(id INTEGER PRIMARY KEY NOT NULL, current_tx INTEGER, next_tx INTEGER);
INSERT INTO ps_tx(id, current_tx, next_tx) VALUES (1, NULL, 1);
CREATE TABLE ps_kv(key TEXT PRIMARY KEY NOT NULL, value BLOB);
INSERT INTO ps_kv(key, value) VALUES ('client_id', 'test-test-test-test');
CREATE TABLE ps_updated_rows(
  row_type TEXT,
  row_id TEXT,
  PRIMARY KEY(row_type, row_id)) STRICT, WITHOUT ROWID;
CREATE TABLE ps_untyped(type TEXT NOT NULL, id TEXT NOT NULL, data TEXT, PRIMARY KEY (type, id));
CREATE TABLE ps_buckets(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  last_applied_op INTEGER NOT NULL DEFAULT 0,
  last_op INTEGER NOT NULL DEFAULT 0,
  add_checksum INTEGER NOT NULL DEFAULT 0,
  op_checksum INTEGER NOT NULL DEFAULT 0,
  pending_delete INTEGER NOT NULL DEFAULT 0
, count_at_last INTEGER NOT NULL DEFAULT 0, count_since_last INTEGER NOT NULL DEFAULT 0, downloaded_size INTEGER NOT NULL DEFAULT 0) STRICT;
CREATE TABLE ps_oplog(
  bucket INTEGER NOT NULL,
  op_id INTEGER NOT NULL,
  row_type TEXT,
  row_id TEXT,
  key TEXT,
  data TEXT,
  hash INTEGER NOT NULL) STRICT;
CREATE TABLE ps_sync_state (
  priority INTEGER NOT NULL PRIMARY KEY,
  last_synced_at INTEGER NOT NULL
) STRICT;
CREATE TABLE ps_stream_subscriptions (
  id INTEGER NOT NULL PRIMARY KEY,
  stream_name TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT FALSE,
  is_default INTEGER NOT NULL DEFAULT FALSE,
  local_priority INTEGER,
  local_params TEXT NOT NULL DEFAULT 'null',
  ttl INTEGER,
  expires_at INTEGER,
  last_synced_at INTEGER,
  UNIQUE (stream_name, local_params)
) STRICT;
";

pub struct TestDb {
    pub conn: Connection,
    pub schema_state: Arc<SchemaState>,
    pub crud_state: Arc<CrudConnectionState>,
}

/// Registers everything on an existing connection (tables must exist already or be created).
pub fn register(conn: Connection) -> TestDb {
    let schema_state = Arc::new(SchemaState::default());
    register_schema(&conn, schema_state.clone()).expect("schema functions");
    let crud_state = register_crud(&conn, schema_state.clone()).expect("crud functions");
    psync_core::kv::register_functions(&conn).expect("kv functions");
    TestDb {
        conn,
        schema_state,
        crud_state,
    }
}

pub fn open() -> TestDb {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(INTERNAL_DDL).expect("internal tables");
    register(conn)
}

impl TestDb {
    /// Applies a schema through the SQL function, in its own transaction.
    pub fn apply_schema(&self, json: &str) {
        self.conn.execute_batch("BEGIN").expect("begin");
        self.conn
            .query_row("SELECT powersync_replace_schema(?)", [json], |_| Ok(()))
            .expect("replace schema");
        self.conn.execute_batch("COMMIT").expect("commit");
    }

    pub fn apply(&self, schema: &Schema) {
        self.apply_schema(&schema.to_json().expect("json"));
    }

    /// `(id, tx_id, data)` of every ps_crud row.
    pub fn crud_rows(&self) -> Vec<(i64, Option<i64>, String)> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, tx_id, data FROM ps_crud ORDER BY id")
            .expect("prepare");
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    }

    pub fn crud_json(&self) -> Vec<serde_json::Value> {
        self.crud_rows()
            .into_iter()
            .map(|(_, _, d)| serde_json::from_str(&d).expect("json"))
            .collect()
    }

    pub fn tx_ids(&self) -> Vec<Option<i64>> {
        self.crud_rows().into_iter().map(|(_, tx, _)| tx).collect()
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.conn.query_row(sql, [], |r| r.get(0)).expect("count")
    }

    pub fn kv_keys(&self) -> Vec<(String, Option<i64>)> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, CAST(value AS INTEGER) FROM ps_kv WHERE key != 'client_id' ORDER BY key")
            .expect("prepare");
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    }

    pub fn schema_version(&self) -> i64 {
        self.count("PRAGMA schema_version")
    }
}
