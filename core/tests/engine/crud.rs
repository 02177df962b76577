// SPDX-License-Identifier: Apache-2.0
//! CRUD capture scenarios (scenarios.md A.1–A.16) and the upload-queue API.

use psync_test_support::engine;

use engine::crud::{CrudEntry, UpdateType, get_crud_batch, get_next_crud_transaction};
use engine::gate::MAX_OP_ID;
use serde_json::json;

const ITEMS: &str = r#"{"tables":[{"name":"items","columns":[{"name":"col","type":"text"}]}]}"#;

fn items_with(options: &str) -> String {
    format!(
        r#"{{"tables":[{{"name":"items","columns":[{{"name":"col","type":"text"}}]{options}}}]}}"#
    )
}

#[test]
fn a1_diff_function_through_sql() {
    let db = engine::open();
    let diff = |a: &str, b: &str| -> String {
        db.conn
            .query_row("SELECT powersync_diff(?, ?)", [a, b], |r| r.get(0))
            .expect("diff")
    };
    assert_eq!(diff("{}", r#"{"test":1}"#), r#"{"test":1}"#);
    assert_eq!(
        diff(r#"{"a":1}"#, r#"{"b":"test"}"#),
        r#"{"a":null,"b":"test"}"#
    );
    assert!(
        db.conn
            .query_row("SELECT powersync_diff('[]', '{}')", [], |r| r
                .get::<_, String>(0))
            .is_err()
    );
}

fn n_column_schema(n: usize, options: &str) -> String {
    let columns: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"name":"column{i}","type":"TEXT"}}"#))
        .collect();
    format!(
        r#"{{"tables":[{{"name":"items","columns":[{}]{options}}}]}}"#,
        columns.join(",")
    )
}

fn insert_n_columns(db: &engine::TestDb, n: usize) {
    let names: Vec<String> = (0..n).map(|i| format!("column{i}")).collect();
    let values: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    db.conn
        .execute(
            &format!(
                "INSERT INTO items(id, {}) VALUES ('test_id', {})",
                names.join(", "),
                values.join(", ")
            ),
            [],
        )
        .expect("insert");
}

#[test]
fn a2_insert_update_delete_with_n_columns() {
    for n in [1usize, 49, 50, 51, 63, 64, 100, 1999] {
        let db = engine::open();
        db.apply_schema(&n_column_schema(n, ""));
        insert_n_columns(&db, n);
        db.conn
            .execute("UPDATE items SET column0 = 'new_value'", [])
            .expect("update");
        db.conn.execute("DELETE FROM items", []).expect("delete");

        let rows = db.crud_json();
        let all: serde_json::Map<String, serde_json::Value> = (0..n)
            .map(|i| (format!("column{i}"), json!(format!("column{i}"))))
            .collect();
        assert_eq!(
            rows[0],
            json!({"op":"PUT","type":"items","id":"test_id","data":all}),
            "n={n}"
        );
        assert_eq!(
            rows[1],
            json!({"op":"PATCH","type":"items","id":"test_id","data":{"column0":"new_value"}}),
            "n={n}"
        );
        assert_eq!(
            rows[2],
            json!({"op":"DELETE","type":"items","id":"test_id"}),
            "n={n}"
        );
        assert_eq!(db.tx_ids(), vec![Some(1), Some(2), Some(3)], "n={n}");
    }
}

#[test]
fn a3_local_only_writes_create_no_crud() {
    for n in [1usize, 51] {
        let db = engine::open();
        db.apply_schema(&n_column_schema(n, r#","local_only":true"#));
        insert_n_columns(&db, n);
        assert_eq!(db.count("SELECT count(*) FROM items"), 1);
        db.conn
            .execute("UPDATE items SET column0 = 'new_value'", [])
            .expect("update");
        assert_eq!(
            db.conn
                .query_row("SELECT column0 FROM items", [], |r| r.get::<_, String>(0))
                .expect("read"),
            "new_value"
        );
        db.conn.execute("DELETE FROM items", []).expect("delete");
        assert_eq!(db.count("SELECT count(*) FROM items"), 0);
        assert!(db.crud_rows().is_empty());
        assert!(db.kv_keys().is_empty());
    }
}

#[test]
fn a4_insert_only_goes_straight_to_the_queue() {
    let db = engine::open();
    db.apply_schema(&n_column_schema(2, r#","insert_only":true"#));
    insert_n_columns(&db, 2);
    assert_eq!(db.count("SELECT count(*) FROM items"), 0);
    let rows = db.crud_rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1, Some(1));
    assert_eq!(
        rows[0].2,
        r#"{"op":"PUT","type":"items","id":"test_id","data":{"column0":"column0","column1":"column1"}}"#
    );
    assert_eq!(db.count("SELECT count(*) FROM ps_buckets"), 0);
    assert_eq!(db.count("SELECT count(*) FROM ps_updated_rows"), 0);
    assert!(
        db.kv_keys().is_empty(),
        "insert-only writes do not touch the gate"
    );
    assert!(
        db.conn
            .execute("UPDATE items SET column0 = 'x'", [])
            .is_err()
    );
    assert!(db.conn.execute("DELETE FROM items", []).is_err());
}

#[test]
fn a5_insert_only_is_ignored_for_local_only() {
    let db = engine::open();
    db.apply_schema(&items_with(r#","insert_only":true,"local_only":true"#));
    db.conn
        .execute("INSERT INTO items(id, col) VALUES ('a', 1)", [])
        .expect("insert");
    db.conn
        .execute("UPDATE items SET col = col + 1", [])
        .expect("update");
    assert_eq!(db.count("SELECT count(*) FROM items WHERE col = 2"), 1);
    db.conn
        .execute("DELETE FROM items WHERE col = 2", [])
        .expect("delete");
    assert_eq!(db.count("SELECT count(*) FROM items"), 0);
    assert!(db.crud_rows().is_empty());
}

#[test]
fn a6_crud_vtab_direct_use() {
    let db = engine::open();
    let c = &db.conn;
    c.execute(r#"INSERT INTO powersync_crud(op,id,type,data) VALUES('PUT','foo','users','{"my":"value"}')"#, [])
        .expect("put");
    assert_eq!(
        db.crud_rows(),
        vec![(
            1,
            Some(1),
            r#"{"op":"PUT","id":"foo","type":"users","data":{"my":"value"}}"#.to_string()
        )]
    );
    c.execute("DELETE FROM ps_crud", []).expect("clear");
    c.execute(
        "INSERT INTO powersync_crud(op,id,type) VALUES('DELETE','foo','users')",
        [],
    )
    .expect("delete");
    assert_eq!(
        db.crud_rows()[0].2,
        r#"{"op":"DELETE","id":"foo","type":"users"}"#
    );
    c.execute("DELETE FROM ps_crud", []).expect("clear");
    c.execute(
        r#"INSERT INTO powersync_crud(op,id,type,data,metadata) VALUES('PUT','foo','users','{"my":"value"}','my metadata')"#,
        [],
    )
    .expect("metadata");
    assert_eq!(
        db.crud_rows()[0].2,
        r#"{"op":"PUT","id":"foo","type":"users","data":{"my":"value"},"metadata":"my metadata"}"#
    );
    c.execute("DELETE FROM ps_crud", []).expect("clear");
    c.execute(
        r#"INSERT INTO powersync_crud(op,id,type,data,old_values) VALUES('PUT','foo','users','{"my":"value"}','{"previous":"value"}')"#,
        [],
    )
    .expect("old");
    assert_eq!(
        db.crud_rows()[0].2,
        r#"{"op":"PUT","id":"foo","type":"users","data":{"my":"value"},"old":{"previous":"value"}}"#
    );
    // UPDATE/DELETE on the vtab are misuse errors.
    assert!(
        c.execute("DELETE FROM powersync_crud", []).is_ok(),
        "no rows to delete: nothing happens"
    );
    let err = c
        .execute("UPDATE powersync_crud SET op = 'x'", [])
        .map(|_| ())
        .and_then(|_| {
            c.execute(
                "INSERT INTO powersync_crud(op,id,type) VALUES(NULL,'a','b')",
                [],
            )
            .map(|_| ())
        });
    assert!(err.is_err(), "a NULL op is rejected");
}

#[test]
fn a7_local_write_closes_the_gate() {
    let db = engine::open();
    db.conn
        .execute_batch(
            "INSERT INTO ps_kv VALUES ('last_seen_checkpoint_request_id', 6), ('last_applied_checkpoint_request_id', 5)",
        )
        .expect("seed");
    db.conn
        .execute(
            r#"INSERT INTO powersync_crud(op,id,type,data) VALUES('PUT','foo','users','{}')"#,
            [],
        )
        .expect("put");
    let updated: Vec<(String, String)> = db
        .rows("SELECT row_type, row_id FROM ps_updated_rows", |r| {
            Ok((r.get(0)?, r.get(1)?))
        });
    assert_eq!(updated, vec![("users".to_string(), "foo".to_string())]);
    assert_eq!(
        db.kv_keys(),
        vec![("target_checkpoint_request_id".to_string(), Some(MAX_OP_ID))]
    );
}

#[test]
fn a8_transaction_ids() {
    let db = engine::open();
    let c = &db.conn;
    c.execute_batch(
        "BEGIN; INSERT INTO powersync_crud(op,id,type) VALUES('DELETE','a','t'); COMMIT;",
    )
    .expect("tx1");
    c.execute(
        "INSERT INTO powersync_crud(op,id,type) VALUES('DELETE','b','t')",
        [],
    )
    .expect("tx2");
    assert_eq!(db.tx_ids(), vec![Some(1), Some(2)]);

    let db = engine::open();
    let c = &db.conn;
    c.execute_batch(
        "BEGIN; INSERT INTO powersync_crud(op,id,type) VALUES('DELETE','foo','t'); ROLLBACK;",
    )
    .expect("rolled back");
    c.execute(
        "INSERT INTO powersync_crud(op,id,type) VALUES('DELETE','foo2','t')",
        [],
    )
    .expect("insert");
    let rows = db.crud_rows();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1, Some(1), "the rolled-back id is reused");
    assert!(rows[0].2.contains("foo2"));

    for kind in ["regular", "insert_only", "alternating"] {
        let db = engine::open();
        db.apply_schema(
            r#"{"tables":[{"name":"regular","columns":[{"name":"n","type":"integer"}]},
                {"name":"insert_only","columns":[{"name":"n","type":"integer"}],"insert_only":true}]}"#,
        );
        let mut row = 0;
        for k in 1..=9i64 {
            db.conn.execute_batch("BEGIN").expect("begin");
            for i in 0..2 * k {
                let table = match kind {
                    "alternating" if i % 2 == 1 => "insert_only",
                    "alternating" => "regular",
                    other => other,
                };
                row += 1;
                db.conn
                    .execute(
                        &format!("INSERT INTO {table}(id, n) VALUES (?, ?)"),
                        rusqlite::params![format!("r{row}"), i],
                    )
                    .expect("insert");
            }
            db.conn.execute_batch("COMMIT").expect("commit");
            let count = db.count(&format!("SELECT count(*) FROM ps_crud WHERE tx_id = {k}"));
            assert_eq!(count, 2 * k, "{kind} tx {k}");
        }
        assert_eq!(db.count("SELECT count(*) FROM ps_crud"), 90, "{kind}");
    }
}

fn test_table_schema(options: &str) -> String {
    format!(
        r#"{{"tables":[{{"name":"test","columns":[{{"name":"name","type":"text"}},{{"name":"name2","type":"text"}}]{options}}}]}}"#
    )
}

fn prepared(options: &str) -> engine::TestDb {
    let db = engine::open();
    db.apply_schema(&test_table_schema(options));
    db.conn
        .execute(
            "INSERT INTO test(id, name, name2) VALUES ('id', 'name', 'name2')",
            [],
        )
        .expect("insert");
    db.conn.execute("DELETE FROM ps_crud", []).expect("clear");
    db
}

#[test]
fn a9_previous_values_on_updates() {
    for (options, expected_old) in [
        ("", None),
        (r#","include_old":false"#, None),
        (
            r#","include_old":true"#,
            Some(json!({"name":"name","name2":"name2"})),
        ),
        (r#","include_old":["name"]"#, Some(json!({"name":"name"}))),
        (
            r#","include_old":true,"include_old_only_when_changed":true"#,
            Some(json!({"name":"name"})),
        ),
        (
            r#","include_old":["name2"],"include_old_only_when_changed":true"#,
            Some(json!({})),
        ),
    ] {
        let db = prepared(options);
        db.conn
            .execute("UPDATE test SET name = name || '.'", [])
            .expect("update");
        let row = &db.crud_json()[0];
        assert_eq!(row["data"], json!({"name":"name."}), "{options}");
        assert_eq!(row.get("old").cloned(), expected_old, "{options}");
    }
}

#[test]
fn a10_previous_values_on_deletes() {
    for (options, expected_old) in [
        (
            r#","include_old":true"#,
            json!({"name":"name","name2":"name2"}),
        ),
        (r#","include_old":["name"]"#, json!({"name":"name"})),
        (
            r#","include_old":true,"include_old_only_when_changed":true"#,
            json!({"name":"name","name2":"name2"}),
        ),
    ] {
        let db = prepared(options);
        db.conn.execute("DELETE FROM test", []).expect("delete");
        let row = &db.crud_json()[0];
        assert_eq!(row.get("data"), None);
        assert_eq!(row["old"], expected_old, "{options}");
    }
}

#[test]
fn a11_metadata() {
    let db = engine::open();
    db.apply_schema(r#"{"tables":[{"name":"test","columns":[{"name":"name","type":"text"}]}]}"#);
    assert!(
        db.conn
            .execute(
                "INSERT INTO test(id, name, _metadata) VALUES ('id', 'name', 'x')",
                []
            )
            .is_err()
    );

    let db = engine::open();
    db.apply_schema(r#"{"tables":[{"name":"test","columns":[{"name":"name","type":"text"}],"include_metadata":true}]}"#);
    let c = &db.conn;
    c.execute(
        "INSERT INTO test(id, name, _metadata) VALUES ('id', 'name', 'test insert')",
        [],
    )
    .expect("insert");
    c.execute(
        "UPDATE test SET name = name || '.', _metadata = 'update'",
        [],
    )
    .expect("update");
    c.execute("DELETE FROM test", []).expect("delete");
    c.execute("INSERT INTO test(id, name) VALUES ('id2', 'name')", [])
        .expect("insert 2");
    c.execute(
        "UPDATE test SET _deleted = TRUE, _metadata = 'custom delete'",
        [],
    )
    .expect("soft delete");
    c.execute(
        "INSERT INTO test(id, name, _metadata) VALUES ('id3', 'name', 42)",
        [],
    )
    .expect("insert 3");
    let rows = db.crud_json();
    assert_eq!(
        rows[0],
        json!({"op":"PUT","id":"id","type":"test","data":{"name":"name"},"metadata":"test insert"})
    );
    assert_eq!(
        rows[1],
        json!({"op":"PATCH","id":"id","type":"test","data":{"name":"name."},"metadata":"update"})
    );
    assert_eq!(rows[2], json!({"op":"DELETE","id":"id","type":"test"}));
    assert_eq!(
        rows[4],
        json!({"op":"DELETE","id":"id2","type":"test","metadata":"custom delete"})
    );
    assert_eq!(
        rows[5],
        json!({"op":"PUT","id":"id3","type":"test","data":{"name":"name"}})
    );
    assert_eq!(db.count("SELECT count(*) FROM test"), 1);
}

#[test]
fn a12_empty_updates() {
    for (options, expected_rows, expected_tx) in [
        ("", 2, vec![Some(1), Some(2)]),
        (r#","ignore_empty_update":true"#, 1, vec![Some(1)]),
    ] {
        let db = engine::open();
        db.apply_schema(&items_with(options));
        db.conn
            .execute("INSERT INTO items(id, col) VALUES ('a', 'new item')", [])
            .expect("insert");
        db.conn
            .execute("UPDATE items SET col = LOWER(col)", [])
            .expect("update");
        assert_eq!(db.crud_rows().len(), expected_rows, "{options}");
        assert_eq!(db.tx_ids(), expected_tx);
        // The ignored update still consumed a transaction id.
        db.conn
            .execute("INSERT INTO items(id, col) VALUES ('b', 'x')", [])
            .expect("insert");
        assert_eq!(db.tx_ids().last().copied().flatten(), Some(3), "{options}");
    }
}

#[test]
fn a13_text_stays_text() {
    let db = engine::open();
    db.apply_schema(ITEMS);
    db.conn
        .execute("INSERT INTO items(id, col) VALUES ('a', json_object())", [])
        .expect("insert");
    db.conn
        .execute("UPDATE items SET col = NULL", [])
        .expect("update");
    let rows = db.crud_json();
    assert_eq!(rows[0]["data"], json!({"col":"{}"}));
    assert_eq!(rows[1]["data"], json!({"col":null}));
}

#[test]
fn a14_mismatched_types() {
    let db = engine::open();
    db.apply_schema(r#"{"tables":[{"name":"items","columns":[{"name":"col","type":"integer"}]}]}"#);
    let c = &db.conn;
    c.execute("INSERT INTO items(id, col) VALUES ('a', json_object())", [])
        .expect("insert");
    c.execute("INSERT INTO items(id, col) VALUES ('b', NULL)", [])
        .expect("insert");
    c.execute(
        "INSERT INTO items(id, col) VALUES ('c', 'not an integer')",
        [],
    )
    .expect("insert");
    let rows = db.crud_json();
    assert_eq!(rows[0]["data"], json!({"col":"{}"}));
    assert_eq!(rows[1]["data"], json!({}));
    assert_eq!(rows[2]["data"], json!({"col":"not an integer"}));
    assert_eq!(
        c.query_row("SELECT col FROM items WHERE id = 'c'", [], |r| r
            .get::<_, i64>(0))
            .expect("read"),
        0
    );
}

#[test]
fn a15_id_checks_fail_cleanly() {
    let db = engine::open();
    db.apply_schema(ITEMS);
    let c = &db.conn;
    let msg = |r: rusqlite::Result<usize>| r.expect_err("must fail").to_string();
    assert!(
        msg(c.execute("INSERT INTO items(id, col) VALUES (NULL, 'a')", []))
            .contains("id is required")
    );
    assert!(
        msg(c.execute("INSERT INTO items(id, col) VALUES (1, 'a')", []))
            .contains("id should be text")
    );
    c.execute("INSERT INTO items(id, col) VALUES ('a', 'a')", [])
        .expect("insert");
    assert!(msg(c.execute("UPDATE items SET id = 'x'", [])).contains("Cannot update id"));
    // Nothing half-applied: one row, one crud entry.
    assert_eq!(db.count("SELECT count(*) FROM ps_data__items"), 1);
    assert_eq!(db.crud_rows().len(), 1);
    assert_eq!(db.count("SELECT count(*) FROM items WHERE id = 'a'"), 1);
}

#[test]
fn a16_local_update_drops_unknown_keys() {
    let db = engine::open();
    db.apply_schema(r#"{"tables":[{"name":"items","columns":[{"name":"col","type":"text"},{"name":"n","type":"integer"}]}]}"#);
    db.conn
        .execute(
            r#"INSERT INTO ps_data__items(id, data) VALUES ('r', '{"col":"a","extra":1}')"#,
            [],
        )
        .expect("synced row");
    db.conn
        .execute("UPDATE items SET col = 'b'", [])
        .expect("update");
    let stored: String = db
        .conn
        .query_row("SELECT data FROM ps_data__items", [], |r| r.get(0))
        .expect("read");
    assert_eq!(stored, r#"{"col":"b","n":null}"#);
    assert_eq!(db.crud_json()[0]["data"], json!({"col":"b"}));
}

#[test]
fn sync_operation_guard_suppresses_capture() {
    let db = engine::open();
    db.apply_schema(ITEMS);
    {
        let _guard = engine::crud::SyncOperationGuard::enter(&db.conn).expect("guard");
        assert!(
            db.conn
                .query_row("SELECT powersync_in_sync_operation()", [], |r| r
                    .get::<_, bool>(0))
                .expect("flag")
        );
        db.conn
            .execute(
                "INSERT INTO powersync_crud(op,id,type) VALUES('DELETE','a','t')",
                [],
            )
            .expect("ignored");
        db.conn
            .execute("INSERT INTO powersync_crud_(data) VALUES('{}')", [])
            .expect("ignored");
    }
    assert!(
        !db.conn
            .query_row("SELECT powersync_in_sync_operation()", [], |r| r
                .get::<_, bool>(0))
            .expect("flag")
    );
    assert!(db.crud_rows().is_empty());
    assert!(db.kv_keys().is_empty());
}

#[test]
fn upload_queue_batches_and_transactions() {
    let db = engine::open();
    db.apply_schema(ITEMS);
    let c = &db.conn;
    c.execute_batch(
        "BEGIN; INSERT INTO items(id, col) VALUES ('a', 'x'); INSERT INTO items(id, col) VALUES ('b', 'y'); COMMIT;
         UPDATE items SET col = 'z' WHERE id = 'a';
         DELETE FROM items WHERE id = 'b';",
    )
    .expect("writes");

    let tx = get_next_crud_transaction(c).expect("read").expect("some");
    assert_eq!(tx.transaction_id, Some(1));
    assert_eq!(tx.entries.len(), 2);
    assert_eq!(
        tx.entries[0],
        CrudEntry {
            client_id: 1,
            transaction_id: Some(1),
            op: UpdateType::Put,
            table: "items".into(),
            id: "a".into(),
            data: Some(json!({"col":"x"}).as_object().cloned().expect("object")),
            previous_values: None,
            metadata: None,
        }
    );
    c.execute_batch("BEGIN").expect("begin");
    tx.complete(c, Some(7)).expect("complete");
    c.execute_batch("COMMIT").expect("commit");
    assert_eq!(db.count("SELECT count(*) FROM ps_crud"), 2);
    assert_eq!(
        engine::gate::target(c).expect("target"),
        Some(MAX_OP_ID),
        "queue not empty: MAX"
    );

    let batch = get_crud_batch(c, 1).expect("read").expect("some");
    assert!(batch.has_more);
    assert_eq!(batch.entries[0].op, UpdateType::Patch);
    let batch = get_crud_batch(c, 10).expect("read").expect("some");
    assert!(!batch.has_more);
    assert_eq!(batch.entries.len(), 2);
    assert_eq!(batch.entries[1].op, UpdateType::Delete);
    c.execute_batch("BEGIN").expect("begin");
    batch.complete(c, Some(9)).expect("complete");
    c.execute_batch("COMMIT").expect("commit");
    assert_eq!(db.count("SELECT count(*) FROM ps_crud"), 0);
    assert_eq!(
        engine::gate::target(c).expect("target"),
        Some(9),
        "queue empty: write checkpoint"
    );
    assert!(get_crud_batch(c, 10).expect("read").is_none());
    assert!(get_next_crud_transaction(c).expect("read").is_none());

    c.execute("INSERT INTO items(id, col) VALUES ('c', 'x')", [])
        .expect("write");
    let batch = get_crud_batch(c, 10).expect("read").expect("some");
    c.execute_batch("BEGIN").expect("begin");
    batch.complete(c, None).expect("complete");
    c.execute_batch("COMMIT").expect("commit");
    assert_eq!(
        engine::gate::target(c).expect("target"),
        Some(MAX_OP_ID),
        "no write checkpoint: MAX"
    );
}

#[test]
fn clear_keeps_client_id_and_empties_tables() {
    let db = engine::open();
    db.apply_schema(
        r#"{"tables":[{"name":"items","columns":[{"name":"col","type":"text"}]},
            {"name":"notes","columns":[{"name":"col","type":"text"}],"local_only":true}]}"#,
    );
    let c = &db.conn;
    c.execute_batch(
        "INSERT INTO items(id, col) VALUES ('a', 'x'); INSERT INTO notes(id, col) VALUES ('n', 'x');
         INSERT INTO ps_buckets(name, last_applied_op, last_op) VALUES ('b', 5, 5);
         INSERT INTO ps_oplog(bucket, op_id, hash) VALUES (1, 5, 0);",
    )
    .expect("setup");
    c.execute_batch("BEGIN").expect("begin");
    c.query_row("SELECT powersync_clear(2)", [], |_| Ok(()))
        .expect("soft clear");
    c.execute_batch("COMMIT").expect("commit");
    assert_eq!(
        db.count("SELECT count(*) FROM ps_buckets WHERE last_applied_op = 0"),
        1
    );
    assert_eq!(db.count("SELECT count(*) FROM ps_oplog"), 1);
    assert_eq!(db.count("SELECT count(*) FROM items"), 0);
    assert_eq!(
        db.count("SELECT count(*) FROM notes"),
        1,
        "local-only kept without bit 0"
    );
    assert_eq!(db.count("SELECT count(*) FROM ps_crud"), 0);
    assert!(db.kv_keys().is_empty());
    assert_eq!(
        engine::kv::client_id(c).expect("client id"),
        "test-test-test-test"
    );

    c.execute_batch("BEGIN").expect("begin");
    c.query_row("SELECT powersync_clear(1)", [], |_| Ok(()))
        .expect("hard clear");
    c.execute_batch("COMMIT").expect("commit");
    assert_eq!(db.count("SELECT count(*) FROM ps_buckets"), 0);
    assert_eq!(db.count("SELECT count(*) FROM ps_oplog"), 0);
    assert_eq!(db.count("SELECT count(*) FROM notes"), 0);
    let err = c
        .query_row("SELECT powersync_clear(0)", [], |_| Ok(()))
        .expect_err("needs a transaction");
    assert_eq!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ApiMisuse),
        "{err:?}"
    );
}

#[test]
fn savepoint_rollback_does_not_reuse_tx_ids_or_skip_the_gate() {
    let db = engine::open();
    let c = &db.conn;
    c.execute_batch(
        "BEGIN;
         SAVEPOINT s;
         INSERT INTO powersync_crud(op,id,type) VALUES('DELETE','a','t');
         ROLLBACK TO s; RELEASE s;
         INSERT INTO powersync_crud(op,id,type) VALUES('DELETE','b','t');
         COMMIT;",
    )
    .expect("tx 1");
    assert_eq!(
        db.kv_keys(),
        vec![("target_checkpoint_request_id".to_string(), Some(MAX_OP_ID))],
        "gate closed again after the savepoint rollback"
    );
    c.execute(
        "INSERT INTO powersync_crud(op,id,type) VALUES('DELETE','c','t')",
        [],
    )
    .expect("tx 2");
    assert_eq!(db.tx_ids(), vec![Some(1), Some(2)]);
}

#[test]
fn local_writes_through_the_database_api() {
    use psync_core::{Database, Value};
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path().join("app.db")).expect("open");
    db.write(|tx| {
        tx.get(
            "SELECT powersync_replace_schema(?)",
            &[Value::Text(ITEMS.into())],
        )?;
        Ok(())
    })
    .expect("schema");
    db.write(|tx| {
        tx.execute("INSERT INTO items(id, col) VALUES ('a', 'x')", &[])?;
        tx.execute("UPDATE items SET col = 'y'", &[])?;
        Ok(())
    })
    .expect("writes");
    let batch = db
        .write(|tx| get_crud_batch(tx.connection(), 10))
        .expect("batch")
        .expect("entries");
    assert_eq!(batch.entries.len(), 2);
    assert_eq!(batch.entries[0].transaction_id, Some(1));
    assert_eq!(batch.entries[1].transaction_id, Some(1));
    assert_eq!(batch.entries[1].op, UpdateType::Patch);
    // Readers see the view and the queue too.
    let row = db.get("SELECT col FROM items", &[]).expect("read");
    assert_eq!(row.get(0), Some(&Value::Text("y".into())));
    db.write(|tx| batch.complete(tx.connection(), Some(3)))
        .expect("complete");
    assert_eq!(
        db.write(|tx| engine::gate::target(tx.connection()))
            .expect("target"),
        Some(3)
    );
    // The schema is remembered in the shared database state.
    assert!(db.state().schema.current().is_some());
}

#[test]
fn soft_clear_is_refused_while_a_sync_iteration_is_active() {
    use std::sync::atomic::Ordering;
    let db = engine::open();
    db.state.sync_iteration_active.store(true, Ordering::SeqCst);
    db.conn.execute_batch("BEGIN").expect("begin");
    let err = db
        .conn
        .query_row("SELECT powersync_clear(2)", [], |_| Ok(()))
        .expect_err("soft clear refused");
    assert!(
        err.to_string()
            .contains("Cannot clear or trigger resync while a sync iteration is active."),
        "{err}"
    );
    assert_eq!(err.sqlite_error().map(|e| e.extended_code), Some(3091));
    let result: String = db
        .conn
        .query_row("SELECT powersync_clear(0)", [], |r| r.get(0))
        .expect("hard clear is allowed");
    assert_eq!(result, "");
    db.conn.execute_batch("COMMIT").expect("commit");
}

#[test]
fn connections_close_cleanly_after_crud_writes() {
    // The vtabs keep prepared statements on a non-owning handle; SQLite disconnects the vtabs
    // (finalising them) before it checks for unfinalised statements on close.
    let db = engine::open();
    db.apply_schema(ITEMS);
    db.conn
        .execute_batch(
            "INSERT INTO items(id, col) VALUES ('a', 'x');
             INSERT INTO powersync_crud_(data) VALUES ('{\"op\":\"PUT\",\"type\":\"t\",\"id\":\"1\"}');",
        )
        .expect("writes");
    db.conn.close().map_err(|(_, e)| e).expect("close succeeds");

    let dir = tempfile::tempdir().expect("tempdir");
    let database = psync_core::Database::open(dir.path().join("app.db")).expect("open");
    database
        .write(|tx| {
            tx.get(
                "SELECT powersync_replace_schema(?)",
                &[psync_core::Value::Text(ITEMS.into())],
            )?;
            tx.execute("INSERT INTO items(id, col) VALUES ('a', 'x')", &[])?;
            Ok(())
        })
        .expect("write");
    database.close().expect("database closes");
}
