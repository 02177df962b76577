// SPDX-License-Identifier: Apache-2.0
//! File compatibility: fixture files written by real PowerSync cores open, migrate and
//! downgrade exactly like the reference core does; files the core cannot use are refused
//! without being modified.

use psync_core::{Database, ErrorKind};
use psync_test_support::engine::*;
use serde_json::{Value as Json, json};

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
    drop(conn);

    // A local write through the views the old core generated (no replace_schema yet) goes
    // through the CRUD module: [gate target, queued entries]. Needs that module registered.
    if crud_module_registered() {
        let db = Database::open(&path).expect("reopen");
        db.execute(
            "INSERT INTO lists(id, name) VALUES ('L-new', 'written after init')",
            &[],
        )
        .expect("local write");
        db.close().expect("close");
        let conn = open_plain(&path);
        let observed = query_rows(
            &conn,
            "SELECT (SELECT value FROM ps_kv WHERE key = 'target_checkpoint_request_id'),
                    (SELECT count(*) FROM ps_crud)",
        );
        let expected_write = &expected["expected"]["local_write_after_init_without_replace_schema"];
        assert_eq!(
            Json::from(observed[0].clone()),
            expected_write["ok"],
            "{name}: local write"
        );
    }
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
    let original = std::fs::read(fixture_db(FIXTURE_C)).expect("read");
    // Valid header, garbage where the schema page's content starts.
    let mut corrupt = original.clone();
    for byte in &mut corrupt[100..4096] {
        *byte = 0xA5;
    }
    assert_refused_unchanged(&corrupt);
    // Truncated in the middle of the first page.
    assert_refused_unchanged(&original[..200]);
}
