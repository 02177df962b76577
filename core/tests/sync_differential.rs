// SPDX-License-Identifier: Apache-2.0
//! Differential test: the same `powersync_control` script on this core and on the reference
//! PowerSync core 0.5.3 must produce the same instructions (timestamps normalised) and the same
//! sync tables. The reference library is named by `PSYNC_REFERENCE_CORE` (`cargo xtask test` sets it).

#[path = "schema_common/mod.rs"]
mod common;

use std::path::PathBuf;

use psync_core::schema::{Column, Schema, Table};
use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

/// The reference core 0.5.3 library; `cargo xtask test` fetches it and sets the variable.
fn reference_path() -> PathBuf {
    let path = std::env::var_os("PSYNC_REFERENCE_CORE").map(PathBuf::from).expect(
        "PSYNC_REFERENCE_CORE must name the reference core 0.5.3 library; run `cargo xtask test`",
    );
    assert!(path.exists(), "reference core missing at {path:?}");
    path
}

fn schema() -> Schema {
    Schema::new([Table::new("items", [Column::text("col")])])
}

fn reference_db(so: &PathBuf) -> Connection {
    let conn = Connection::open_in_memory().expect("open");
    // SAFETY: loading the trusted reference extension in a test.
    unsafe {
        let _guard = rusqlite::LoadExtensionGuard::new(&conn).expect("enable");
        conn.load_extension(so, Some("sqlite3_powersync_init"))
            .expect("load reference");
    }
    conn.execute_batch(
        "BEGIN; SELECT powersync_init();
         UPDATE ps_kv SET value = 'test-test-test-test' WHERE key = 'client_id'; COMMIT;",
    )
    .expect("init");
    conn.execute_batch("BEGIN").expect("begin");
    conn.query_row(
        "SELECT powersync_replace_schema(?)",
        [schema().to_json().expect("json")],
        |_| Ok(()),
    )
    .expect("schema");
    conn.execute_batch("COMMIT").expect("commit");
    conn
}

/// Replaces every timestamp-like field so the two cores compare equal.
fn normalise(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if (k == "last_synced_at" || k == "expires_at") && !v.is_null() {
                    *v = json!("<time>");
                } else {
                    normalise(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalise),
        _ => {}
    }
}

enum Step {
    Control(&'static str, Option<String>),
    Binary(Vec<u8>),
    Sql(&'static str),
}

fn run(conn: &Connection, step: &Step) -> Value {
    conn.execute_batch("BEGIN").expect("begin");
    let result = match step {
        Step::Control(cmd, payload) => conn
            .query_row(
                "SELECT powersync_control(?, ?)",
                rusqlite::params![cmd, payload],
                |r| r.get::<_, SqlValue>(0),
            )
            .map(|v| match v {
                SqlValue::Text(t) => serde_json::from_str(&t).unwrap_or(Value::String(t)),
                SqlValue::Integer(i) => json!(i),
                _ => Value::Null,
            })
            .unwrap_or_else(|e| json!({"error": e.sqlite_error_code().map(|c| format!("{c:?}"))})),
        Step::Binary(bytes) => conn
            .query_row("SELECT powersync_control('line_binary', ?)", [bytes], |r| {
                r.get::<_, String>(0)
            })
            .map(|t| serde_json::from_str(&t).unwrap_or(Value::String(t)))
            .unwrap_or_else(|e| json!({"error": e.sqlite_error_code().map(|c| format!("{c:?}"))})),
        Step::Sql(sql) => conn
            .execute_batch(sql)
            .map(|()| Value::Null)
            .unwrap_or_else(|e| json!({"error": e.to_string()})),
    };
    conn.execute_batch("COMMIT").expect("commit");
    let mut result = result;
    normalise(&mut result);
    result
}

fn tables(conn: &Connection) -> Value {
    common::sync_tables(conn)
}

fn line(v: Value) -> Step {
    Step::Control("line_text", Some(v.to_string()))
}

fn op(op_id: u32, op: &str, id: &str, data: Option<&str>, checksum: i64) -> Value {
    let mut v = json!({"op_id": op_id.to_string(), "op": op, "object_type": "items", "object_id": id, "checksum": checksum});
    if let Some(d) = data {
        v["data"] = json!(d);
    }
    v
}

fn compare(script: &[Step]) {
    let so = reference_path();
    let ours = common::open();
    ours.apply(&schema());
    let reference = reference_db(&so);
    for (i, step) in script.iter().enumerate() {
        let a = run(&ours.conn, step);
        let b = run(&reference, step);
        if std::env::var_os("PSYNC_DIFF_VERBOSE").is_some() {
            eprintln!("{i}: {a}");
        }
        assert_eq!(a, b, "step {i} instructions differ");
        assert_eq!(
            tables(&ours.conn),
            tables(&reference),
            "step {i} tables differ"
        );
    }
}

fn bson_line(v: Value) -> Step {
    Step::Binary(psync_core::sync::bson::encode_document(&v))
}

#[test]
fn streams_bson_tokens_and_errors_match_the_reference_core() {
    compare(&[
        Step::Control(
            "subscriptions",
            Some(
                r#"{"subscribe":{"stream":{"name":"explicit","params":{"x":1}},"ttl":3600}}"#
                    .into(),
            ),
        ),
        Step::Control(
            "start",
            Some(r#"{"active_streams":[{"name":"explicit","params":{"x":1}}]}"#.into()),
        ),
        line(json!({"checkpoint": {"last_op_id": "2", "buckets": [
            {"bucket": "d", "checksum": 3, "priority": 1, "count": 2, "subscriptions": [{"default": 0}]},
            {"bucket": "e", "checksum": 0, "count": 0, "subscriptions": [{"sub": 0}]}],
            "streams": [{"name": "def", "is_default": true, "errors": [{"subscription": "default", "message": "boom"}]},
                        {"name": "explicit", "is_default": false, "errors": []}]}})),
        bson_line(json!({"data": {"bucket": "d", "data": [
            op(1, "PUT", "x1", Some(r#"{"col":"b"}"#), 1),
            {"op_id": "2", "op": "PUT", "object_type": "items", "object_id": "x2", "data": "{}", "checksum": 2.0}]}})),
        line(json!({"partial_checkpoint_complete": {"last_op_id": "2", "priority": 1}})),
        line(json!({"checkpoint_complete": {"last_op_id": "2"}})),
        Step::Control(
            "update_subscriptions",
            Some(r#"[{"name":"explicit","params":{"x":1}}]"#.into()),
        ),
        line(json!({"token_expires_in": 100})),
        Step::Control("refreshed_token", None),
        Step::Control("start", None),
        line(
            json!({"checkpoint_diff": {"last_op_id": "3", "updated_buckets": [], "removed_buckets": []}}),
        ),
        Step::Control("start", None),
        Step::Control("line_text", Some("not json".into())),
        Step::Control("completed_upload", None),
        Step::Control("start", None),
        line(json!({"token_expires_in": 0})),
        Step::Control("target_checkpoint_request_id", None),
        Step::Control("target_checkpoint_request_id", Some("0".into())),
        Step::Control("current_checkpoint_request_id", None),
    ]);
}

#[test]
fn same_instructions_and_tables_as_the_reference_core() {
    let script = vec![
        Step::Control(
            "start",
            Some(r#"{"parameters":{"p":1},"checkpoint_mode":"requests"}"#.into()),
        ),
        Step::Control("connection", Some("established".into())),
        line(
            json!({"checkpoint": {"last_op_id": "5", "write_checkpoint": "1", "buckets": [
            {"bucket": "a", "checksum": 10, "priority": 1, "count": 3},
            {"bucket": "b", "checksum": 9, "count": 2}]}}),
        ),
        line(json!({"data": {"bucket": "a", "data": [
            op(1, "PUT", "r1", Some(r#"{"col":"one"}"#), 1),
            op(2, "PUT", "r1", Some(r#"{"col":"one v2"}"#), 2),
            {"op_id": "3", "op": "MOVE", "checksum": 7}]}})),
        Step::Control("seed_checkpoint_request_id", Some("3".into())),
        Step::Control("current_checkpoint_request_id", None),
        line(json!({"partial_checkpoint_complete": {"last_op_id": "5", "priority": 1}})),
        line(json!({"data": {"bucket": "b", "data": [
            op(4, "PUT", "r2", Some(r#"{"col":"two"}"#), 4),
            op(5, "PUT", "r3", None, 5)]}})),
        Step::Sql("INSERT INTO items(id, col) VALUES ('local', 'x')"),
        line(json!({"checkpoint_complete": {"last_op_id": "5"}})),
        Step::Sql("DELETE FROM ps_crud"),
        Step::Control("next_checkpoint_request_id", None),
        Step::Control("target_checkpoint_request_id", Some("4".into())),
        Step::Control("completed_upload", None),
        line(
            json!({"checkpoint_diff": {"last_op_id": "7", "write_checkpoint": "4", "updated_buckets": [
            {"bucket": "b", "checksum": 20, "count": 3}], "removed_buckets": ["a"]}}),
        ),
        line(json!({"data": {"bucket": "b", "data": [
            op(6, "REMOVE", "r2", None, 6),
            op(7, "PUT", "r4", Some(r#"{"col":"four"}"#), 5)]}})),
        line(json!({"checkpoint_complete": {"last_op_id": "7"}})),
        line(json!({"token_expires_in": 20})),
        line(
            json!({"checkpoint": {"last_op_id": "8", "buckets": [{"bucket": "b", "checksum": 1}]}}),
        ),
        line(json!({"checkpoint_complete": {"last_op_id": "8"}})),
        Step::Control("start", None),
        line(
            json!({"checkpoint": {"last_op_id": "9", "buckets": [{"bucket": "c", "checksum": -2, "priority": 0}]}}),
        ),
        line(json!({"data": {"bucket": "c", "data": [
            op(8, "PUT", "c1", Some("{}"), -1),
            op(9, "PUT", "c2", Some("{}"), 4294967295)]}})),
        line(json!({"partial_checkpoint_complete": {"last_op_id": "9", "priority": 0}})),
        line(json!({"unknown_line": {}})),
        Step::Control("stop", None),
    ];
    compare(&script);
}

/// Random PUT/REMOVE/MOVE/CLEAR ops (few ids, subkeys, two buckets), local writes and
/// checkpoints whose checksums come from our own tables: the reference validates them
/// independently, so any checksum or apply divergence shows up as a difference.
#[test]
fn random_oplog_histories_match_the_reference_core() {
    let so = reference_path();
    for seed in 1..=seeds() {
        let ours = common::open();
        ours.apply(&schema());
        let reference = reference_db(&so);
        let mut rng = common::XorShift(0x2545_f491_4f6c_dd1d ^ (seed * 0x9e37_79b9));
        let mut op_id = 0u64;
        let step = |s: &Step, what: &str| {
            let a = run(&ours.conn, s);
            let b = run(&reference, s);
            assert_eq!(a, b, "seed {seed} {what}");
            assert_eq!(
                tables(&ours.conn),
                tables(&reference),
                "seed {seed} {what} tables"
            );
        };
        step(&Step::Control("start", None), "start");
        for round in 0..12 {
            // Bucket c is sometimes left out of the checkpoint (deleted locally).
            let buckets: Vec<&str> = if rng.below(3) == 0 {
                vec!["a", "b"]
            } else {
                vec!["a", "b", "c"]
            };
            // Checkpoint with the checksums our tables will have after this round's data is
            // unknown yet, so send data first and the checkpoint after.
            for &bucket in &buckets {
                let mut ops = Vec::new();
                for _ in 0..rng.below(6) {
                    op_id += 1;
                    let id = format!("r{}", rng.below(4));
                    let object_type = if rng.below(5) == 0 { "other" } else { "items" };
                    let checksum = rng.below(1 << 32) as i64 - (1 << 31);
                    let mut op = match rng.below(10) {
                        0..=5 => json!({"op": "PUT", "object_type": object_type, "object_id": id,
                            "data": format!("{{\"col\":\"{op_id}\"}}")}),
                        6 | 7 => {
                            json!({"op": "REMOVE", "object_type": object_type, "object_id": id})
                        }
                        8 => json!({"op": "MOVE"}),
                        _ => json!({"op": "CLEAR"}),
                    };
                    if rng.below(4) == 0 {
                        op["subkey"] = json!(format!("s{}", rng.below(2)));
                    }
                    op["op_id"] = json!(op_id.to_string());
                    op["checksum"] = json!(checksum);
                    ops.push(op);
                }
                if !ops.is_empty() {
                    step(
                        &line(json!({"data": {"bucket": bucket, "data": ops}})),
                        "data",
                    );
                }
            }
            if rng.below(3) == 0 {
                let id = rng.below(4);
                step(
                    &Step::Sql(Box::leak(
                        format!("INSERT OR REPLACE INTO items(id, col) VALUES ('r{id}', 'local')")
                            .into_boxed_str(),
                    )),
                    "local write",
                );
            }
            if rng.below(3) == 0 {
                step(&Step::Sql("DELETE FROM ps_crud"), "upload");
                step(
                    &Step::Control("target_checkpoint_request_id", Some("0".into())),
                    "target",
                );
                step(&Step::Control("completed_upload", None), "completed_upload");
            }
            let sums: Vec<Value> = buckets
                .iter()
                .map(|b| {
                    let sum: i64 = ours
                        .conn
                        .query_row(
                            "SELECT coalesce((SELECT (add_checksum + op_checksum) & 0xffffffff FROM ps_buckets WHERE name = ?), 0)",
                            [b],
                            |r| r.get(0),
                        )
                        .expect("sum");
                    json!({"bucket": b, "checksum": sum, "priority": match *b { "a" => 0, "b" => 1, _ => 3 }})
                })
                .collect();
            let last = op_id.to_string();
            step(
                &line(json!({"checkpoint": {"last_op_id": last, "buckets": sums}})),
                "checkpoint",
            );
            for priority in [0, 1] {
                if rng.below(2) == 0 {
                    step(
                        &line(
                            json!({"partial_checkpoint_complete": {"last_op_id": last, "priority": priority}}),
                        ),
                        "partial",
                    );
                }
            }
            if rng.below(4) == 0 {
                // No complete line: the next round's checkpoint replaces this one.
                continue;
            }
            step(
                &line(json!({"checkpoint_complete": {"last_op_id": last}})),
                &format!("complete {round}"),
            );
        }
    }
}

/// Number of random histories (`PSYNC_DIFF_SEEDS`, default 6).
fn seeds() -> u64 {
    std::env::var("PSYNC_DIFF_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6)
}
