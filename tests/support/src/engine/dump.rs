// SPDX-License-Identifier: Apache-2.0
//! Database state as JSON in the fixtures' shape (`tests/fixtures/*.expected.json`), fixture
//! copies, and databases at a given internal-schema version.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use psync_core::Database;
use psync_core::storage::DatabaseState;
use rusqlite::Connection;
use serde_json::{Value as Json, json};

use crate::paths::{fixture_db, fixtures_dir};

/// A fixture's expected state (`tests/fixtures/<name>.expected.json`).
pub fn expected(name: &str) -> Json {
    let text = std::fs::read_to_string(fixtures_dir().join(format!("{name}.expected.json")))
        .expect("read expected json");
    serde_json::from_str(&text).expect("parse expected json")
}

/// Copies a fixture into a fresh temp dir (fixtures are read-only and must stay untouched).
pub fn copy_fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(format!("{name}.db"));
    std::fs::copy(fixture_db(name), &path).expect("copy fixture");
    if !crud_module_registered() {
        open_plain(&path)
            .execute_batch(
                "CREATE TABLE powersync_crud(op, id, type, data, old_values, metadata, options)",
            )
            .expect("stand-in for the CRUD module");
    }
    (dir, path)
}

/// One SQLite value as JSON (blobs as byte arrays).
pub fn sql_to_json(value: rusqlite::types::ValueRef<'_>) -> Json {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => Json::Null,
        ValueRef::Integer(i) => json!(i),
        ValueRef::Real(f) => json!(f),
        ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => json!(b),
    }
}

/// Every row of `sql`, as JSON values.
pub fn query_rows(conn: &Connection, sql: &str) -> Vec<Vec<Json>> {
    let mut stmt = conn.prepare(sql).expect("prepare");
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |row| {
            (0..n)
                .map(|i| row.get_ref(i).map(sql_to_json))
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .expect("query");
    rows.collect::<rusqlite::Result<_>>().expect("rows")
}

/// The column names of `table`, in order.
pub fn column_names(conn: &Connection, table: &str) -> Vec<String> {
    query_rows(
        conn,
        &format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
    )
    .into_iter()
    .filter_map(|r| r[0].as_str().map(str::to_owned))
    .collect()
}

/// The state dump in the shape of the fixtures' `expected.json` (minus `core_version`).
pub fn dump_state(conn: &Connection) -> Json {
    let bucket_columns = column_names(conn, "ps_buckets");
    let buckets: Vec<Json> = query_rows(conn, "SELECT * FROM ps_buckets ORDER BY name")
        .into_iter()
        .map(|row| {
            let object: serde_json::Map<String, Json> =
                bucket_columns.iter().cloned().zip(row).collect();
            Json::Object(object)
        })
        .collect();
    let kv: serde_json::Map<String, Json> = query_rows(conn, "SELECT key, value FROM ps_kv")
        .into_iter()
        .map(|r| (r[0].as_str().unwrap_or_default().to_owned(), r[1].clone()))
        .collect();
    let crud: Vec<Json> = query_rows(conn, "SELECT id, tx_id, data FROM ps_crud ORDER BY id")
        .into_iter()
        .map(|r| {
            let data: Json = serde_json::from_str(r[2].as_str().unwrap_or("null")).expect("json");
            json!({"id": r[0], "tx_id": r[1], "data": data})
        })
        .collect();
    let oplog = query_rows(
        conn,
        "SELECT b.name, o.op_id, o.row_type, o.row_id, o.key, o.hash, o.data
           FROM ps_oplog o JOIN ps_buckets b ON b.id = o.bucket ORDER BY b.name, o.op_id",
    );
    let mut data = serde_json::Map::new();
    for table in query_rows(
        conn,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'ps_data__*' ORDER BY name",
    ) {
        let table = table[0].as_str().unwrap_or_default().to_owned();
        let rows = query_rows(
            conn,
            &format!("SELECT id, data FROM \"{table}\" ORDER BY id"),
        );
        data.insert(
            table.trim_start_matches("ps_data__").to_owned(),
            json!(rows),
        );
    }
    json!({
        "schema_version": query_rows(conn, "SELECT max(id) FROM ps_migration")[0][0],
        "ps_buckets": buckets,
        "ps_kv": kv,
        "ps_crud": crud,
        "ps_oplog": oplog,
        "ps_updated_rows": query_rows(conn, "SELECT row_type, row_id FROM ps_updated_rows ORDER BY 1, 2"),
        "ps_sync_state": query_rows(conn, "SELECT priority, last_synced_at, typeof(last_synced_at) FROM ps_sync_state ORDER BY 1"),
        "ps_tx": query_rows(conn, "SELECT id, current_tx, next_tx FROM ps_tx ORDER BY id"),
        "sqlite_sequence": query_rows(conn, "SELECT name, seq FROM sqlite_sequence ORDER BY name"),
        "ps_buckets_columns": bucket_columns,
        "ps_migration_ids": query_rows(conn, "SELECT id FROM ps_migration ORDER BY id").into_iter().map(|r| r[0].clone()).collect::<Vec<_>>(),
        "data": data,
    })
}

/// `sqlite_master` without SQLite's own objects, as `[type, name, tbl_name, sql]` rows.
pub fn dump_master(conn: &Connection) -> Vec<Vec<Json>> {
    query_rows(
        conn,
        "SELECT type, name, tbl_name, sql FROM sqlite_master
          WHERE name NOT LIKE 'sqlite_%' AND name != 'powersync_crud' ORDER BY type, name",
    )
}

/// `state` without its `core_version` field.
pub fn strip_core_version(mut state: Json) -> Json {
    if let Some(object) = state.as_object_mut() {
        object.remove("core_version");
    }
    state
}

/// Asserts that every field of `expected` matches the dump of `conn`.
pub fn assert_state(conn: &Connection, expected: &Json, what: &str) {
    let actual = dump_state(conn);
    let expected = strip_core_version(expected.clone());
    let (Some(actual), Some(expected)) = (actual.as_object(), expected.as_object()) else {
        panic!("{what}: not objects");
    };
    for (key, value) in expected {
        assert_eq!(actual.get(key), Some(value), "{what}: field {key}");
    }
}

/// A connection without the core's functions.
pub fn open_plain(path: &Path) -> Connection {
    Connection::open(path).expect("plain open")
}

/// Migrates `db` to internal-schema `version` (up or down).
pub fn migrate_to(db: &Database, version: i64) {
    db.write(|tx| {
        tx.get(&format!("SELECT powersync_test_migration({version})"), &[])?;
        Ok(())
    })
    .expect("test migration");
}

/// Runs `powersync_init()` on `db`.
pub fn init(db: &Database) {
    db.write(|tx| {
        tx.get("SELECT powersync_init()", &[])?;
        Ok(())
    })
    .expect("init");
}

/// The fixtures' generated triggers write into the `powersync_crud` virtual table, and
/// SQLite re-checks triggers when a migration renames or drops a column, so migrating them
/// needs that name to resolve. Until the CRUD module (schema part of the core) is
/// registered, a plain table of that name stands in; it is left out of every comparison.
pub fn crud_module_registered() -> bool {
    let db = Database::open_in_memory().expect("open");
    let found = db
        .get_optional(
            "SELECT 1 FROM pragma_module_list WHERE name = 'powersync_crud'",
            &[],
        )
        .expect("module list");
    found.is_some()
}

/// A database created by the core from nothing, up to `version`, through a bare connection.
pub fn bare_at_version(path: &Path, version: i64) -> Connection {
    let conn = Connection::open(path).expect("open");
    psync_core::storage::register(&conn, &Arc::new(DatabaseState::default())).expect("register");
    conn.execute_batch(&format!(
        "BEGIN; SELECT powersync_test_migration({version}); COMMIT;"
    ))
    .expect("migrate");
    conn
}

/// The core's own tables and indexes in `sqlite_master`.
pub fn internal_master(conn: &Connection) -> Vec<Vec<Json>> {
    query_rows(
        conn,
        "SELECT type, name, tbl_name, sql FROM sqlite_master
          WHERE name GLOB 'ps_*' AND name NOT GLOB 'ps_data_*' AND type IN ('table', 'index')
          ORDER BY type, name",
    )
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
