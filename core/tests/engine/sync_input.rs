// SPDX-License-Identifier: Apache-2.0
//! Sync engine: bad input never half-applies; raw tables; untyped rows; streams (J.93–J.97).

use psync_test_support::engine;

use engine::sync::{Instruction, StartSyncStream, SyncCommand, instructions_to_json};
use serde_json::{Value, json};

const T0: i64 = 1_740_823_200_000_000;

struct Db(engine::TestDb);

fn open() -> Db {
    Db(engine::open_items())
}

impl Db {
    fn try_control(&self, cmd: SyncCommand) -> psync_core::Result<Vec<Instruction>> {
        self.0.control_at(cmd, T0)
    }
    fn control(&self, cmd: SyncCommand) -> Vec<Instruction> {
        self.try_control(cmd).expect("control")
    }
    fn line(&self, line: Value) -> Vec<Instruction> {
        self.control(SyncCommand::LineText(line.to_string()))
    }
    fn count(&self, sql: &str) -> i64 {
        self.0.count(sql)
    }
}

#[test]
fn bad_lines_are_protocol_errors_and_write_nothing() {
    let bad_lines = [
        r#"{"data":{"bucket":"a","data":[{"op_id":"1","op":"PUT","object_type":"items","object_id":"1","data":"{}","checksum":1},{"op_id":2,"op":"PUT","checksum":1}]}}"#,
        r#"{"data":{"bucket":"a","data":[{"op_id":"1","op":"PUT","object_type":"items","object_id":"1","data":"{}","checksum":1},{"op_id":"2","op":"UPSERT","checksum":1}]}}"#,
        r#"{"data":{"bucket":"a","data":[{"op_id":"1","op":"PUT","object_type":"items","object_id":"1","data":"{}","checksum":1.5}]}}"#,
        r#"{"data":{"bucket":"a","data":[{"op_id":"1","op":"PUT","object_type":"items","object_id":"1","data":"{}","checksum":-3000000000}]}}"#,
        r#"{"data":{"bucket":"a","data":[{"op_id":"x1","op":"PUT","checksum":1}]}}"#,
        r#"{"checkpoint":{"last_op_id":"1","write_checkpoint":5,"buckets":[]}}"#,
        r#"{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":"a","checksum":1,"priority":-1}]}}"#,
        r#"{"checkpoint":{"last_op_id":"1","buckets":[{"bucket":"a","checksum":1,"priority":2147483647}]}}"#,
        r#"{"data":"#,
    ];
    for bad in bad_lines {
        let db = open();
        db.control(SyncCommand::Start(StartSyncStream::default()));
        let e = db
            .try_control(SyncCommand::LineText(bad.to_string()))
            .expect_err(bad);
        assert!(
            matches!(e.kind(), psync_core::ErrorKind::Protocol(_)),
            "{bad}: {e}"
        );
        assert_eq!(db.count("SELECT count(*) FROM ps_oplog"), 0, "{bad}");
        assert_eq!(db.count("SELECT count(*) FROM ps_buckets"), 0, "{bad}");
        assert!(
            !db.0.state.sync.is_active(),
            "protocol errors end the iteration"
        );
    }
}

#[test]
fn bad_bson_is_a_protocol_error_through_sql() {
    let db = open();
    db.control(SyncCommand::Start(StartSyncStream::default()));
    let good = engine::bson_line(&json!({"token_expires_in": 60}));
    for bad in [vec![], vec![1, 2, 3], good[..good.len() - 1].to_vec(), {
        let mut b = good.clone();
        b[4] = 0x7f;
        b
    }] {
        db.control(SyncCommand::Start(StartSyncStream::default()));
        db.0.conn.execute_batch("BEGIN").expect("begin");
        let e =
            db.0.conn
                .query_row("SELECT powersync_control('line_binary', ?)", [&bad], |r| {
                    r.get::<_, String>(0)
                })
                .expect_err("bad bson");
        db.0.conn.execute_batch("ROLLBACK").expect("rollback");
        match e {
            rusqlite::Error::SqliteFailure(f, Some(msg)) => {
                assert_eq!(f.extended_code, 4);
                assert!(
                    msg.starts_with("powersync_control: Sync protocol error: invalid binary line"),
                    "{msg}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
    // Text payload for line_binary is an argument error, not a protocol error.
    db.control(SyncCommand::Start(StartSyncStream::default()));
    db.0.conn.execute_batch("BEGIN").expect("begin");
    let e =
        db.0.conn
            .query_row("SELECT powersync_control('line_binary', 'x')", [], |r| {
                r.get::<_, String>(0)
            })
            .expect_err("text");
    db.0.conn.execute_batch("ROLLBACK").expect("rollback");
    assert!(e.to_string().contains("blob"), "{e}");
    assert!(db.0.state.sync.is_active());
}

#[test]
fn ops_for_unknown_types_go_to_ps_untyped_and_removes_apply() {
    let db = open();
    db.control(SyncCommand::Start(StartSyncStream::default()));
    db.line(
        json!({"checkpoint": {"last_op_id": "2", "buckets": [{"bucket": "a", "checksum": 3}]}}),
    );
    db.line(json!({"data": {"bucket": "a", "data": [
        {"op_id": "1", "op": "PUT", "object_type": "other", "object_id": "o1", "data": "{\"x\":1}", "checksum": 1},
        {"op_id": "2", "op": "PUT", "object_type": "items", "object_id": "i1", "data": "{\"col\":\"a\"}", "checksum": 2}]}}));
    db.line(json!({"checkpoint_complete": {"last_op_id": "2"}}));
    assert_eq!(
        db.count("SELECT count(*) FROM ps_untyped WHERE type = 'other' AND id = 'o1'"),
        1
    );
    assert_eq!(db.count("SELECT count(*) FROM items"), 1);
    // REMOVE of a published row deletes it at the next complete apply.
    db.line(
        json!({"checkpoint": {"last_op_id": "3", "buckets": [{"bucket": "a", "checksum": 6}]}}),
    );
    db.line(json!({"data": {"bucket": "a", "data": [
        {"op_id": "3", "op": "REMOVE", "object_type": "items", "object_id": "i1", "checksum": 3}]}}));
    let out = db.line(json!({"checkpoint_complete": {"last_op_id": "3"}}));
    assert!(
        instructions_to_json(&out)
            .expect("json")
            .contains("Validated and applied")
    );
    assert_eq!(db.count("SELECT count(*) FROM items"), 0);
    // CLEAR resets the bucket checksum and removes everything at the next apply.
    db.line(
        json!({"checkpoint": {"last_op_id": "4", "buckets": [{"bucket": "a", "checksum": 10}]}}),
    );
    db.line(json!({"data": {"bucket": "a", "data": [
        {"op_id": "4", "op": "CLEAR", "checksum": 10}]}}));
    let out = db.line(json!({"checkpoint_complete": {"last_op_id": "4"}}));
    assert!(
        instructions_to_json(&out)
            .expect("json")
            .contains("Validated and applied")
    );
    assert_eq!(db.count("SELECT count(*) FROM ps_untyped"), 0);
    assert_eq!(db.count("SELECT count(*) FROM ps_oplog"), 0);
}

#[test]
fn raw_tables_use_explicit_and_inferred_statements() {
    let db = open();
    db.0.conn
        .execute_batch(
            "CREATE TABLE users(id TEXT PRIMARY KEY, name TEXT, extra TEXT);
             CREATE TABLE notes(id TEXT PRIMARY KEY, body TEXT, secret TEXT);",
        )
        .expect("tables");
    let schema = json!({"tables": [], "raw_tables": [
        {"name": "user", "table_name": "users",
         "put": {"sql": "INSERT OR REPLACE INTO users(id, name, extra) VALUES (?, ?, ?)",
                 "params": ["Id", {"Column": "name"}, "Rest"]},
         "delete": {"sql": "DELETE FROM users WHERE id = ?", "params": ["Id"]}},
        {"name": "notes", "synced_columns": ["body"]}]});
    db.control(SyncCommand::Start(StartSyncStream {
        schema: Some(schema),
        ..StartSyncStream::default()
    }));
    db.line(
        json!({"checkpoint": {"last_op_id": "2", "buckets": [{"bucket": "a", "checksum": 3}]}}),
    );
    db.line(json!({"data": {"bucket": "a", "data": [
        {"op_id": "1", "op": "PUT", "object_type": "user", "object_id": "u1", "data": "{\"name\":\"Ann\",\"age\":3}", "checksum": 1},
        {"op_id": "2", "op": "PUT", "object_type": "notes", "object_id": "n1", "data": "{\"body\":\"b\",\"secret\":\"s\"}", "checksum": 2}]}}));
    db.line(json!({"checkpoint_complete": {"last_op_id": "2"}}));
    let user: (String, String) =
        db.0.conn
            .query_row("SELECT name, extra FROM users WHERE id = 'u1'", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("user");
    assert_eq!(user, ("Ann".to_string(), r#"{"age":3}"#.to_string()));
    let note: (String, Option<String>) =
        db.0.conn
            .query_row("SELECT body, secret FROM notes WHERE id = 'n1'", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("note");
    assert_eq!(note, ("b".to_string(), None));
    assert_eq!(db.count("SELECT count(*) FROM ps_untyped"), 0);
}

#[test]
fn j93_j94_default_streams() {
    let db = open();
    db.control(SyncCommand::Start(StartSyncStream::default()));
    let out = db.line(json!({"checkpoint": {"last_op_id": "1", "buckets": [
        {"bucket": "a", "checksum": 0, "priority": 1, "count": 1, "subscriptions": [{"default": 0}]}],
        "streams": [{"name": "my_default_stream", "is_default": true, "errors": []}]}}));
    let json: Value = serde_json::from_str(&instructions_to_json(&out).expect("json")).expect("v");
    assert_eq!(
        json[0]["UpdateSyncStatus"]["status"]["streams"],
        json!([{"name": "my_default_stream", "parameters": null, "progress": {"total": 1, "downloaded": 0},
            "active": true, "is_default": true, "has_explicit_subscription": false,
            "expires_at": null, "last_synced_at": null, "priority": 1}])
    );
    let out = db.line(json!({"partial_checkpoint_complete": {"last_op_id": "1", "priority": 1}}));
    let json: Value = serde_json::from_str(&instructions_to_json(&out).expect("json")).expect("v");
    assert_eq!(
        json[0]["UpdateSyncStatus"]["status"]["streams"][0]["last_synced_at"],
        T0
    );
    assert_eq!(
        db.count("SELECT last_synced_at FROM ps_stream_subscriptions"),
        T0
    );

    db.line(json!({"checkpoint": {"last_op_id": "1", "buckets": [],
        "streams": [{"name": "s1", "is_default": true, "errors": []}]}}));
    db.line(json!({"checkpoint": {"last_op_id": "1", "buckets": [],
        "streams": [{"name": "s2", "is_default": true, "errors": []}]}}));
    let names: Vec<String> =
        db.0.rows("SELECT stream_name FROM ps_stream_subscriptions", |r| {
            r.get(0)
        });
    assert_eq!(names, ["s2"]);
}

#[test]
fn j95_j96_j97_explicit_subscriptions_and_errors() {
    let db = open();
    db.control(SyncCommand::Start(StartSyncStream::default()));
    db.line(json!({"checkpoint": {"last_op_id": "1", "buckets": [],
        "streams": [{"name": "a", "is_default": true, "errors": []}]}}));
    db.control(SyncCommand::Subscriptions(
        json!({"subscribe": {"stream": {"name": "a"}}}).to_string(),
    ));
    assert_eq!(db.count("SELECT count(*) FROM ps_stream_subscriptions WHERE active AND is_default AND ttl IS NOT NULL"), 1);
    db.line(json!({"checkpoint": {"last_op_id": "1", "buckets": []}}));
    assert_eq!(db.count("SELECT count(*) FROM ps_stream_subscriptions WHERE NOT active AND NOT is_default AND ttl IS NOT NULL"), 1);

    let out = db.line(json!({"checkpoint": {"last_op_id": "1", "buckets": [],
        "streams": [{"name": "a", "is_default": true, "errors": [{"subscription": "default", "message": "error message"}]}]}}));
    assert!(
        instructions_to_json(&out)
            .expect("json")
            .contains("Default subscription a has errors: error message")
    );

    // J.97: the request lists the explicit subscription until it is unsubscribed.
    let out = db.control(SyncCommand::Start(StartSyncStream::default()));
    let json: Value = serde_json::from_str(&instructions_to_json(&out).expect("json")).expect("v");
    assert_eq!(
        json[1]["EstablishSyncStream"]["request"]["streams"]["subscriptions"],
        json!([{"stream": "a", "parameters": null, "override_priority": null}])
    );
    db.control(SyncCommand::Stop);
    db.control(SyncCommand::Subscriptions(
        json!({"unsubscribe": {"name": "a", "params": null}}).to_string(),
    ));
    let out = db.control(SyncCommand::Start(StartSyncStream::default()));
    let json: Value = serde_json::from_str(&instructions_to_json(&out).expect("json")).expect("v");
    assert_eq!(
        json[1]["EstablishSyncStream"]["request"]["streams"]["subscriptions"],
        json!([])
    );
}

#[test]
fn j98_new_subscription_closes_the_stream_on_update() {
    let db = open();
    db.control(SyncCommand::Start(StartSyncStream::default()));
    db.control(SyncCommand::Subscriptions(
        json!({"subscribe": {"stream": {"name": "s", "params": {"a": 1}}}}).to_string(),
    ));
    let out = db.control(SyncCommand::UpdateSubscriptions(vec![]));
    assert_eq!(
        out,
        vec![Instruction::CloseSyncStream {
            hide_disconnect: true
        }]
    );
}
