// SPDX-License-Identifier: Apache-2.0
//! Shared harness of the sync scenario suites: a test database driven through
//! `powersync_control`, with helpers for lines, instructions and table contents.
#![allow(dead_code)] // each suite uses a different subset

#[path = "../schema_common/mod.rs"]
pub mod common;

use psync_core::schema::{Column, Schema, Table};
use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

pub struct Db(pub common::TestDb);

pub fn open() -> Db {
    let db = common::open();
    db.apply(&Schema::new([
        Table::new("items", [Column::text("col")]),
        Table::new("logs", [Column::text("msg")]).insert_only(true),
    ]));
    Db(db)
}

pub fn code(e: &rusqlite::Error) -> (i32, String) {
    match e {
        rusqlite::Error::SqliteFailure(f, msg) => {
            (f.extended_code, msg.clone().unwrap_or_default())
        }
        other => panic!("unexpected error {other:?}"),
    }
}

impl Db {
    pub fn raw(&self, cmd: &str, payload: SqlValue) -> rusqlite::Result<SqlValue> {
        self.0.conn.execute_batch("BEGIN")?;
        let r = self.0.conn.query_row(
            "SELECT powersync_control(?, ?)",
            rusqlite::params![cmd, payload],
            |r| r.get::<_, SqlValue>(0),
        );
        match &r {
            Ok(_) => self.0.conn.execute_batch("COMMIT")?,
            Err(_) => self.0.conn.execute_batch("ROLLBACK")?,
        }
        r
    }

    pub fn control(&self, cmd: &str, payload: Option<&str>) -> Vec<Value> {
        let payload = payload.map_or(SqlValue::Null, |p| SqlValue::Text(p.into()));
        match self.raw(cmd, payload).expect(cmd) {
            SqlValue::Text(t) => serde_json::from_str::<Vec<Value>>(&t).expect("instructions"),
            SqlValue::Null => vec![],
            other => panic!("unexpected result {other:?}"),
        }
    }

    pub fn line(&self, line: Value) -> Vec<Value> {
        self.control("line_text", Some(&line.to_string()))
    }

    pub fn int(&self, cmd: &str, payload: SqlValue) -> rusqlite::Result<Option<i64>> {
        match self.raw(cmd, payload)? {
            SqlValue::Integer(i) => Ok(Some(i)),
            SqlValue::Null => Ok(None),
            other => panic!("unexpected {other:?}"),
        }
    }

    pub fn sql(&self, sql: &str) {
        self.0.conn.execute_batch(sql).expect(sql);
    }

    pub fn items(&self) -> Vec<String> {
        let mut stmt = self
            .0
            .conn
            .prepare("SELECT id FROM items ORDER BY id")
            .expect("prep");
        stmt.query_map([], |r| r.get(0))
            .expect("q")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    }

    pub fn kv(&self, key: &str) -> Option<i64> {
        psync_core::kv::get_i64(&self.0.conn, key).expect("kv")
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.0.count(sql)
    }
}

pub fn checkpoint(last_op: &str, wc: Option<&str>, buckets: Value) -> Value {
    let mut cp = json!({"last_op_id": last_op, "buckets": buckets});
    if let Some(w) = wc {
        cp["write_checkpoint"] = json!(w);
    }
    json!({ "checkpoint": cp })
}

pub fn put(bucket: &str, op_id: &str, id: &str, data: &str, checksum: i64) -> Value {
    json!({"data": {"bucket": bucket, "data": [
        {"op_id": op_id, "op": "PUT", "object_type": "items", "object_id": id,
         "data": data, "checksum": checksum}]}})
}

pub fn complete(last: &str) -> Value {
    json!({"checkpoint_complete": {"last_op_id": last}})
}

pub fn has_log(instr: &[Value], severity: &str, text: &str) -> bool {
    instr.iter().any(|i| {
        i.get("LogLine").is_some_and(|l| {
            l["severity"] == severity && l["line"].as_str().is_some_and(|s| s.contains(text))
        })
    })
}

pub fn kinds(instr: &[Value]) -> Vec<String> {
    instr
        .iter()
        .filter_map(|i| i.as_object().and_then(|o| o.keys().next().cloned()))
        .collect()
}
