// SPDX-License-Identifier: Apache-2.0
//! Migration runner behaviour: the migration scenarios (ids I.nn).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use psync_core::Database;
use psync_test_support::engine::gate::MAX_OP_ID;
use psync_test_support::engine::*;
use rusqlite::Connection;
use serde_json::{Value as Json, json};

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
