// SPDX-License-Identifier: Apache-2.0
//! Sync engine scenarios (scenarios.md C–H) through `powersync_control` on real SQLite.

mod sync_common;

use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};
use sync_common::*;

#[test]
fn c21_start_golden_and_c22_app_metadata() {
    let db = open();
    let out = db.control("start", Some(r#"{"parameters":{"foo":"bar"}}"#));
    assert_eq!(
        Value::Array(out),
        json!([
            {"UpdateSyncStatus": {"status": {"connected": false, "connecting": true,
                "priority_status": [], "downloading": null, "streams": []}}},
            {"EstablishSyncStream": {"request": {"buckets": [], "include_checksum": true,
                "raw_data": true, "binary_data": true, "client_id": "test-test-test-test",
                "parameters": {"foo": "bar"},
                "streams": {"include_defaults": true, "subscriptions": []}}}}
        ])
    );
    let out = db.control(
        "start",
        Some(r#"{"app_metadata":{"key1":"value1","key2":"value2"}}"#),
    );
    assert_eq!(
        out[1]["EstablishSyncStream"]["request"]["app_metadata"],
        json!({"key1":"value1","key2":"value2"})
    );
}

#[test]
fn c23_connection_events() {
    let db = open();
    db.control("start", None);
    let out = db.control("connection", Some("established"));
    assert_eq!(out[0]["UpdateSyncStatus"]["status"]["connected"], true);
    let out = db.control("connection", Some("end"));
    assert_eq!(out[0]["UpdateSyncStatus"]["status"]["connected"], false);
    assert_eq!(
        out[1],
        json!({"CloseSyncStream": {"hide_disconnect": false}})
    );
    let e = db
        .raw("line_text", SqlValue::Text("{}".into()))
        .expect_err("idle");
    assert_eq!(code(&e).0, 21);
}

#[test]
fn c24_simple_iteration() {
    let db = open();
    db.control("start", None);
    let out = db.line(checkpoint(
        "1",
        None,
        json!([{"bucket": "a", "checksum": 0, "count": 1}]),
    ));
    assert_eq!(out.len(), 1);
    let st = &out[0]["UpdateSyncStatus"]["status"];
    assert_eq!(st["connected"], true);
    assert_eq!(
        st["downloading"]["buckets"]["prio_3"],
        json!({"priority": 3, "at_last": 0, "since_last": 0, "target_count": 1})
    );
    assert_eq!(
        db.line(json!({"token_expires_in": 60})),
        Vec::<Value>::new()
    );
    // Checksum 0 must then be the op's: use a matching checksum.
    let out = db.line(put("a", "1", "1", r#"{"col":"hi"}"#, 0));
    assert_eq!(
        out[0]["UpdateSyncStatus"]["status"]["downloading"]["buckets"]["prio_3"]["since_last"],
        1
    );
    let out = db.line(complete("1"));
    assert_eq!(
        kinds(&out),
        ["LogLine", "DidCompleteSync", "UpdateSyncStatus"]
    );
    assert_eq!(
        out[0],
        json!({"LogLine": {"severity": "DEBUG", "line": "Validated and applied checkpoint"}})
    );
    assert_eq!(out[1], json!({"DidCompleteSync": {}}));
    let st = &out[2]["UpdateSyncStatus"]["status"];
    assert_eq!(st["downloading"], Value::Null);
    assert_eq!(st["priority_status"][0]["priority"], 2147483647);
    assert_eq!(st["priority_status"][0]["has_synced"], true);
    assert_eq!(db.items(), ["1"]);
    let data: String =
        db.0.conn
            .query_row("SELECT data FROM ps_data__items", [], |r| r.get(0))
            .expect("row");
    assert_eq!(data, r#"{"col":"hi"}"#);
    assert_eq!(
        db.line(json!({"token_expires_in": 10})),
        vec![json!({"FetchCredentials": {"did_expire": false}})]
    );
}

fn priority_buckets() -> Value {
    json!([
        {"bucket": "prio0", "checksum": 0, "priority": 0, "count": 1},
        {"bucket": "prio1", "checksum": 0, "priority": 1, "count": 1},
        {"bucket": "prio2", "checksum": 0, "priority": 2, "count": 1},
        {"bucket": "prio3", "checksum": 0, "priority": 3, "count": 1}
    ])
}

#[test]
fn c25_c26_local_data_blocks_except_priority_0() {
    let db = open();
    db.control("start", None);
    db.line(checkpoint("1", None, priority_buckets()));
    db.sql("INSERT INTO items(id, col) VALUES ('local', 'data')");
    db.line(put("prio1", "1", "row-0", r#"{"col":"hi"}"#, 0));
    let out = db.line(complete("1"));
    assert!(has_log(
        &out,
        "INFO",
        "Could not apply checkpoint due to local data. Will retry at completed upload or next checkpoint."
    ));
    assert_eq!(db.items(), ["local"]);

    let db = open();
    db.control("start", None);
    db.line(checkpoint("1", None, priority_buckets()));
    db.sql("INSERT INTO items(id, col) VALUES ('local', 'data')");
    db.line(put("prio0", "1", "row-0", r#"{"col":"hi"}"#, 0));
    db.line(json!({"partial_checkpoint_complete": {"last_op_id": "1", "priority": 0}}));
    assert_eq!(db.items(), ["local", "row-0"]);
}

#[test]
fn c28_partial_per_priority() {
    let db = open();
    db.control("start", None);
    db.line(checkpoint("4", None, priority_buckets()));
    for i in 0..4 {
        db.line(put(
            &format!("prio{i}"),
            &format!("{}", i + 1),
            &format!("row-{i}"),
            &format!(r#"{{"col":"{i}"}}"#),
            0,
        ));
    }
    for i in 0..4 {
        db.line(json!({"partial_checkpoint_complete": {"last_op_id": "4", "priority": i}}));
        assert_eq!(db.items().len(), i + 1);
        assert_eq!(
            db.count(&format!(
                "SELECT count(*) FROM ps_sync_state WHERE priority = {i}"
            )),
            1
        );
        assert_eq!(
            db.count(&format!(
                "SELECT count(*) FROM ps_sync_state WHERE priority < {i}"
            )),
            0
        );
    }
}

#[test]
fn c31_old_buckets_deleted() {
    let db = open();
    db.sql("INSERT INTO ps_buckets(name) VALUES ('one'), ('two'), ('three')");
    let out = db.control("start", None);
    assert_eq!(
        out[1]["EstablishSyncStream"]["request"]["buckets"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    db.line(checkpoint(
        "1",
        None,
        json!([{"bucket": "one", "checksum": 0}]),
    ));
    assert_eq!(db.count("SELECT count(*) FROM ps_buckets"), 1);
}

#[test]
fn c32_bson_double_checksum() {
    let db = open();
    db.control("start", None);
    let line = json!({"data": {"bucket": "a", "data": [{"op_id": "1", "op": "PUT",
        "object_type": "items", "object_id": "1", "data": "{}", "checksum": 3573495687.0}]}});
    let bytes = psync_core::sync::bson::encode_document(&line);
    db.raw("line_binary", SqlValue::Blob(bytes.clone()))
        .expect("bson line");
    let (op, size): (i64, i64) =
        db.0.conn
            .query_row(
                "SELECT op_checksum, downloaded_size FROM ps_buckets",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("bucket");
    assert_eq!(op, 3_573_495_687);
    assert_eq!(size, bytes.len() as i64);
}

#[test]
fn c33_unknown_line_and_c34_tokens() {
    let db = open();
    db.control("start", None);
    let out = db.line(json!({"foo": {"bar": 1}}));
    assert!(has_log(&out, "DEBUG", "Unknown sync line"));
    assert_eq!(
        db.line(json!({"token_expires_in": 31})),
        Vec::<Value>::new()
    );
    assert_eq!(
        db.line(json!({"token_expires_in": 30})),
        vec![json!({"FetchCredentials": {"did_expire": false}})]
    );
    assert_eq!(
        db.control("refreshed_token", None),
        vec![json!({"CloseSyncStream": {"hide_disconnect": true}})]
    );
    db.control("start", None);
    assert_eq!(
        db.line(json!({"token_expires_in": 0})),
        vec![
            json!({"FetchCredentials": {"did_expire": true}}),
            json!({"CloseSyncStream": {"hide_disconnect": false}})
        ]
    );
}

#[test]
fn c35_start_while_active() {
    let db = open();
    db.control("start", None);
    let out = db.control("start", None);
    assert_eq!(kinds(&out), ["UpdateSyncStatus", "EstablishSyncStream"]);
}

#[test]
fn e44_to_e51_checkpoint_requests() {
    let db = open();
    let req = |db: &Db| {
        db.control("start", Some(r#"{"checkpoint_mode":"requests"}"#))[1]["EstablishSyncStream"]["checkpoint_request"].clone()
    };
    assert_eq!(
        req(&db),
        json!({"client_id": "test-test-test-test", "checkpoint_request_id": "1"})
    );
    assert_eq!(
        db.int("target_checkpoint_request_id", SqlValue::Integer(4))
            .expect("t"),
        None
    );
    assert_eq!(req(&db)["checkpoint_request_id"], "4");
    assert_eq!(
        db.int("seed_checkpoint_request_id", SqlValue::Integer(7))
            .expect("seed"),
        Some(7)
    );
    assert_eq!(req(&db)["checkpoint_request_id"], "7");
    db.int("target_checkpoint_request_id", SqlValue::Integer(i64::MAX))
        .expect("t");
    assert_eq!(req(&db)["checkpoint_request_id"], "7");
    // E.45
    assert!(
        db.control("start", None)[1]["EstablishSyncStream"]
            .get("checkpoint_request")
            .is_none()
    );
    // E.49 / E.46
    assert_eq!(
        db.int("seed_checkpoint_request_id", SqlValue::Integer(41))
            .expect("seed"),
        Some(41)
    );
    assert_eq!(
        db.int("seed_checkpoint_request_id", SqlValue::Integer(5))
            .expect("seed"),
        Some(5)
    );
    assert_eq!(
        db.int("next_checkpoint_request_id", SqlValue::Null)
            .expect("next"),
        Some(6)
    );
    assert_eq!(
        db.int("current_checkpoint_request_id", SqlValue::Null)
            .expect("cur"),
        Some(6)
    );
    // E.50
    let e = db
        .int("seed_checkpoint_request_id", SqlValue::Null)
        .expect_err("null");
    assert_eq!(
        code(&e),
        (
            3091,
            "checkpoint request id must be an integer or integer string".into()
        )
    );
    let e = db
        .int("seed_checkpoint_request_id", SqlValue::Integer(0))
        .expect_err("zero");
    assert_eq!(code(&e).0, 3091);
    assert_eq!(
        db.int("seed_checkpoint_request_id", SqlValue::Text("41".into()))
            .expect("text"),
        Some(41)
    );
    db.control("stop", None);
    let e = db
        .int("seed_checkpoint_request_id", SqlValue::Integer(3))
        .expect_err("idle");
    assert_eq!(code(&e), (21, "No iteration is active".into()));
    // E.51
    let db = open();
    db.control("start", None);
    let e = db
        .int("next_checkpoint_request_id", SqlValue::Null)
        .expect_err("unseeded");
    assert_eq!(
        code(&e),
        (21, "Checkpoint request state has not been seeded".into())
    );
    assert_eq!(db.kv("target_checkpoint_request_id"), None);
}

#[test]
fn e55_e56_e57_applied_id() {
    let db = open();
    db.control("start", None);
    db.line(checkpoint("1", Some("1"), json!([])));
    let out = db.line(complete("1"));
    assert!(has_log(&out, "DEBUG", "Applied checkpoint request id 1"));
    assert!(out.contains(&json!({"DidCompleteSync": {"applied_checkpoint_request_id": "1"}})));
    let st = out.last().expect("status");
    assert_eq!(
        st["UpdateSyncStatus"]["status"]["internal_last_applied_checkpoint_request_id"],
        "1"
    );
    assert_eq!(db.kv("last_applied_checkpoint_request_id"), Some(1));
    let out = db.line(checkpoint("2", None, json!([])));
    assert_eq!(
        out[0]["UpdateSyncStatus"]["status"]["internal_last_applied_checkpoint_request_id"],
        "1"
    );
    let out = db.line(complete("2"));
    assert!(out.contains(&json!({"DidCompleteSync": {}})));
    assert!(
        out.last().expect("status")["UpdateSyncStatus"]["status"]
            .get("internal_last_applied_checkpoint_request_id")
            .is_none()
    );
    let out = db.control("stop", None);
    assert!(
        out[0]["UpdateSyncStatus"]["status"]
            .get("internal_last_applied_checkpoint_request_id")
            .is_none()
    );
}

#[test]
fn f60_write_checkpoint_before_upload_completes() {
    let db = open();
    db.sql("INSERT INTO items(id, col) VALUES ('local', 'data')");
    db.control("start", None);
    db.sql("DELETE FROM ps_crud");
    db.line(checkpoint(
        "1",
        Some("1"),
        json!([{"bucket": "prio1", "checksum": 0, "priority": 1}]),
    ));
    db.line(put("prio1", "1", "row-0", r#"{"col":"hi"}"#, 0));
    let out = db.line(complete("1"));
    assert_eq!(
        out,
        vec![
            json!({"LogLine": {"severity": "INFO", "line": "Could not apply checkpoint due to local data. Will retry at completed upload or next checkpoint."}})
        ]
    );
    db.int("target_checkpoint_request_id", SqlValue::Integer(1))
        .expect("target");
    let out = db.control("completed_upload", None);
    assert!(has_log(&out, "DEBUG", "Applied checkpoint request id 1"));
    assert_eq!(db.items(), ["row-0"]);
}

#[test]
fn f62_f63_f64_pending_checkpoint() {
    let db = open();
    db.sql("INSERT INTO items(id, col) VALUES ('local', 'data')");
    db.control("start", None);
    db.sql("DELETE FROM ps_crud");
    db.line(checkpoint(
        "1",
        None,
        json!([{"bucket": "prio1", "checksum": 0, "priority": 1}]),
    ));
    db.line(put("prio1", "1", "row-0", r#"{"col":"hi"}"#, 0));
    db.line(complete("1"));
    db.int("target_checkpoint_request_id", SqlValue::Integer(1))
        .expect("target");
    assert_eq!(db.control("completed_upload", None), Vec::<Value>::new());
    db.line(checkpoint(
        "1",
        Some("1"),
        json!([{"bucket": "prio1", "checksum": 0, "priority": 1}]),
    ));
    let out = db.line(complete("1"));
    assert!(has_log(&out, "DEBUG", "Validated and applied checkpoint"));
    assert_eq!(db.items(), ["row-0"]);

    let db = open();
    db.sql("INSERT INTO items(id, col) VALUES ('local', 'data')");
    db.control("start", None);
    db.sql("DELETE FROM ps_crud");
    db.line(checkpoint(
        "1",
        Some("1"),
        json!([{"bucket": "prio1", "checksum": 0, "priority": 1}]),
    ));
    db.line(put("prio1", "1", "row-0", r#"{"col":"hi"}"#, 0));
    db.line(complete("1"));
    db.sql("INSERT INTO items(id, col) VALUES ('local2', 'data2')");
    db.int("target_checkpoint_request_id", SqlValue::Integer(1))
        .expect("target");
    let out = db.control("completed_upload", None);
    assert_eq!(
        out,
        vec![
            json!({"LogLine": {"severity": "WARNING", "line": "Could not apply pending checkpoint even after completed upload"}})
        ]
    );
    assert_eq!(db.items(), ["local", "local2"]);
    db.sql("DELETE FROM ps_crud");
    assert_eq!(db.control("completed_upload", None), Vec::<Value>::new());
    assert_eq!(db.items(), ["local", "local2"]);
}

#[test]
fn f65_insert_only_blocks_while_queued() {
    let db = open();
    db.control("start", None);
    db.sql("INSERT INTO logs(id, msg) VALUES ('l1', 'x')");
    assert_eq!(db.kv("target_checkpoint_request_id"), None);
    db.line(checkpoint(
        "1",
        None,
        json!([{"bucket": "b", "checksum": 0}]),
    ));
    db.line(put("b", "1", "r", "{}", 0));
    let out = db.line(complete("1"));
    assert!(has_log(
        &out,
        "INFO",
        "Could not apply checkpoint due to local data"
    ));
    db.sql("DELETE FROM ps_crud");
    let out = db.control("completed_upload", None);
    assert!(has_log(
        &out,
        "DEBUG",
        "Applied pending checkpoint after completed upload"
    ));
    assert!(out.contains(&json!({"DidCompleteSync": {}})));
    assert_eq!(db.items(), ["r"]);
}

#[test]
fn g66_g67_g71_g74_errors() {
    let db = open();
    db.control("start", None);
    let e = db
        .raw(
            "line_text",
            SqlValue::Text(
                json!({"checkpoint_diff": {"last_op_id": "1", "buckets": []}}).to_string(),
            ),
        )
        .expect_err("diff");
    assert!(
        code(&e)
            .1
            .contains("checkpoint_diff without previous checkpoint")
    );

    db.control("start", None);
    db.line(checkpoint(
        "1",
        None,
        json!([{"bucket": "a", "checksum": 1234}]),
    ));
    db.line(json!({"data": {"bucket": "a", "data": [{"op_id": "1", "op": "PUT", "object_type": "items", "object_id": "1", "data": "{}", "checksum": 4321}]}}));
    let out = db.line(complete("1"));
    assert_eq!(
        out,
        vec![
            json!({"LogLine": {"severity": "WARNING", "line": "Could not apply checkpoint, Checksums didn't match, failed for: a (expected 0x000004d2, got 0x000010e1 = 0x000010e1 (op) + 0x00000000 (add))"}}),
            json!({"CloseSyncStream": {"hide_disconnect": false}}),
        ]
    );
    assert_eq!(db.count("SELECT count(*) FROM ps_buckets"), 0);

    db.control("start", None);
    let e = db
        .raw("line_text", SqlValue::Text("invalid sync line".into()))
        .expect_err("invalid");
    assert_eq!(code(&e), (4, "powersync_control: Sync protocol error: invalid text line. cause: expected value at line 1 column 1".into()));
    let e = db
        .raw("line_text", SqlValue::Text("{}".into()))
        .expect_err("ended");
    assert_eq!(code(&e).0, 21);

    db.control("start", None);
    db.raw("line_text", SqlValue::Text(complete("1").to_string()))
        .expect_err("complete first");
    assert!(db.raw("line_text", SqlValue::Text("{}".into())).is_err());
}

#[test]
fn g69_wrapping_checksums() {
    let db = open();
    db.control("start", None);
    db.line(checkpoint(
        "2",
        None,
        json!([{"bucket": "a", "checksum": -2}]),
    ));
    db.line(json!({"data": {"bucket": "a", "data": [
        {"op_id": "1", "op": "PUT", "object_type": "items", "object_id": "1", "data": "{}", "checksum": -1},
        {"op_id": "2", "op": "PUT", "object_type": "items", "object_id": "2", "data": "{}", "checksum": 4294967295u64}]}}));
    let out = db.line(complete("2"));
    assert!(has_log(&out, "DEBUG", "Validated and applied checkpoint"));
    assert_eq!(db.count("SELECT count(*) FROM ps_oplog WHERE hash = -1"), 2);
    assert_eq!(
        db.count("SELECT op_checksum FROM ps_buckets"),
        4_294_967_294
    );
}

#[test]
fn g72_not_in_transaction() {
    let db = open();
    let e =
        db.0.conn
            .query_row("SELECT powersync_control('stop', NULL)", [], |r| {
                r.get::<_, SqlValue>(0)
            })
            .expect_err("autocommit");
    assert_eq!(
        code(&e),
        (
            21,
            "powersync_control: This function may only be called in transactions.".into()
        )
    );
}

#[test]
fn h78_h80_resync() {
    let db = open();
    db.control("start", None);
    db.line(checkpoint(
        "1",
        None,
        json!([{"bucket": "a", "checksum": 0}]),
    ));
    db.line(put("a", "1", "row-0", r#"{"col":"hi"}"#, 0));
    db.line(complete("1"));
    db.sql("BEGIN");
    let e =
        db.0.conn
            .query_row("SELECT powersync_trigger_resync(1)", [], |r| {
                r.get::<_, SqlValue>(0)
            })
            .expect_err("active");
    db.sql("ROLLBACK");
    assert_eq!(
        code(&e),
        (
            3091,
            "Cannot clear or trigger resync while a sync iteration is active.".into()
        )
    );
    db.control("stop", None);
    db.sql("BEGIN; DELETE FROM ps_data__items; SELECT powersync_trigger_resync(1); COMMIT;");
    let status: String =
        db.0.conn
            .query_row("SELECT powersync_offline_sync_status()", [], |r| r.get(0))
            .expect("status");
    let status: Value = serde_json::from_str(&status).expect("json");
    assert_eq!(status["priority_status"], json!([]));
    let out = db.control("start", None);
    assert_eq!(
        out[1]["EstablishSyncStream"]["request"]["buckets"],
        json!([{"name": "a", "after": "1"}])
    );
    db.line(checkpoint(
        "1",
        None,
        json!([{"bucket": "a", "checksum": 0}]),
    ));
    db.line(complete("1"));
    assert_eq!(db.items(), ["row-0"]);
}
