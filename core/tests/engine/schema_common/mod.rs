// SPDX-License-Identifier: Apache-2.0
//! Test setup: a plain connection with every core SQL function registered and the internal
//! tables created by the core's own migrations.
#![allow(dead_code)]

use std::sync::Arc;

use psync_core::schema::Schema;
use psync_core::storage::DatabaseState;
use rusqlite::Connection;

pub struct TestDb {
    pub conn: Connection,
    pub state: Arc<DatabaseState>,
}

/// Registers every core function (the real `psync_core::storage::register`) on `conn`.
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

/// The sync tables as JSON, for comparing two databases (the client id is left out).
pub fn sync_tables(conn: &Connection) -> serde_json::Value {
    use rusqlite::types::Value as SqlValue;
    use serde_json::{Value, json};
    let query = |sql: &str| -> Value {
        let mut stmt = conn.prepare(sql).expect("prepare");
        let n = stmt.column_count();
        let rows: Vec<Value> = stmt
            .query_map([], |r| {
                Ok(Value::Array(
                    (0..n)
                        .map(|i| match r.get::<_, SqlValue>(i) {
                            Ok(SqlValue::Integer(v)) => json!(v),
                            Ok(SqlValue::Text(t)) => json!(t),
                            Ok(SqlValue::Real(f)) => json!(f),
                            _ => Value::Null,
                        })
                        .collect(),
                ))
            })
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        Value::Array(rows)
    };
    json!({
        "buckets": query("SELECT name, last_applied_op, last_op, add_checksum, op_checksum, count_at_last, count_since_last, downloaded_size FROM ps_buckets ORDER BY name"),
        "oplog": query("SELECT b.name, o.op_id, o.row_type, o.row_id, o.key, o.data, o.hash FROM ps_oplog o JOIN ps_buckets b ON b.id = o.bucket ORDER BY b.name, o.op_id"),
        "updated": query("SELECT row_type, row_id FROM ps_updated_rows ORDER BY 1, 2"),
        "items": query("SELECT id, data FROM ps_data__items ORDER BY id"),
        "untyped": query("SELECT type, id, data FROM ps_untyped ORDER BY 1, 2"),
        "kv": query("SELECT key, value FROM ps_kv WHERE key != 'client_id' ORDER BY key"),
        "sync_state": query("SELECT priority FROM ps_sync_state ORDER BY priority"),
    })
}

/// A small seeded generator for reproducible random test histories.
pub struct XorShift(pub u64);

impl XorShift {
    /// The next value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A BSON sync line for `value` (a JSON object), encoded by the `bson` crate, an encoder
/// independent of the core's reader.
pub fn bson_line(value: &serde_json::Value) -> Vec<u8> {
    let document = bson::to_document(value).expect("a JSON object");
    let mut bytes = Vec::new();
    document.to_writer(&mut bytes).expect("encode");
    bytes
}
