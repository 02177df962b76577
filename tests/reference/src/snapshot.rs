// SPDX-License-Identifier: Apache-2.0
//! Captures the observable state of a PowerSync database as JSON for comparison.
//!
//! The snapshot holds every user view (the app's tables) and the internal tables the sync
//! protocol touches, rows ordered by a stable key. Timestamps are normalised.

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use serde_json::{Map, Value};

use crate::normalise::normalise_timestamps;

/// Internal tables recorded, with the ORDER BY that makes their row order stable.
const INTERNAL_TABLES: &[(&str, &str)] = &[
    ("ps_kv", "key"),
    ("ps_buckets", "name"),
    ("ps_oplog", "bucket, op_id, row_type, row_id"),
    ("ps_crud", "id"),
    ("ps_updated_rows", "row_type, row_id"),
    ("ps_sync_state", "priority"),
    ("ps_untyped", "type, id"),
    ("ps_stream_subscriptions", "id"),
    ("ps_tx", "id"),
];

/// Converts one SQLite value to JSON (blobs as `{"$blob": "<hex>"}`).
pub fn sqlite_value_to_json(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => Value::from(f),
        ValueRef::Text(text) => Value::String(String::from_utf8_lossy(text).into_owned()),
        ValueRef::Blob(bytes) => {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            serde_json::json!({ "$blob": hex })
        }
    }
}

/// Runs a query, returning its rows as JSON objects keyed by column name.
pub fn query_rows(
    conn: &Connection,
    sql: &str,
    args: &[rusqlite::types::Value],
) -> rusqlite::Result<Vec<Value>> {
    let mut statement = conn.prepare(sql)?;
    let names: Vec<String> = statement.column_names().map(|s| s.to_string()).collect();
    let mut rows = statement.query(rusqlite::params_from_iter(args.iter()))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut object = Map::new();
        for (index, name) in names.iter().enumerate() {
            object.insert(name.clone(), sqlite_value_to_json(row.get_ref(index)?));
        }
        out.push(Value::Object(object));
    }
    Ok(out)
}

fn object_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE name = ?",
        [name],
        |row| row.get::<_, i64>(0),
    )
    .map(|count| count > 0)
}

/// The normalised observable state: `{"views": {name: rows}, "<ps table>": rows, ...}`.
pub fn snapshot(conn: &Connection) -> rusqlite::Result<Value> {
    let mut state = Map::new();
    let mut views = Map::new();
    let view_names: Vec<String> = {
        let mut statement = conn.prepare(
            "SELECT name FROM sqlite_master WHERE type = 'view' AND name NOT LIKE 'ps\\_%' ESCAPE '\\' ORDER BY name",
        )?;
        let names = statement.query_map([], |row| row.get(0))?;
        names.collect::<rusqlite::Result<_>>()?
    };
    for view in view_names {
        let quoted = view.replace('"', "\"\"");
        let rows = query_rows(
            conn,
            &format!("SELECT * FROM \"{quoted}\" ORDER BY id"),
            &[],
        )?;
        views.insert(view, Value::Array(rows));
    }
    state.insert("views".into(), Value::Object(views));
    for (table, order) in INTERNAL_TABLES {
        if object_exists(conn, table)? {
            let rows = query_rows(
                conn,
                &format!("SELECT * FROM {table} ORDER BY {order}"),
                &[],
            )?;
            state.insert((*table).into(), Value::Array(rows));
        }
    }
    let mut state = Value::Object(state);
    normalise_timestamps(&mut state);
    Ok(state)
}
