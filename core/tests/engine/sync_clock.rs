// SPDX-License-Identifier: Apache-2.0
//! Sync engine scenarios through the typed API with injected time: sync state (C.29, C.30),
//! download progress (D.37–D.43), checkpoint-request bookkeeping (E.46–E.59), errors (G.68,
//! G.70) and clears (H.75–H.77).

#[path = "schema_common/mod.rs"]
mod common;

use psync_core::schema::{Column, Schema, Table};
use psync_core::sync::{
    BucketProgress, CheckpointMode, Instruction, StartSyncStream, SyncCommand, instructions_to_json,
};
use serde_json::{Value, json};

const HOUR: i64 = 3_600_000_000;
const T0: i64 = 1_740_823_200_000_000;

struct Db(common::TestDb);

fn open() -> Db {
    let db = common::open();
    db.apply(&Schema::new([Table::new("items", [Column::text("col")])]));
    Db(db)
}

impl Db {
    fn try_control(&self, cmd: SyncCommand, now: i64) -> psync_core::Result<Vec<Instruction>> {
        self.0.conn.execute_batch("BEGIN").expect("begin");
        let r = self.0.state.sync.control(&self.0.conn, cmd, now);
        self.0
            .conn
            .execute_batch(if r.is_ok() { "COMMIT" } else { "ROLLBACK" })
            .expect("end");
        r
    }
    fn control(&self, cmd: SyncCommand, now: i64) -> Vec<Instruction> {
        self.try_control(cmd, now).expect("control")
    }
    fn start(&self, now: i64) -> Vec<Instruction> {
        self.control(SyncCommand::Start(StartSyncStream::default()), now)
    }
    fn line(&self, line: Value, now: i64) -> Vec<Instruction> {
        self.control(SyncCommand::LineText(line.to_string()), now)
    }
    fn tx<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> psync_core::Result<T>) -> T {
        self.0.conn.execute_batch("BEGIN").expect("begin");
        let r = f(&self.0.conn).expect("tx");
        self.0.conn.execute_batch("COMMIT").expect("commit");
        r
    }
    fn kv(&self, key: &str) -> Option<i64> {
        psync_core::kv::get_i64(&self.0.conn, key).expect("kv")
    }
    fn sync_state(&self) -> Vec<(i64, i64)> {
        let mut stmt = self
            .0
            .conn
            .prepare("SELECT priority, last_synced_at FROM ps_sync_state ORDER BY priority")
            .expect("prep");
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("q")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    }
}

fn status(out: &[Instruction]) -> Option<&psync_core::sync::CoreSyncStatus> {
    out.iter().rev().find_map(|i| match i {
        Instruction::UpdateSyncStatus { status } => Some(status),
        _ => None,
    })
}

/// `(downloaded, total)` over all priorities, or per priority `<= p`.
fn progress(out: &[Instruction], p: Option<i32>) -> Option<(i64, i64)> {
    let downloading = status(out)?.downloading.as_ref()?;
    let entries: Vec<&BucketProgress> = downloading
        .buckets
        .values()
        .filter(|b| p.is_none_or(|p| b.priority <= p))
        .collect();
    Some((
        entries.iter().map(|b| b.since_last).sum(),
        entries.iter().map(|b| b.target_count - b.at_last).sum(),
    ))
}

fn ops(bucket: &str, from: i64, n: i64) -> Value {
    let data: Vec<Value> = (from..from + n)
        .map(|i| {
            json!({"op_id": i.to_string(), "op": "PUT", "object_type": "items",
                "object_id": format!("{bucket}-{i}"), "data": "{}", "checksum": 1})
        })
        .collect();
    json!({"data": {"bucket": bucket, "data": data}})
}

fn cp(last: i64, buckets: Value) -> Value {
    json!({"checkpoint": {"last_op_id": last.to_string(), "buckets": buckets}})
}

fn complete(last: i64) -> Value {
    json!({"checkpoint_complete": {"last_op_id": last.to_string()}})
}

#[test]
fn c29_repeated_syncs_keep_one_row_per_priority() {
    let db = open();
    db.start(T0);
    let buckets = json!([
        {"bucket": "p1", "checksum": 0, "priority": 1},
        {"bucket": "p2", "checksum": 0, "priority": 2},
        {"bucket": "p3", "checksum": 0, "priority": 3}]);
    for step in 0..10 {
        let now = T0 + step * HOUR;
        db.line(cp(1, buckets.clone()), now);
        for p in 1..=3 {
            db.line(
                json!({"partial_checkpoint_complete": {"last_op_id": "1", "priority": p}}),
                now,
            );
            let state = db.sync_state();
            assert_eq!(
                state.iter().filter(|(q, _)| *q == p).collect::<Vec<_>>(),
                [&(p, now)]
            );
            assert!(state.iter().all(|(q, _)| *q >= p), "{state:?}");
        }
        db.line(complete(1), now);
        assert_eq!(db.sync_state(), vec![(2_147_483_647, now)]);
    }
}

#[test]
fn c30_sync_state_survives_restart() {
    let db = open();
    db.start(T0);
    db.line(
        json!({"checkpoint": {"last_op_id": "1", "write_checkpoint": "1", "buckets": [
            {"bucket": "p2", "checksum": 0, "priority": 2}]}}),
        T0,
    );
    let out = db.line(complete(1), T0);
    assert!(out.contains(&Instruction::DidCompleteSync {
        applied_checkpoint_request_id: Some(1)
    }));
    let later = T0 + 600_000_000;
    db.line(
        cp(2, json!([{"bucket": "p2", "checksum": 0, "priority": 2}])),
        later,
    );
    db.line(
        json!({"partial_checkpoint_complete": {"last_op_id": "2", "priority": 2}}),
        later,
    );
    db.control(SyncCommand::Stop, later);
    let out = db.start(later);
    let st = status(&out).expect("status");
    assert_eq!(st.internal_last_applied_checkpoint_request_id, None);
    let expected = json!([
        {"priority": 2, "last_synced_at": later, "has_synced": true},
        {"priority": 2147483647, "last_synced_at": T0, "has_synced": true}]);
    assert_eq!(
        serde_json::to_value(&st.priority_status).expect("json"),
        expected
    );
    db.control(SyncCommand::Stop, later);
    let offline: String =
        db.0.conn
            .query_row("SELECT powersync_offline_sync_status()", [], |r| r.get(0))
            .expect("offline");
    assert_eq!(
        serde_json::from_str::<Value>(&offline).expect("json"),
        json!({"connected": false, "connecting": false, "priority_status": expected,
               "downloading": null, "streams": []})
    );
}

#[test]
fn d37_progress_without_priorities() {
    let db = open();
    db.start(T0);
    let out = db.line(
        cp(10, json!([{"bucket": "a", "checksum": 10, "count": 10}])),
        T0,
    );
    assert_eq!(progress(&out, None), Some((0, 10)));
    let out = db.line(ops("a", 1, 10), T0);
    assert_eq!(progress(&out, None), Some((10, 10)));
    let out = db.line(complete(10), T0);
    assert_eq!(progress(&out, None), None);
    let out = db.line(
        json!({"checkpoint_diff": {"last_op_id": "12", "updated_buckets": [
            {"bucket": "a", "checksum": 12, "count": 12}], "removed_buckets": []}}),
        T0,
    );
    assert_eq!(progress(&out, None), Some((0, 2)));
    let out = db.line(ops("a", 11, 2), T0);
    assert_eq!(progress(&out, None), Some((2, 2)));
    let out = db.line(complete(12), T0);
    assert_eq!(progress(&out, None), None);
}

#[test]
fn d38_d39_d40_interrupted_downloads() {
    for (count, last, expected_after_reconnect) in
        [(10, 10, (5, 10)), (12, 12, (5, 12)), (4, 14, (0, 4))]
    {
        let db = open();
        db.start(T0);
        db.line(
            cp(10, json!([{"bucket": "a", "checksum": 0, "count": 10}])),
            T0,
        );
        let out = db.line(ops("a", 1, 5), T0);
        assert_eq!(progress(&out, None), Some((5, 10)));
        let out = db.control(SyncCommand::Stop, T0);
        assert_eq!(progress(&out, None), None);
        db.start(T0);
        let out = db.line(
            cp(
                last,
                json!([{"bucket": "a", "checksum": 0, "count": count}]),
            ),
            T0,
        );
        assert_eq!(
            progress(&out, None),
            Some(expected_after_reconnect),
            "count {count}"
        );
        if count == 4 {
            let counters: (i64, i64) =
                db.0.conn
                    .query_row(
                        "SELECT count_at_last, count_since_last FROM ps_buckets",
                        [],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .expect("counters");
            assert_eq!(counters, (0, 0));
        } else {
            let out = db.line(ops("a", 6, count - 5), T0);
            assert_eq!(progress(&out, None), Some((count, count)));
        }
    }
}

#[test]
fn d41_progress_with_priorities() {
    let db = open();
    db.start(T0);
    let buckets = |a: i64, b: i64| {
        json!([{"bucket": "a", "checksum": 0, "priority": 0, "count": a},
               {"bucket": "b", "checksum": 0, "priority": 2, "count": b}])
    };
    let out = db.line(cp(10, buckets(5, 5)), T0);
    assert_eq!(progress(&out, Some(0)), Some((0, 5)));
    assert_eq!(progress(&out, None), Some((0, 10)));
    let out = db.line(ops("a", 1, 5), T0);
    assert_eq!(
        (progress(&out, Some(0)), progress(&out, None)),
        (Some((5, 5)), Some((5, 10)))
    );
    let out = db.line(ops("b", 6, 2), T0);
    assert_eq!(
        (progress(&out, Some(0)), progress(&out, None)),
        (Some((5, 5)), Some((7, 10)))
    );
    let out = db.line(cp(14, buckets(8, 6)), T0);
    assert_eq!(
        (progress(&out, Some(0)), progress(&out, None)),
        (Some((5, 8)), Some((7, 14)))
    );
    let out = db.line(ops("a", 8, 3), T0);
    assert_eq!(
        (progress(&out, Some(0)), progress(&out, None)),
        (Some((8, 8)), Some((10, 14)))
    );
    let out = db.line(ops("b", 11, 4), T0);
    assert_eq!(
        (progress(&out, Some(0)), progress(&out, None)),
        (Some((8, 8)), Some((14, 14)))
    );
}

#[test]
fn d42_d43_persisted_counters_and_download_size() {
    let db = open();
    db.start(T0);
    db.line(
        cp(0, json!([{"bucket": "bkt", "checksum": 0, "count": 2}])),
        T0,
    );
    db.line(complete(0), T0);
    let counters = |db: &Db| -> (i64, i64, i64) {
        db.0.conn
            .query_row(
                "SELECT count_at_last, count_since_last, downloaded_size FROM ps_buckets WHERE name = 'bkt'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .expect("counters")
    };
    let first = ops("bkt", 1, 1).to_string();
    db.control(SyncCommand::LineText(first.clone()), T0);
    assert_eq!(counters(&db), (0, 1, first.len() as i64));
    let second = ops("bkt", 2, 1).to_string();
    db.control(SyncCommand::LineText(second.clone()), T0);
    assert_eq!(counters(&db), (0, 2, (first.len() + second.len()) as i64));
    db.line(
        cp(2, json!([{"bucket": "bkt", "checksum": 2, "count": 2}])),
        T0,
    );
    db.line(complete(2), T0);
    assert_eq!(counters(&db).0, 2);
    assert_eq!(counters(&db).1, 0);
}

#[test]
fn e47_e48_e53_e58_e59_request_bookkeeping() {
    let db = open();
    let engine = &db.0.state.sync;
    assert_eq!(db.tx(|c| engine.current_checkpoint_request_id(c)), None);
    db.start(T0);
    assert_eq!(db.tx(|c| engine.seed_checkpoint_request_id(c, 1)), 1);
    assert_eq!(db.tx(|c| engine.current_checkpoint_request_id(c)), Some(1));
    assert_eq!(db.tx(|c| engine.next_checkpoint_request_id(c)), 2);
    db.line(
        json!({"checkpoint": {"last_op_id": "1", "write_checkpoint": "2", "buckets": []}}),
        T0,
    );
    db.line(complete(1), T0);
    assert_eq!(db.kv("last_applied_checkpoint_request_id"), Some(2));
    db.0.conn
        .execute_batch("INSERT INTO items(id, col) VALUES ('x', 'y')")
        .expect("insert");
    assert_eq!(db.kv("last_applied_checkpoint_request_id"), None);
    assert_eq!(db.kv("last_seen_checkpoint_request_id"), None);
    assert_eq!(db.kv("target_checkpoint_request_id"), Some(i64::MAX));
    assert_eq!(db.tx(|c| engine.current_checkpoint_request_id(c)), Some(2));
    assert_eq!(db.tx(|c| engine.next_checkpoint_request_id(c)), 3);

    // E.48: restart proposes the counter.
    let out = db.control(
        SyncCommand::Start(StartSyncStream {
            checkpoint_mode: CheckpointMode::Requests,
            ..StartSyncStream::default()
        }),
        T0,
    );
    let json = instructions_to_json(&out).expect("json");
    assert!(json.contains(r#""checkpoint_request_id":"3""#), "{json}");

    // E.53: a local write never creates a counter.
    let fresh = open();
    fresh
        .0
        .conn
        .execute_batch("INSERT INTO items(id, col) VALUES ('x', 'y')")
        .expect("insert");
    fresh.start(T0);
    assert_eq!(fresh.kv("last_requested_checkpoint_request_id"), None);

    // E.59: seen can decrease.
    let db = open();
    db.start(T0);
    db.line(
        json!({"checkpoint": {"last_op_id": "1", "write_checkpoint": "5", "buckets": []}}),
        T0,
    );
    db.line(complete(1), T0);
    db.line(
        json!({"checkpoint": {"last_op_id": "2", "write_checkpoint": "3", "buckets": []}}),
        T0,
    );
    let out = db.line(complete(2), T0);
    assert!(out.contains(&Instruction::DidCompleteSync {
        applied_checkpoint_request_id: Some(3)
    }));
    assert_eq!(db.kv("last_seen_checkpoint_request_id"), Some(3));
    assert_eq!(db.kv("last_applied_checkpoint_request_id"), Some(3));
}

#[test]
fn e54_partial_apply_emits_no_applied_id() {
    let db = open();
    db.start(T0);
    db.line(
        json!({"checkpoint": {"last_op_id": "1", "write_checkpoint": "1", "buckets": [
        {"bucket": "a", "checksum": 0, "priority": 2}]}}),
        T0,
    );
    let out = db.line(
        json!({"partial_checkpoint_complete": {"last_op_id": "1", "priority": 2}}),
        T0,
    );
    assert!(
        !out.iter()
            .any(|i| matches!(i, Instruction::DidCompleteSync { .. }))
    );
    assert_eq!(
        status(&out).and_then(|s| s.internal_last_applied_checkpoint_request_id),
        None
    );
    assert_eq!(db.kv("last_applied_checkpoint_request_id"), None);
}

#[test]
fn g68_partial_checksum_mismatch() {
    let db = open();
    db.start(T0);
    db.line(
        cp(1, json!([{"bucket": "a", "checksum": 1234, "priority": 1}])),
        T0,
    );
    db.line(
        json!({"data": {"bucket": "a", "data": [{"op_id": "1", "op": "PUT", "object_type": "items",
            "object_id": "1", "data": "{}", "checksum": 4321}]}}),
        T0,
    );
    let out = db.line(
        json!({"partial_checkpoint_complete": {"last_op_id": "1", "priority": 1}}),
        T0,
    );
    let json = instructions_to_json(&out).expect("json");
    assert!(json.contains("Could not apply partial checkpoint, Checksums didn't match, failed for: a (expected 0x000004d2"), "{json}");
    assert!(out.contains(&Instruction::CloseSyncStream {
        hide_disconnect: false
    }));
    assert!(!db.0.state.sync.is_active());
}

#[test]
fn g70_busy_is_retryable() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("busy.db");
    let db = Db(common::register(
        rusqlite::Connection::open(&path).expect("open"),
    ));
    db.0.conn
        .execute_batch("BEGIN; SELECT powersync_init(); COMMIT;")
        .expect("init");
    db.0.apply(&Schema::new([Table::new("items", [Column::text("col")])]));
    db.0.conn
        .busy_timeout(std::time::Duration::from_millis(0))
        .expect("timeout");
    db.0.conn
        .execute_batch("INSERT INTO ps_buckets(name) VALUES ('unrelated')")
        .expect("bucket");
    db.start(T0);
    let other = rusqlite::Connection::open(&path).expect("other");
    let line = cp(1, json!([{"bucket": "a", "checksum": 1, "count": 1}]));

    // (a) checkpoint that deletes a bucket.
    other.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    let e = db
        .try_control(SyncCommand::LineText(line.to_string()), T0)
        .expect_err("busy");
    assert_eq!(e.sqlite_code(), Some(rusqlite::ErrorCode::DatabaseBusy));
    assert!(db.0.state.sync.is_active());
    other.execute_batch("COMMIT").expect("unlock");
    db.line(line, T0);
    let n: i64 =
        db.0.conn
            .query_row(
                "SELECT count(*) FROM ps_buckets WHERE name = 'unrelated'",
                [],
                |r| r.get(0),
            )
            .expect("n");
    assert_eq!(n, 0);

    // (b) data line.
    let data = json!({"data": {"bucket": "a", "data": [{"op_id": "1", "op": "PUT",
        "object_type": "items", "object_id": "r", "data": "{}", "checksum": 1}]}});
    other.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    db.try_control(SyncCommand::LineText(data.to_string()), T0)
        .expect_err("busy");
    other.execute_batch("COMMIT").expect("unlock");
    let out = db.line(data, T0);
    assert_eq!(progress(&out, None), Some((1, 1)));

    // (c) checkpoint_complete.
    other.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    db.try_control(SyncCommand::LineText(complete(1).to_string()), T0)
        .expect_err("busy");
    other.execute_batch("COMMIT").expect("unlock");
    db.line(complete(1), T0);
    let n: i64 =
        db.0.conn
            .query_row("SELECT count(*) FROM items", [], |r| r.get(0))
            .expect("n");
    assert_eq!(n, 1);
}

#[test]
fn h75_h76_h77_clears() {
    let db = open();
    db.start(T0);
    db.line(
        cp(1, json!([{"bucket": "a", "checksum": 1, "count": 1}])),
        T0,
    );
    db.line(
        json!({"data": {"bucket": "a", "data": [{"op_id": "1", "op": "PUT", "object_type": "items",
            "object_id": "row-0", "data": "{\"col\":\"hi\"}", "checksum": 1}]}}),
        T0,
    );
    db.line(complete(1), T0);
    // H.77: soft clear refused while active, hard clear allowed.
    db.0.conn.execute_batch("BEGIN").expect("begin");
    let soft =
        db.0.conn
            .query_row("SELECT powersync_clear(2)", [], |r| r.get::<_, String>(0));
    db.0.conn.execute_batch("ROLLBACK").expect("rollback");
    assert!(
        soft.expect_err("active")
            .to_string()
            .contains("Cannot clear or trigger resync while a sync iteration is active.")
    );
    db.control(SyncCommand::Stop, T0);

    // H.76: soft clear keeps the oplog; the next complete checkpoint re-publishes.
    db.0.conn
        .execute_batch("INSERT INTO items(id, col) VALUES ('local', 'x'); BEGIN; SELECT powersync_clear(2); COMMIT;")
        .expect("soft clear");
    db.0.apply(&Schema::new([Table::new("items", [Column::text("col")])]));
    let n: i64 =
        db.0.conn
            .query_row("SELECT count(*) FROM items", [], |r| r.get(0))
            .expect("n");
    assert_eq!(n, 0);
    let out = db.start(T0);
    let json = instructions_to_json(&out).expect("json");
    assert!(
        json.contains(r#""buckets":[{"after":"1","name":"a"}]"#)
            || json.contains(r#""buckets":[{"name":"a","after":"1"}]"#),
        "{json}"
    );
    db.line(
        cp(1, json!([{"bucket": "a", "checksum": 1, "count": 1}])),
        T0,
    );
    db.line(complete(1), T0);
    let n: i64 =
        db.0.conn
            .query_row("SELECT count(*) FROM items", [], |r| r.get(0))
            .expect("n");
    assert_eq!(n, 1);

    // H.75: hard clear.
    db.control(SyncCommand::Stop, T0);
    db.0.conn
        .execute_batch("BEGIN; SELECT powersync_clear(0); COMMIT;")
        .expect("hard clear");
    assert!(db.sync_state().is_empty());
}

#[test]
fn c36_in_sync_operation_visible_to_triggers() {
    let db = open();
    db.0.conn
        .execute_batch(
            "CREATE TABLE seen(flag); CREATE TRIGGER t AFTER INSERT ON ps_data__items
             BEGIN INSERT INTO seen VALUES (powersync_in_sync_operation()); END;",
        )
        .expect("trigger");
    db.start(T0);
    db.line(cp(1, json!([{"bucket": "a", "checksum": 1}])), T0);
    db.line(
        json!({"data": {"bucket": "a", "data": [{"op_id": "1", "op": "PUT", "object_type": "items",
            "object_id": "r", "data": "{}", "checksum": 1}]}}),
        T0,
    );
    db.line(complete(1), T0);
    let flag: i64 =
        db.0.conn
            .query_row("SELECT flag FROM seen", [], |r| r.get(0))
            .expect("flag");
    assert_eq!(flag, 1);
    let now: i64 =
        db.0.conn
            .query_row("SELECT powersync_in_sync_operation()", [], |r| r.get(0))
            .expect("flag");
    assert_eq!(now, 0);
}
