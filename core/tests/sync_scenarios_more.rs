// SPDX-License-Identifier: Apache-2.0
//! More sync engine scenarios (scenarios.md C, D, E, F, G, H, J) through `powersync_control`
//! on real SQLite: progress, priorities over time, BUSY recovery, clear/resync, streams.

mod sync_common;

use psync_core::schema::{Column, Schema, Table};
use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};
use sync_common::*;

fn status_of(instr: &[Value]) -> Option<Value> {
    instr
        .iter()
        .rev()
        .find_map(|i| i.get("UpdateSyncStatus"))
        .map(|s| s["status"].clone())
}

/// `(downloaded, total)` over all priorities of the last status in `instr`.
fn progress(instr: &[Value]) -> Option<(i64, i64)> {
    let status = status_of(instr)?;
    let buckets = status["downloading"]["buckets"].as_object()?;
    let mut done = 0;
    let mut total = 0;
    for b in buckets.values() {
        done += b["since_last"].as_i64().unwrap_or(0);
        total += b["target_count"].as_i64().unwrap_or(0) - b["at_last"].as_i64().unwrap_or(0);
    }
    Some((done, total))
}

fn ops(bucket: &str, from: u64, n: u64) -> Value {
    let data: Vec<Value> = (from..from + n)
        .map(|i| {
            json!({"op_id": i.to_string(), "op": "PUT", "object_type": "items",
                         "object_id": format!("r{i}"), "data": "{}", "checksum": 1})
        })
        .collect();
    json!({"data": {"bucket": bucket, "data": data}})
}

#[test]
fn d37_progress_without_priorities() {
    let db = open();
    db.control("start", None);
    let out = db.line(checkpoint(
        "10",
        None,
        json!([{"bucket": "a", "checksum": 10, "count": 10}]),
    ));
    assert_eq!(progress(&out), Some((0, 10)));
    let out = db.line(ops("a", 1, 10));
    assert_eq!(progress(&out), Some((10, 10)));
    let out = db.line(complete("10"));
    assert_eq!(status_of(&out).expect("status")["downloading"], Value::Null);
    let out = db.line(
        json!({"checkpoint_diff": {"last_op_id": "12", "updated_buckets": [
        {"bucket": "a", "checksum": 12, "count": 12}], "removed_buckets": []}}),
    );
    assert_eq!(progress(&out), Some((0, 2)));
    let out = db.line(ops("a", 11, 2));
    assert_eq!(progress(&out), Some((2, 2)));
    let out = db.line(complete("12"));
    assert_eq!(status_of(&out).expect("status")["downloading"], Value::Null);
}

#[test]
fn d38_d39_interrupted_download_resumes_progress() {
    let db = open();
    db.control("start", None);
    db.line(checkpoint(
        "10",
        None,
        json!([{"bucket": "a", "checksum": 10, "count": 10}]),
    ));
    let out = db.line(ops("a", 1, 5));
    assert_eq!(progress(&out), Some((5, 10)));
    let out = db.control("stop", None);
    assert_eq!(status_of(&out).expect("status")["downloading"], Value::Null);
    db.control("start", None);
    let out = db.line(checkpoint(
        "10",
        None,
        json!([{"bucket": "a", "checksum": 10, "count": 10}]),
    ));
    assert_eq!(progress(&out), Some((5, 10)));
    // D.39: a new checkpoint with more ops keeps what was downloaded.
    let out = db.line(checkpoint(
        "12",
        None,
        json!([{"bucket": "a", "checksum": 12, "count": 12}]),
    ));
    assert_eq!(progress(&out), Some((5, 12)));
    let out = db.line(ops("a", 6, 7));
    assert_eq!(progress(&out), Some((12, 12)));
}

#[test]
fn d40_defrag_resets_progress() {
    let db = open();
    db.control("start", None);
    db.line(checkpoint(
        "10",
        None,
        json!([{"bucket": "a", "checksum": 10, "count": 10}]),
    ));
    db.line(ops("a", 1, 5));
    db.control("stop", None);
    db.control("start", None);
    let out = db.line(checkpoint(
        "14",
        None,
        json!([{"bucket": "a", "checksum": 4, "count": 4}]),
    ));
    assert_eq!(progress(&out), Some((0, 4)));
    assert_eq!(
        db.count("SELECT count_at_last + count_since_last FROM ps_buckets WHERE name = 'a'"),
        0
    );
}

#[test]
fn d41_progress_per_priority() {
    let db = open();
    db.control("start", None);
    let prio = |out: &[Value], p: &str| {
        let s = status_of(out).expect("status");
        let b = &s["downloading"]["buckets"][p];
        (
            b["since_last"].as_i64().unwrap_or(0),
            b["target_count"].as_i64().unwrap_or(0) - b["at_last"].as_i64().unwrap_or(0),
        )
    };
    let out = db.line(checkpoint(
        "10",
        None,
        json!([
        {"bucket": "a", "checksum": 5, "count": 5, "priority": 0},
        {"bucket": "b", "checksum": 5, "count": 5, "priority": 2}]),
    ));
    assert_eq!(prio(&out, "prio_0"), (0, 5));
    assert_eq!(progress(&out), Some((0, 10)));
    let out = db.line(ops("a", 1, 5));
    assert_eq!(
        (prio(&out, "prio_0"), progress(&out)),
        ((5, 5), Some((5, 10)))
    );
    let out = db.line(ops("b", 6, 2));
    assert_eq!(progress(&out), Some((7, 10)));
    let out = db.line(checkpoint(
        "20",
        None,
        json!([
        {"bucket": "a", "checksum": 8, "count": 8, "priority": 0},
        {"bucket": "b", "checksum": 6, "count": 6, "priority": 2}]),
    ));
    assert_eq!(
        (prio(&out, "prio_0"), progress(&out)),
        ((5, 8), Some((7, 14)))
    );
    let out = db.line(ops("a", 11, 3));
    assert_eq!(
        (prio(&out, "prio_0"), progress(&out)),
        ((8, 8), Some((10, 14)))
    );
    let out = db.line(ops("b", 14, 4));
    assert_eq!(progress(&out), Some((14, 14)));
    let out = db.line(complete("20"));
    assert_eq!(status_of(&out).expect("status")["downloading"], Value::Null);
}

#[test]
fn d42_d43_persisted_counters_and_download_size() {
    let db = open();
    db.control("start", None);
    db.line(checkpoint(
        "0",
        None,
        json!([{"bucket": "bkt", "checksum": 0, "count": 2}]),
    ));
    db.line(complete("0"));
    let counters = |db: &Db| {
        (
            db.count("SELECT count_at_last FROM ps_buckets WHERE name = 'bkt'"),
            db.count("SELECT count_since_last FROM ps_buckets WHERE name = 'bkt'"),
        )
    };
    let l1 = ops("bkt", 1, 1).to_string();
    db.control("line_text", Some(&l1));
    assert_eq!(counters(&db), (0, 1));
    let l2 = ops("bkt", 2, 1).to_string();
    db.control("line_text", Some(&l2));
    assert_eq!(counters(&db), (0, 2));
    assert_eq!(
        db.count("SELECT downloaded_size FROM ps_buckets WHERE name = 'bkt'"),
        (l1.len() + l2.len()) as i64
    );
    db.line(checkpoint(
        "2",
        None,
        json!([{"bucket": "bkt", "checksum": 2, "count": 2}]),
    ));
    db.line(complete("2"));
    assert_eq!(counters(&db), (2, 0));
}

#[test]
fn c27_pending_local_data_blocks_second_checkpoint() {
    let db = open();
    db.control("start", None);
    db.line(checkpoint(
        "1",
        None,
        json!([{"bucket": "prio1", "checksum": 0, "priority": 1}]),
    ));
    db.line(complete("1"));
    db.sql("INSERT INTO items(id, col) VALUES ('local', 'data')");
    db.line(checkpoint(
        "2",
        None,
        json!([{"bucket": "prio1", "checksum": 1, "priority": 1}]),
    ));
    db.line(put("prio1", "2", "row-0", r#"{"col":"hi"}"#, 1));
    let out = db.line(complete("2"));
    assert!(has_log(
        &out,
        "INFO",
        "Could not apply checkpoint due to local data"
    ));
    assert_eq!(db.items(), vec!["local".to_string()]);
}

#[test]
fn c29_repeated_syncs_keep_one_state_row_per_level() {
    let db = open();
    db.control("start", None);
    let mut op = 0;
    for round in 0..10 {
        let buckets: Vec<Value> = (1..=3)
            .map(|p| json!({"bucket": format!("prio{p}"), "checksum": round + 1, "priority": p}))
            .collect();
        op += 1;
        db.line(checkpoint(&op.to_string(), None, json!(buckets)));
        for p in 1..=3 {
            db.line(put(
                &format!("prio{p}"),
                &(op * 10 + p).to_string(),
                &format!("r{p}"),
                "{}",
                1,
            ));
            db.line(json!({"partial_checkpoint_complete": {"last_op_id": op.to_string(), "priority": p}}));
            let rows = db.count("SELECT count(*) FROM ps_sync_state");
            let lowest = db.count("SELECT min(priority) FROM ps_sync_state");
            assert_eq!(lowest, p);
            assert!(rows >= 1);
        }
        db.line(complete(&op.to_string()));
        assert_eq!(db.count("SELECT count(*) FROM ps_sync_state"), 1);
        assert_eq!(db.count("SELECT priority FROM ps_sync_state"), 2147483647);
    }
}

#[test]
fn c36_in_sync_operation_is_visible_to_triggers_during_apply() {
    let db = open();
    db.sql(
        "CREATE TABLE seen(flag INTEGER);
         CREATE TRIGGER t AFTER INSERT ON ps_data__items BEGIN
           INSERT INTO seen VALUES (powersync_in_sync_operation()); END;",
    );
    db.control("start", None);
    db.line(checkpoint(
        "1",
        None,
        json!([{"bucket": "a", "checksum": 1}]),
    ));
    db.line(put("a", "1", "row-0", r#"{"col":"hi"}"#, 1));
    db.line(complete("1"));
    assert_eq!(db.count("SELECT count(*) FROM seen WHERE flag = 1"), 1);
    assert_eq!(db.count("SELECT powersync_in_sync_operation()"), 0);
}

#[test]
fn e52_e53_target_probing_and_sentinel() {
    let db = open();
    assert_eq!(
        db.int("target_checkpoint_request_id", SqlValue::Null)
            .expect("probe"),
        None
    );
    assert_eq!(
        db.int("target_checkpoint_request_id", SqlValue::Integer(1))
            .expect("set"),
        None
    );
    assert_eq!(db.kv("last_requested_checkpoint_request_id"), None);
    assert_eq!(
        db.int("target_checkpoint_request_id", SqlValue::Integer(2))
            .expect("set"),
        Some(1)
    );
    assert_eq!(
        db.int("target_checkpoint_request_id", SqlValue::Text("1".into()))
            .expect("text"),
        Some(2)
    );
    let e = db
        .int("target_checkpoint_request_id", SqlValue::Integer(-1))
        .expect_err("negative");
    assert_eq!(code(&e).0, 3091);
    assert_eq!(
        db.int("target_checkpoint_request_id", SqlValue::Integer(0))
            .expect("delete"),
        Some(1)
    );
    assert_eq!(db.kv("target_checkpoint_request_id"), None);
    // E.53: a local write sets the sentinel; start never turns it into a counter.
    db.sql("INSERT INTO items(id, col) VALUES ('x', 'y')");
    assert_eq!(db.kv("target_checkpoint_request_id"), Some(i64::MAX));
    let out = db.control("start", Some(r#"{"checkpoint_mode":"requests"}"#));
    let est = out
        .iter()
        .find_map(|i| i.get("EstablishSyncStream"))
        .expect("establish");
    assert_eq!(est["checkpoint_request"]["checkpoint_request_id"], "1");
    assert_eq!(db.kv("last_requested_checkpoint_request_id"), None);
}

#[test]
fn e54_partial_apply_emits_no_applied_id() {
    let db = open();
    db.control("start", None);
    db.line(checkpoint(
        "1",
        Some("1"),
        json!([{"bucket": "a", "checksum": 0, "priority": 2}]),
    ));
    let out = db.line(json!({"partial_checkpoint_complete": {"last_op_id": "1", "priority": 2}}));
    assert!(!kinds(&out).contains(&"DidCompleteSync".to_string()));
    let status = status_of(&out).expect("status");
    assert!(
        status
            .get("internal_last_applied_checkpoint_request_id")
            .is_none()
    );
    assert_eq!(db.kv("last_applied_checkpoint_request_id"), None);
}

#[test]
fn e58_e59_local_write_clears_marks_and_seen_can_decrease() {
    let db = open();
    db.control("start", None);
    db.line(checkpoint("1", Some("5"), json!([])));
    db.line(complete("1"));
    assert_eq!(db.kv("last_applied_checkpoint_request_id"), Some(5));
    db.line(checkpoint("2", Some("3"), json!([])));
    let out = db.line(complete("2"));
    assert!(out.contains(&json!({"DidCompleteSync": {"applied_checkpoint_request_id": "3"}})));
    assert_eq!(db.kv("last_seen_checkpoint_request_id"), Some(3));
    assert_eq!(db.kv("last_applied_checkpoint_request_id"), Some(3));
    db.sql("INSERT INTO items(id, col) VALUES ('x', 'y')");
    assert_eq!(db.kv("last_applied_checkpoint_request_id"), None);
    assert_eq!(db.kv("last_seen_checkpoint_request_id"), None);
    assert_eq!(db.kv("target_checkpoint_request_id"), Some(i64::MAX));
}

#[test]
fn f61_target_known_before_checkpoint() {
    let db = open();
    db.sql("INSERT INTO items(id, col) VALUES ('local', 'data')");
    db.control("start", None);
    db.sql("DELETE FROM ps_crud");
    db.int("target_checkpoint_request_id", SqlValue::Integer(1))
        .expect("target");
    assert_eq!(db.control("completed_upload", None), Vec::<Value>::new());
    db.line(checkpoint(
        "1",
        Some("1"),
        json!([{"bucket": "prio1", "checksum": 1, "priority": 1}]),
    ));
    db.line(put("prio1", "1", "row-0", r#"{"col":"hi"}"#, 1));
    db.line(complete("1"));
    assert_eq!(db.items(), vec!["row-0".to_string()]);
}

#[test]
fn g68_partial_checksum_mismatch() {
    let db = open();
    db.control("start", None);
    db.line(checkpoint(
        "1",
        None,
        json!([{"bucket": "a", "checksum": 1234, "priority": 1}]),
    ));
    db.line(json!({"data": {"bucket": "a", "data": [{"op_id": "1", "op": "PUT", "object_type": "items", "object_id": "1", "data": "{}", "checksum": 4321}]}}));
    let out = db.line(json!({"partial_checkpoint_complete": {"last_op_id": "1", "priority": 1}}));
    assert_eq!(
        out,
        vec![
            json!({"LogLine": {"severity": "WARNING", "line": "Could not apply partial checkpoint, Checksums didn't match, failed for: a (expected 0x000004d2, got 0x000010e1 = 0x000010e1 (op) + 0x00000000 (add))"}}),
            json!({"CloseSyncStream": {"hide_disconnect": false}}),
        ]
    );
    assert_eq!(db.count("SELECT count(*) FROM ps_buckets"), 0);
}

#[test]
fn g70_busy_is_recoverable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("busy.db");
    let db = Db(common::register(
        rusqlite::Connection::open(&path).expect("open"),
    ));
    db.sql("BEGIN; SELECT powersync_init(); UPDATE ps_kv SET value = 'test-test-test-test' WHERE key = 'client_id'; COMMIT;");
    db.0.apply(&Schema::new([Table::new("items", [Column::text("col")])]));
    db.sql("INSERT INTO ps_buckets(name) VALUES ('unrelated')");
    db.control("start", None);
    let other = rusqlite::Connection::open(&path).expect("second connection");
    other
        .busy_timeout(std::time::Duration::ZERO)
        .expect("timeout");
    db.0.conn
        .busy_timeout(std::time::Duration::ZERO)
        .expect("timeout");
    let cp = checkpoint("1", None, json!([{"bucket": "a", "checksum": 1}]));

    // (a) checkpoint line that must delete `unrelated`.
    other.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    let e = db
        .raw("line_text", SqlValue::Text(cp.to_string()))
        .expect_err("busy");
    assert_eq!(code(&e).0 & 0xff, 5);
    assert!(db.0.state.sync.is_active(), "BUSY keeps the iteration");
    other.execute_batch("COMMIT").expect("unlock");
    db.line(cp);
    assert_eq!(
        db.count("SELECT count(*) FROM ps_buckets WHERE name = 'unrelated'"),
        0
    );

    // (b) data line.
    let data = put("a", "1", "row-0", r#"{"col":"hi"}"#, 1);
    other.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    assert!(
        db.raw("line_text", SqlValue::Text(data.to_string()))
            .is_err()
    );
    other.execute_batch("COMMIT").expect("unlock");
    let out = db.line(data);
    let status = status_of(&out).expect("status");
    assert_eq!(status["downloading"]["buckets"]["prio_3"]["since_last"], 1);

    // (c) checkpoint_complete.
    other.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    assert!(
        db.raw("line_text", SqlValue::Text(complete("1").to_string()))
            .is_err()
    );
    other.execute_batch("COMMIT").expect("unlock");
    let out = db.line(complete("1"));
    assert!(has_log(&out, "DEBUG", "Validated and applied checkpoint"));
    assert_eq!(db.items(), vec!["row-0".to_string()]);
}

fn sync_row_0(db: &Db) {
    db.control("start", None);
    db.line(checkpoint(
        "1",
        None,
        json!([{"bucket": "a", "checksum": 1, "count": 1}]),
    ));
    db.line(put("a", "1", "row-0", r#"{"col":"hi"}"#, 1));
    db.line(complete("1"));
    assert_eq!(db.items(), vec!["row-0".to_string()]);
}

fn clear(db: &Db, flags: i64) -> rusqlite::Result<()> {
    db.0.conn.execute_batch("BEGIN")?;
    let r =
        db.0.conn
            .query_row("SELECT powersync_clear(?)", [flags], |_| Ok(()));
    db.0.conn
        .execute_batch(if r.is_ok() { "COMMIT" } else { "ROLLBACK" })?;
    r
}

#[test]
fn h75_h77_clear_while_syncing() {
    let db = open();
    sync_row_0(&db);
    let e = clear(&db, 2).expect_err("soft clear while active");
    assert!(
        code(&e)
            .1
            .contains("Cannot clear or trigger resync while a sync iteration is active.")
    );
    clear(&db, 0).expect("hard clear is allowed");
    assert_eq!(db.count("SELECT count(*) FROM ps_sync_state"), 0);
    assert_eq!(db.count("SELECT count(*) FROM ps_buckets"), 0);
}

#[test]
fn h76_soft_clear_republishes_without_download() {
    let db = open();
    sync_row_0(&db);
    db.sql("INSERT INTO items(id, col) VALUES ('local', 'x')");
    db.control("stop", None);
    clear(&db, 2).expect("soft clear");
    assert!(db.items().is_empty());
    let out = db.control("start", None);
    let est = out
        .iter()
        .find_map(|i| i.get("EstablishSyncStream"))
        .expect("establish");
    assert_eq!(
        est["request"]["buckets"],
        json!([{"name": "a", "after": "1"}])
    );
    db.line(checkpoint(
        "1",
        None,
        json!([{"bucket": "a", "checksum": 1, "count": 1}]),
    ));
    db.line(complete("1"));
    assert_eq!(db.items(), vec!["row-0".to_string()]);
}

#[test]
fn h79_resync_reapplies() {
    let db = open();
    sync_row_0(&db);
    db.control("stop", None);
    db.sql("DELETE FROM ps_data__items");
    db.sql("BEGIN; SELECT powersync_trigger_resync(0); COMMIT;");
    let out = db.control("start", None);
    let est = out
        .iter()
        .find_map(|i| i.get("EstablishSyncStream"))
        .expect("establish");
    assert_eq!(est["request"]["buckets"][0]["after"], "1");
    db.line(checkpoint(
        "1",
        None,
        json!([{"bucket": "a", "checksum": 1, "count": 1}]),
    ));
    db.line(complete("1"));
    assert_eq!(db.items(), vec!["row-0".to_string()]);
}

#[test]
fn j94_j96_default_streams_replace_and_report_errors() {
    let db = open();
    db.control("start", None);
    let out = db.line(json!({"checkpoint": {"last_op_id": "1", "buckets": [], "streams": [
        {"name": "s1", "is_default": true, "errors": [{"subscription": "default", "message": "error message"}]}]}}));
    assert!(
        has_log(
            &out,
            "WARNING",
            "Default subscription s1 has errors: error message"
        ),
        "{out:?}"
    );
    db.line(
        json!({"checkpoint": {"last_op_id": "2", "buckets": [], "streams": [
        {"name": "s2", "is_default": true, "errors": []}]}}),
    );
    let mut stmt =
        db.0.conn
            .prepare("SELECT stream_name FROM ps_stream_subscriptions")
            .expect("prep");
    let names: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .expect("q")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    assert_eq!(names, vec!["s2".to_string()]);
}

#[test]
fn j97_j98_explicit_subscriptions_in_the_request() {
    let db = open();
    db.control(
        "subscriptions",
        Some(r#"{"subscribe":{"stream":{"name":"my_stream","params":{"a": 1}},"ttl":3600}}"#),
    );
    let params: String =
        db.0.conn
            .query_row(
                "SELECT local_params FROM ps_stream_subscriptions",
                [],
                |r| r.get(0),
            )
            .expect("row");
    assert_eq!(
        params, r#"{"a": 1}"#,
        "params are stored as the caller's text"
    );
    let out = db.control("start", None);
    let est = out
        .iter()
        .find_map(|i| i.get("EstablishSyncStream"))
        .expect("establish");
    assert_eq!(
        est["request"]["streams"]["subscriptions"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    // J.98: the app no longer references the stream; the explicit request is unchanged.
    db.control("update_subscriptions", Some("[]"));
    db.control("stop", None);
    db.control(
        "subscriptions",
        Some(r#"{"unsubscribe":{"name":"my_stream","params":{"a": 1}}}"#),
    );
    let out = db.control("start", None);
    let est = out
        .iter()
        .find_map(|i| i.get("EstablishSyncStream"))
        .expect("establish");
    assert_eq!(est["request"]["streams"]["subscriptions"], json!([]));
}
