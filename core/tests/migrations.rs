// SPDX-License-Identifier: Apache-2.0
//! Migration fidelity: fixture files written by real PowerSync cores, the scenarios of
//! section I of `spec/scenarios.md`, and files the core must refuse.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use psync_core::state::DatabaseState;
use psync_core::{Database, ErrorKind};
use rusqlite::Connection;
use serde_json::{Value as Json, json};

const FIXTURES: &str = "/work/shared/fixtures";
const FIXTURE_A: &str = "a-legacy-0.4.12-pending-max";
const FIXTURE_C: &str = "c-0.5.3-checkpoint-requests";
const MAX_OP_ID: i64 = i64::MAX;

fn fixture_dir() -> PathBuf {
    std::env::var_os("PSYNC_FIXTURES").map_or_else(|| PathBuf::from(FIXTURES), PathBuf::from)
}

fn expected(name: &str) -> Json {
    let text = std::fs::read_to_string(fixture_dir().join(format!("{name}.expected.json")))
        .expect("read expected json");
    serde_json::from_str(&text).expect("parse expected json")
}

/// Copies a fixture into a fresh temp dir (fixtures are read-only and must stay untouched).
fn copy_fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(format!("{name}.db"));
    std::fs::copy(fixture_dir().join(format!("{name}.db")), &path).expect("copy fixture");
    if !crud_module_registered() {
        open_plain(&path)
            .execute_batch(
                "CREATE TABLE powersync_crud(op, id, type, data, old_values, metadata, options)",
            )
            .expect("stand-in for the CRUD module");
    }
    (dir, path)
}

fn sql_to_json(value: rusqlite::types::ValueRef<'_>) -> Json {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => Json::Null,
        ValueRef::Integer(i) => json!(i),
        ValueRef::Real(f) => json!(f),
        ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => json!(b),
    }
}

fn query_rows(conn: &Connection, sql: &str) -> Vec<Vec<Json>> {
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

fn column_names(conn: &Connection, table: &str) -> Vec<String> {
    query_rows(
        conn,
        &format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
    )
    .into_iter()
    .filter_map(|r| r[0].as_str().map(str::to_owned))
    .collect()
}

/// The state dump in the shape of the fixtures' `expected.json` (minus `core_version`).
fn dump_state(conn: &Connection) -> Json {
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
fn dump_master(conn: &Connection) -> Vec<Vec<Json>> {
    query_rows(
        conn,
        "SELECT type, name, tbl_name, sql FROM sqlite_master
          WHERE name NOT LIKE 'sqlite_%' AND name != 'powersync_crud' ORDER BY type, name",
    )
}

fn strip_core_version(mut state: Json) -> Json {
    if let Some(object) = state.as_object_mut() {
        object.remove("core_version");
    }
    state
}

fn assert_state(conn: &Connection, expected: &Json, what: &str) {
    let actual = dump_state(conn);
    let expected = strip_core_version(expected.clone());
    let (Some(actual), Some(expected)) = (actual.as_object(), expected.as_object()) else {
        panic!("{what}: not objects");
    };
    for (key, value) in expected {
        assert_eq!(actual.get(key), Some(value), "{what}: field {key}");
    }
}

fn open_plain(path: &Path) -> Connection {
    Connection::open(path).expect("plain open")
}

fn migrate_to(db: &Database, version: i64) {
    db.write(|tx| {
        tx.get(&format!("SELECT powersync_test_migration({version})"), &[])?;
        Ok(())
    })
    .expect("test migration");
}

fn init(db: &Database) {
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
fn crud_module_registered() -> bool {
    let db = Database::open_in_memory().expect("open");
    let found = db
        .get_optional(
            "SELECT 1 FROM pragma_module_list WHERE name = 'powersync_crud'",
            &[],
        )
        .expect("module list");
    found.is_some()
}

/// Opens the fixture copy through the core and checks the migrated state and schema.
fn check_fixture_after_init(name: &str) {
    let expected = expected(name);
    let (_dir, path) = copy_fixture(name);
    let db = Database::open(&path).expect("open fixture through the core");
    db.close().expect("close");
    let conn = open_plain(&path);
    assert_state(
        &conn,
        &expected["expected"]["after_0.5.3_powersync_init"],
        name,
    );

    // sqlite_master: as written, except the objects the init is recorded to replace, which
    // must then be exactly as the 0.5.3 core writes them (fixture c's layout).
    let changed = &expected["expected"]["sqlite_master_changed_by_init"];
    let removed: Vec<&str> = changed["removed"]
        .as_array()
        .expect("removed")
        .iter()
        .filter_map(Json::as_str)
        .collect();
    let added: Vec<&str> = changed["added"]
        .as_array()
        .expect("added")
        .iter()
        .filter_map(Json::as_str)
        .collect();
    let v14_master = self::expected(FIXTURE_C)["as_written"]["sqlite_master"].clone();
    let mut expected_master: Vec<Json> = expected["as_written"]["sqlite_master"]
        .as_array()
        .expect("master")
        .iter()
        .filter(|row| !removed.contains(&row[1].as_str().unwrap_or_default()))
        .cloned()
        .collect();
    for row in v14_master.as_array().expect("master") {
        if added.contains(&row[1].as_str().unwrap_or_default()) {
            expected_master.push(row.clone());
        }
    }
    expected_master.sort_by_key(|row| (row[0].to_string(), row[1].to_string()));
    let actual: Vec<Json> = dump_master(&conn).into_iter().map(Json::from).collect();
    assert_eq!(actual, expected_master, "{name}: sqlite_master after init");
}

#[test]
fn fixture_a_legacy_v12_migrates_to_v14() {
    check_fixture_after_init(FIXTURE_A);
}

#[test]
fn fixture_c_v14_is_unchanged_by_open() {
    check_fixture_after_init(FIXTURE_C);
    // Opening a v14 file must not rewrite it: migration rows stay as the 0.5.3 core wrote them.
    let (_dir, path) = copy_fixture(FIXTURE_C);
    let before = query_rows(
        &open_plain(&path),
        "SELECT id, down_migrations FROM ps_migration ORDER BY id",
    );
    Database::open(&path).expect("open").close().expect("close");
    let after = query_rows(
        &open_plain(&path),
        "SELECT id, down_migrations FROM ps_migration ORDER BY id",
    );
    assert_eq!(before, after);
}

fn check_fixture_downgrades(name: &str) {
    let expected = expected(name);
    let steps = &expected["expected"];
    let (_dir, path) = copy_fixture(name);
    let db = Database::open(&path).expect("open");
    migrate_to(&db, 13);
    {
        let conn = open_plain(&path);
        assert_state(
            &conn,
            &steps["after_0.5.3_init_then_test_migration(13)"],
            "down to 13",
        );
    }
    migrate_to(&db, 12);
    {
        let conn = open_plain(&path);
        assert_state(
            &conn,
            &steps["after_0.5.3_init_then_test_migration(12)"],
            "down to 12",
        );
        // What an old (0.4.12) core sees when it opens our file: the same.
        assert_state(
            &conn,
            &steps["after_0.5.3_init_then_0.4.12_powersync_init"],
            "old core",
        );
    }
    init(&db);
    db.close().expect("close");
    let conn = open_plain(&path);
    assert_state(
        &conn,
        &steps["after_downgrade_then_0.5.3_init_again"],
        "re-upgrade",
    );
}

#[test]
fn fixture_a_down_migrations_restore_local_bucket() {
    check_fixture_downgrades(FIXTURE_A);
}

#[test]
fn fixture_c_down_migrations_restore_local_bucket() {
    check_fixture_downgrades(FIXTURE_C);
}

/// A database created by the core from nothing, up to `version`, through a bare connection.
fn bare_at_version(path: &Path, version: i64) -> Connection {
    let conn = Connection::open(path).expect("open");
    psync_core::ext::register_functions(&conn, &Arc::new(DatabaseState::default()))
        .expect("register");
    conn.execute_batch(&format!(
        "BEGIN; SELECT powersync_test_migration({version}); COMMIT;"
    ))
    .expect("migrate");
    conn
}

fn internal_master(conn: &Connection) -> Vec<Vec<Json>> {
    query_rows(
        conn,
        "SELECT type, name, tbl_name, sql FROM sqlite_master
          WHERE name GLOB 'ps_*' AND name NOT GLOB 'ps_data_*' AND type IN ('table', 'index')
          ORDER BY type, name",
    )
}

/// I.82: a fresh database has exactly the v14 layout and migration rows the 0.5.3 core writes.
#[test]
fn fresh_database_matches_reference_v14_layout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fresh.db");
    Database::open(&path).expect("open").close().expect("close");
    let ours = open_plain(&path);

    let (_fixture_dir, fixture) = copy_fixture(FIXTURE_C);
    let reference = open_plain(&fixture);
    assert_eq!(internal_master(&ours), internal_master(&reference));
    let migrations = "SELECT id, down_migrations FROM ps_migration ORDER BY id";
    assert_eq!(
        query_rows(&ours, migrations),
        query_rows(&reference, migrations)
    );
    assert_eq!(
        query_rows(&ours, "SELECT * FROM ps_tx"),
        vec![vec![json!(1), Json::Null, json!(1)]]
    );
    assert_eq!(
        query_rows(&ours, "SELECT key FROM ps_kv"),
        vec![vec![json!("client_id")]]
    );
}

/// Compares layouts structurally: columns (name, type, not-null, default, pk) and indexes.
fn layout(conn: &Connection) -> BTreeMap<String, Json> {
    let mut out = BTreeMap::new();
    for row in query_rows(
        conn,
        "SELECT name, type FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND type IN ('table', 'index')",
    ) {
        let name = row[0].as_str().unwrap_or_default().to_owned();
        let shape = if row[1] == "table" {
            json!(query_rows(
                conn,
                &format!(
                    "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('{name}') ORDER BY cid"
                )
            ))
        } else {
            json!(query_rows(
                conn,
                &format!("SELECT seqno, name FROM pragma_index_info('{name}') ORDER BY seqno")
            ))
        };
        out.insert(name, shape);
    }
    out
}

/// I.83 + I.84: from v14 down to each version gives that version's layout; from there up
/// again gives exactly the fresh v14 schema.
#[test]
fn down_to_every_version_and_back_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fresh14 = bare_at_version(&dir.path().join("fresh14.db"), 14);
    for version in (2..=13).rev() {
        let reference = bare_at_version(&dir.path().join(format!("ref{version}.db")), version);
        let path = dir.path().join(format!("down{version}.db"));
        let db = Database::open(&path).expect("open");
        // Some data that every version can hold.
        db.write(|tx| {
            tx.execute(
                "INSERT INTO ps_buckets(name, last_op) VALUES ('b1', 5)",
                &[],
            )?;
            tx.execute("INSERT INTO ps_crud(data, tx_id) VALUES ('{}', 1)", &[])?;
            Ok(())
        })
        .expect("seed data");
        migrate_to(&db, version);
        {
            let conn = open_plain(&path);
            assert_eq!(
                layout(&conn),
                layout(&reference),
                "layout after down to {version}"
            );
            if version >= 5 {
                // From version 5 on, up and down write the very same DDL text. (Below 5 the
                // down path writes indented legacy DDL, like the reference core does.)
                assert_eq!(
                    internal_master(&conn),
                    internal_master(&reference),
                    "DDL at {version}"
                );
                let migrations = "SELECT id, down_migrations FROM ps_migration ORDER BY id";
                assert_eq!(
                    query_rows(&conn, migrations),
                    query_rows(&reference, migrations)
                );
            }
            let version_now = query_rows(&conn, "SELECT max(id) FROM ps_migration");
            assert_eq!(version_now, vec![vec![json!(version)]]);
        }
        init(&db);
        db.close().expect("close");
        let conn = open_plain(&path);
        assert_eq!(
            internal_master(&conn),
            internal_master(&fresh14),
            "up from {version}"
        );
        assert_eq!(
            query_rows(&conn, "SELECT name, last_op FROM ps_buckets"),
            vec![vec![json!("b1"), json!(5)]],
            "bucket kept through {version}"
        );
        assert_eq!(
            query_rows(&conn, "SELECT count(*) FROM ps_crud")[0][0],
            json!(1)
        );
    }
}

fn kv(conn: &Connection) -> BTreeMap<String, Json> {
    query_rows(
        conn,
        "SELECT key, value FROM ps_kv WHERE key != 'client_id'",
    )
    .into_iter()
    .map(|r| (r[0].as_str().unwrap_or_default().to_owned(), r[1].clone()))
    .collect()
}

fn kv_of(pairs: &[(&str, i64)]) -> BTreeMap<String, Json> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect()
}

fn db_at_13_with_local(dir: &Path, local: Option<(i64, i64, i64)>) -> (Database, PathBuf) {
    let path = dir.join("v13.db");
    let db = Database::open(&path).expect("open");
    migrate_to(&db, 13);
    if let Some((applied, last, target)) = local {
        db.execute(
            "INSERT INTO ps_buckets(name, last_applied_op, last_op, target_op) VALUES ('$local', ?1, ?2, ?3)",
            &[applied.into(), last.into(), target.into()],
        )
        .expect("insert $local");
    }
    (db, path)
}

/// I.85: `$local` moves into ps_kv; the column is gone.
#[test]
fn local_bucket_moves_into_kv() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, path) = db_at_13_with_local(dir.path(), Some((5, 6, 7)));
    init(&db);
    let conn = open_plain(&path);
    assert_eq!(
        kv(&conn),
        kv_of(&[
            ("last_applied_checkpoint_request_id", 5),
            ("last_seen_checkpoint_request_id", 6),
            ("target_checkpoint_request_id", 7),
        ])
    );
    assert!(query_rows(&conn, "SELECT 1 FROM ps_buckets WHERE name = '$local'").is_empty());
    assert!(
        conn.execute("UPDATE ps_buckets SET target_op = 1", [])
            .is_err()
    );
}

/// I.86: the MAX_OP_ID target is kept; zero values create no keys.
#[test]
fn sentinel_target_moves_into_kv() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, path) = db_at_13_with_local(dir.path(), Some((5, 6, MAX_OP_ID)));
    init(&db);
    assert_eq!(
        kv(&open_plain(&path)),
        kv_of(&[
            ("last_applied_checkpoint_request_id", 5),
            ("last_seen_checkpoint_request_id", 6),
            ("target_checkpoint_request_id", MAX_OP_ID),
        ])
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let (db, path) = db_at_13_with_local(dir.path(), Some((0, 0, MAX_OP_ID)));
    init(&db);
    assert_eq!(
        kv(&open_plain(&path)),
        kv_of(&[("target_checkpoint_request_id", MAX_OP_ID)])
    );
}

fn local_row(conn: &Connection) -> Vec<Vec<Json>> {
    query_rows(
        conn,
        "SELECT pending_delete, last_op, last_applied_op, target_op FROM ps_buckets WHERE name = '$local'",
    )
}

/// I.87 + I.88: down to 13 rebuilds `$local`; going up again prefers `$local` over stale keys.
#[test]
fn downgrade_restores_local_and_reupgrade_prefers_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.db");
    let db = Database::open(&path).expect("open");
    db.write(|tx| {
        for (key, value) in [
            ("last_requested_checkpoint_request_id", 7),
            ("last_seen_checkpoint_request_id", 6),
            ("last_applied_checkpoint_request_id", 5),
            ("target_checkpoint_request_id", 7),
        ] {
            tx.execute(
                "INSERT INTO ps_kv(key, value) VALUES (?1, ?2)",
                &[key.into(), value.into()],
            )?;
        }
        Ok(())
    })
    .expect("seed kv");
    migrate_to(&db, 13);
    assert_eq!(
        local_row(&open_plain(&path)),
        vec![vec![json!(1), json!(6), json!(5), json!(7)]]
    );

    db.execute(
        "UPDATE ps_buckets SET last_op = 8, last_applied_op = 8, target_op = 9 WHERE name = '$local'",
        &[],
    )
    .expect("advance $local like an old SDK");
    init(&db);
    db.close().expect("close");
    let conn = open_plain(&path);
    assert_eq!(
        kv(&conn),
        kv_of(&[
            ("last_applied_checkpoint_request_id", 8),
            ("last_requested_checkpoint_request_id", 7),
            ("last_seen_checkpoint_request_id", 8),
            ("target_checkpoint_request_id", 9),
        ])
    );
    assert!(query_rows(&conn, "SELECT 1 FROM ps_buckets WHERE name = '$local'").is_empty());
    let fresh = bare_at_version(&dir.path().join("fresh.db"), 14);
    assert_eq!(internal_master(&conn), internal_master(&fresh));
}

/// I.89: without a target there is no `$local` after going down.
#[test]
fn downgrade_without_target_creates_no_local() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_db, path) = db_at_13_with_local(dir.path(), None);
    assert!(local_row(&open_plain(&path)).is_empty());
}

/// I.90: version 8 keeps the newest time per priority.
#[test]
fn version_8_keeps_latest_sync_time_per_priority() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conn = bare_at_version(&dir.path().join("v7.db"), 7);
    for second in 0..10 {
        conn.execute(
            "INSERT OR REPLACE INTO ps_sync_state(priority, last_synced_at) VALUES (3, ?1), (2147483647, ?2)",
            [
                format!("2023-10-12 13:58:{second:02}"),
                format!("2023-10-12 14:58:{second:02}"),
            ],
        )
        .expect("insert");
    }
    conn.execute_batch("BEGIN; SELECT powersync_test_migration(8); COMMIT;")
        .expect("to 8");
    assert_eq!(
        query_rows(
            &conn,
            "SELECT priority, last_synced_at FROM ps_sync_state ORDER BY priority"
        ),
        vec![
            vec![json!(3), json!("2023-10-12 13:58:09")],
            vec![json!(2147483647), json!("2023-10-12 14:58:09")],
        ]
    );
}

/// Version 13 turns text times into microseconds; going down turns them back.
#[test]
fn version_13_converts_timestamps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conn = bare_at_version(&dir.path().join("v12.db"), 12);
    conn.execute_batch(
        "INSERT INTO ps_sync_state VALUES (2147483647, '2023-10-12 14:58:09');
         INSERT INTO ps_stream_subscriptions(stream_name, expires_at, last_synced_at) VALUES ('s', 100, 50);
         BEGIN; SELECT powersync_test_migration(13); COMMIT;",
    )
    .expect("to 13");
    assert_eq!(
        query_rows(
            &conn,
            "SELECT last_synced_at, typeof(last_synced_at) FROM ps_sync_state"
        ),
        vec![vec![json!(1_697_122_689_000_000_i64), json!("integer")]]
    );
    assert_eq!(
        query_rows(
            &conn,
            "SELECT expires_at, last_synced_at FROM ps_stream_subscriptions"
        ),
        vec![vec![json!(100_000_000), json!(50_000_000)]]
    );
    conn.execute_batch("BEGIN; SELECT powersync_test_migration(12); COMMIT;")
        .expect("to 12");
    assert_eq!(
        query_rows(&conn, "SELECT last_synced_at FROM ps_sync_state"),
        vec![vec![json!("2023-10-12 14:58:09")]]
    );
}

/// I.91 (storage part): upgrading through version 6 records data rows that no oplog entry
/// backs, so the next complete apply removes them.
#[test]
fn version_6_records_dangling_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v5.db");
    {
        let conn = bare_at_version(&path, 5);
        conn.execute_batch(
            "CREATE TABLE ps_data__items(id TEXT PRIMARY KEY NOT NULL, data TEXT);
             INSERT INTO ps_data__items VALUES ('kept', '{}'), ('dangling', '{}');
             INSERT INTO ps_buckets(name) VALUES ('b1');
             INSERT INTO ps_oplog(bucket, op_id, row_type, row_id, key, data, hash)
               VALUES (1, 1, 'items', 'kept', 'items/kept/null', '{}', 0);",
        )
        .expect("seed");
    }
    Database::open(&path).expect("open").close().expect("close");
    assert_eq!(
        query_rows(
            &open_plain(&path),
            "SELECT row_type, row_id FROM ps_updated_rows"
        ),
        vec![vec![json!("items"), json!("dangling")]]
    );
}

/// Down migrations stored by a newer core are what runs, even if this core would write
/// different ones.
#[test]
fn down_runs_sql_stored_in_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db.db");
    let db = Database::open(&path).expect("open");
    db.write(|tx| {
        tx.execute(
            "INSERT INTO ps_migration(id, down_migrations) VALUES (15, ?1)",
            &[r#"[{"sql":"CREATE TABLE marker_from_v15(x)"},{"sql":"DELETE FROM ps_migration WHERE id >= 15"}]"#.into()],
        )?;
        Ok(())
    })
    .expect("fake v15");
    init(&db); // 15 > 14: goes down using the stored statements.
    let conn = open_plain(&path);
    assert_eq!(
        query_rows(&conn, "SELECT max(id) FROM ps_migration")[0][0],
        json!(14)
    );
    assert_eq!(
        query_rows(
            &conn,
            "SELECT count(*) FROM sqlite_master WHERE name = 'marker_from_v15'"
        )[0][0],
        json!(1)
    );
}

#[test]
fn down_migration_that_keeps_the_version_fails() {
    let db = Database::open_in_memory().expect("open");
    db.execute(
        "INSERT INTO ps_migration(id, down_migrations) VALUES (15, '[{\"sql\":\"SELECT 1\"}]')",
        &[],
    )
    .expect("fake v15");
    let err = db
        .write(|tx| tx.get("SELECT powersync_init()", &[]))
        .expect_err("must fail");
    assert!(
        err.to_string().contains("did not update the version"),
        "{err}"
    );
    // The failed migration rolled back.
    let version = db
        .get("SELECT max(id) FROM ps_migration", &[])
        .expect("version");
    assert_eq!(version.get(0).and_then(psync_core::Value::as_i64), Some(15));
}

fn assert_refused_unchanged(bytes: &[u8]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.db");
    std::fs::write(&path, bytes).expect("write");
    let err = Database::open(&path).expect_err("must be refused");
    assert!(matches!(err.kind(), ErrorKind::Storage(_)), "{err:?}");
    assert_eq!(std::fs::read(&path).expect("read"), bytes, "file untouched");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
    assert_eq!(leftovers.len(), 1, "no -wal/-shm/-journal files created");
}

/// A failing up migration rolls back completely: the file stays at its old version.
#[test]
fn failed_migration_leaves_the_file_at_its_version() {
    let (_dir, path) = copy_fixture(FIXTURE_A);
    // SQLite re-checks triggers when version 13 renames ps_sync_state; this one cannot compile.
    open_plain(&path)
        .execute_batch("CREATE TRIGGER broken AFTER INSERT ON ps_kv BEGIN INSERT INTO missing_table VALUES (1); END")
        .expect("add broken trigger");
    let err = Database::open(&path).expect_err("migration must fail");
    assert!(err.to_string().contains("missing_table"), "{err}");
    let conn = open_plain(&path);
    assert_eq!(
        query_rows(&conn, "SELECT max(id) FROM ps_migration")[0][0],
        json!(12)
    );
    assert_eq!(
        column_names(&conn, "ps_buckets").len(),
        11,
        "target_op still there"
    );
}

#[test]
fn non_sqlite_file_is_refused_untouched() {
    assert_refused_unchanged(b"this is not a database, just some text\n");
    assert_refused_unchanged(&[0_u8; 4096]);
}

#[test]
fn corrupt_sqlite_file_is_refused_untouched() {
    let original = std::fs::read(fixture_dir().join(format!("{FIXTURE_C}.db"))).expect("read");
    // Valid header, garbage where the schema page's content starts.
    let mut corrupt = original.clone();
    for byte in &mut corrupt[100..4096] {
        *byte = 0xA5;
    }
    assert_refused_unchanged(&corrupt);
    // Truncated in the middle of the first page.
    assert_refused_unchanged(&original[..200]);
}

/// I.92 (storage part): version 5 recreates generated views without their old triggers,
/// and user triggers that refer to those views survive the upgrade unchanged.
#[test]
fn user_triggers_survive_the_upgrade_from_v3() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("v3.db");
    let user_trigger = "CREATE TRIGGER t1 after delete on ps_data__lists begin\n  insert into lists(id, description) values(OLD.id, 'deleted');\nend";
    {
        let conn = bare_at_version(&path, 3);
        conn.execute_batch(&format!(
            "CREATE TABLE \"ps_data__lists\"(id TEXT PRIMARY KEY NOT NULL, data TEXT);
             CREATE VIEW \"lists\"(\"id\", \"description\") AS SELECT id, CAST(json_extract(data, '$.description') as TEXT) FROM \"ps_data__lists\" -- powersync-auto-generated
             ;
             CREATE TRIGGER \"ps_view_delete_lists\" INSTEAD OF DELETE ON \"lists\" FOR EACH ROW BEGIN DELETE FROM \"ps_data__lists\" WHERE id = OLD.id; END;
             {user_trigger};"
        ))
        .expect("v3 schema");
    }
    Database::open(&path).expect("open").close().expect("close");
    let conn = open_plain(&path);
    assert_eq!(
        query_rows(&conn, "SELECT sql FROM sqlite_master WHERE name = 't1'"),
        vec![vec![json!(user_trigger)]]
    );
    assert_eq!(
        query_rows(
            &conn,
            "SELECT count(*) FROM sqlite_master WHERE type = 'view' AND name = 'lists'"
        )[0][0],
        json!(1)
    );
    assert!(
        query_rows(
            &conn,
            "SELECT 1 FROM sqlite_master WHERE name = 'ps_view_delete_lists'"
        )
        .is_empty(),
        "generated triggers are dropped for the next schema update to recreate"
    );
}
