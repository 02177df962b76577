// SPDX-License-Identifier: Apache-2.0
//! `SyncEngine::control_lines` (several lines in one transaction, data ops stored sorted) must
//! leave exactly the tables that sending the same lines one by one through
//! `powersync_control` leaves (which `sync_differential.rs` compares with the reference core),
//! and report the same outcome: applied checkpoints, checksum failures, blocked applies.

#[path = "schema_common/mod.rs"]
mod common;

use psync_core::schema::{Column, Schema, Table};
use psync_core::sync::{Instruction, SyncCommand};
use serde_json::{Value, json};

struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn open() -> common::TestDb {
    let db = common::open();
    db.apply(&Schema::new([Table::new("items", [Column::text("col")])]));
    db
}

fn control(db: &common::TestDb, command: &str, payload: Option<&str>) -> String {
    db.conn.execute_batch("BEGIN").expect("begin");
    let out: Option<String> = db
        .conn
        .query_row(
            "SELECT powersync_control(?, ?)",
            rusqlite::params![command, payload],
            |r| r.get(0),
        )
        .expect("powersync_control");
    db.conn.execute_batch("COMMIT").expect("commit");
    out.unwrap_or_default()
}

fn batch(db: &common::TestDb, lines: &[String]) -> Vec<Instruction> {
    let commands: Vec<SyncCommand> = lines.iter().cloned().map(SyncCommand::LineText).collect();
    db.conn.execute_batch("BEGIN").expect("begin");
    let out = db
        .state
        .sync
        .control_lines(&db.conn, &commands, 0)
        .expect("control_lines");
    db.conn.execute_batch("COMMIT").expect("commit");
    out
}

fn tables(db: &common::TestDb) -> Value {
    common::sync_tables(&db.conn)
}

/// Random ops for one data line: PUTs, REMOVEs, MOVEs and CLEARs over a few keys, so lines
/// supersede each other within a line, across lines and across buckets.
fn data_line(rng: &mut XorShift, bucket: &str, op_id: &mut u64) -> String {
    let mut ops = Vec::new();
    for _ in 0..1 + rng.below(8) {
        *op_id += 1;
        let id = format!("r{}", rng.below(6));
        let object_type = if rng.below(6) == 0 { "other" } else { "items" };
        let mut op = match rng.below(12) {
            0..=6 => json!({"op": "PUT", "object_type": object_type, "object_id": id,
                "data": format!("{{\"col\":\"{op_id}\"}}")}),
            7..=9 => json!({"op": "REMOVE", "object_type": object_type, "object_id": id}),
            10 => json!({"op": "MOVE"}),
            _ => json!({"op": "CLEAR"}),
        };
        if rng.below(5) == 0 {
            op["subkey"] = json!(format!("s{}", rng.below(2)));
        }
        op["op_id"] = json!(op_id.to_string());
        op["checksum"] = json!(rng.below(1 << 32));
        ops.push(op);
    }
    json!({"data": {"bucket": bucket, "data": ops}}).to_string()
}

fn applied(instructions: &[Value]) -> bool {
    instructions
        .iter()
        .any(|i| i.get("DidCompleteSync").is_some())
}

#[test]
fn batched_lines_leave_the_same_tables_as_single_lines() {
    for seed in 1..=40u64 {
        let single = open();
        let batched = open();
        control(&single, "start", None);
        control(&batched, "start", None);
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15 ^ (seed * 0x2545_f491));
        let mut op_id = 0;
        for round in 0..8 {
            let mut lines = Vec::new();
            for _ in 0..1 + rng.below(6) {
                let bucket = ["a", "b", "c"][rng.below(3) as usize];
                lines.push(data_line(&mut rng, bucket, &mut op_id));
            }
            // Store the data lines in the per-line database first, so the checkpoint can
            // carry the checksums they produce (sometimes deliberately wrong).
            for line in &lines {
                control(&single, "line_text", Some(line));
            }
            let mut sums: Vec<Value> = Vec::new();
            for bucket in ["a", "b", "c"] {
                let sum: i64 = single
                    .conn
                    .query_row(
                        "SELECT coalesce((SELECT (add_checksum + op_checksum) & 0xffffffff FROM ps_buckets WHERE name = ?), 0)",
                        [bucket],
                        |r| r.get(0),
                    )
                    .expect("checksum");
                let sum = if rng.below(10) == 0 { sum ^ 1 } else { sum };
                sums.push(json!({"bucket": bucket, "checksum": sum, "priority": 3}));
            }
            let last = op_id.to_string();
            let tail = [
                json!({"checkpoint": {"last_op_id": last, "buckets": sums}}).to_string(),
                json!({"checkpoint_complete": {"last_op_id": last}}).to_string(),
            ];
            let mut single_out = Vec::new();
            for line in &tail {
                let out: Value = serde_json::from_str(&control(&single, "line_text", Some(line)))
                    .expect("instructions");
                single_out.extend(out.as_array().cloned().unwrap_or_default());
            }
            lines.extend(tail);
            let batched_out: Vec<Value> = batch(&batched, &lines)
                .iter()
                .map(|i| serde_json::to_value(i).expect("instruction json"))
                .collect();
            assert_eq!(
                applied(&single_out),
                applied(&batched_out),
                "seed {seed} round {round}: outcome differs"
            );
            assert_eq!(
                tables(&single),
                tables(&batched),
                "seed {seed} round {round}: tables differ"
            );
            // A checksum failure ends the iteration in both; start again like an SDK would.
            if !applied(&single_out) {
                control(&single, "start", None);
                control(&batched, "start", None);
            }
        }
    }
}

fn one_put_line() -> String {
    json!({"data": {"bucket": "a", "data": [
        {"op_id": "1", "op": "PUT", "object_type": "items", "object_id": "x", "data": "{}", "checksum": 1}]}})
    .to_string()
}

fn oplog_count(db: &common::TestDb) -> i64 {
    db.conn
        .query_row("SELECT count(*) FROM ps_oplog", [], |r| r.get(0))
        .expect("count")
}

#[test]
fn a_bad_line_rolls_back_the_whole_batch_and_ends_the_iteration() {
    let db = open();
    control(&db, "start", None);
    let good = one_put_line();
    let commands = vec![
        SyncCommand::LineText(good),
        SyncCommand::LineText("{not json".to_string()),
    ];
    db.conn.execute_batch("BEGIN").expect("begin");
    let result = db.state.sync.control_lines(&db.conn, &commands, 0);
    db.conn.execute_batch("ROLLBACK").expect("rollback");
    assert!(result.is_err(), "malformed line must fail the batch");
    let ops = oplog_count(&db);
    assert_eq!(ops, 0, "nothing of a failed batch is kept");
    assert!(
        !db.state.sync.is_active(),
        "a failed batch ends the iteration"
    );
}

#[test]
fn processing_stops_at_a_line_that_closes_the_stream() {
    let db = open();
    control(&db, "start", None);
    let data = one_put_line();
    let commands = vec![
        SyncCommand::LineText(json!({"token_expires_in": 0}).to_string()),
        SyncCommand::LineText(data),
    ];
    db.conn.execute_batch("BEGIN").expect("begin");
    let out = db
        .state
        .sync
        .control_lines(&db.conn, &commands, 0)
        .expect("control_lines");
    db.conn.execute_batch("COMMIT").expect("commit");
    assert!(
        out.iter()
            .any(|i| matches!(i, Instruction::CloseSyncStream { .. }))
    );
    let ops = oplog_count(&db);
    assert_eq!(ops, 0, "lines after the close are not used");
    assert!(!db.state.sync.is_active());
}

/// A batch of over 1 MiB whose keys are superseded across lines: same tables as line by line,
/// and a malformed last line fails the whole batch.
#[test]
fn a_large_batch_decoded_in_parallel_matches_single_lines() {
    let single = open();
    let batched = open();
    control(&single, "start", None);
    control(&batched, "start", None);
    let mut lines = Vec::new();
    let mut op_id = 0u64;
    for line in 0..40 {
        let bucket = if line % 2 == 0 { "a" } else { "b" };
        let ops: Vec<Value> = (0..300)
            .map(|i| {
                op_id += 1;
                // Every key appears twice across the batch, so superseding crosses lines.
                json!({"op_id": op_id.to_string(), "op": "PUT", "object_type": "items",
                       "object_id": format!("r{}", (line / 2 * 300 + i) % 6000),
                       "data": format!("{{\"col\":\"{}\"}}", "x".repeat(60)),
                       "checksum": op_id})
            })
            .collect();
        lines.push(json!({"data": {"bucket": bucket, "data": ops}}).to_string());
    }
    assert!(lines.iter().map(String::len).sum::<usize>() > 1024 * 1024);
    for line in &lines {
        control(&single, "line_text", Some(line));
    }
    batch(&batched, &lines);
    assert_eq!(tables(&single), tables(&batched));

    // A malformed line in the second half fails the batch as a whole.
    let mut broken = lines.clone();
    let last = broken.len() - 1;
    broken[last] = "{\"data\": ".to_string();
    let commands: Vec<SyncCommand> = broken.into_iter().map(SyncCommand::LineText).collect();
    batched.conn.execute_batch("BEGIN").expect("begin");
    let result = batched
        .state
        .sync
        .control_lines(&batched.conn, &commands, 0);
    batched.conn.execute_batch("ROLLBACK").expect("rollback");
    assert!(result.is_err());
}
