// SPDX-License-Identifier: Apache-2.0
//! `SyncEngine::control_lines` (several lines in one transaction, data ops stored sorted) must
//! leave exactly the tables that sending the same lines one by one through
//! `powersync_control` leaves (which `sync_differential.rs` compares with the reference core),
//! and report the same outcome: applied checkpoints, checksum failures, blocked applies.

use psync_test_support::engine;

use engine::sync::{Instruction, SyncCommand};
use psync_test_support::rng::XorShift;
use serde_json::{Value, json};

use engine::{TestDb, open_items as open};

fn texts(lines: &[String]) -> Vec<SyncCommand> {
    lines.iter().cloned().map(SyncCommand::LineText).collect()
}

fn batch(db: &TestDb, lines: &[String]) -> Vec<Instruction> {
    db.control_lines(&texts(lines)).expect("control_lines")
}

fn tables(db: &TestDb) -> Value {
    engine::sync_tables(&db.conn)
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
        single.control_json("start", None);
        batched.control_json("start", None);
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
                single.control_json("line_text", Some(line));
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
                single_out.extend(single.control_json("line_text", Some(line)));
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
                single.control_json("start", None);
                batched.control_json("start", None);
            }
        }
    }
}

fn one_put_line() -> String {
    json!({"data": {"bucket": "a", "data": [
        {"op_id": "1", "op": "PUT", "object_type": "items", "object_id": "x", "data": "{}", "checksum": 1}]}})
    .to_string()
}

fn oplog_count(db: &engine::TestDb) -> i64 {
    db.conn
        .query_row("SELECT count(*) FROM ps_oplog", [], |r| r.get(0))
        .expect("count")
}

#[test]
fn a_bad_line_rolls_back_the_whole_batch_and_ends_the_iteration() {
    let db = open();
    db.control_json("start", None);
    let good = one_put_line();
    let commands = vec![
        SyncCommand::LineText(good),
        SyncCommand::LineText("{not json".to_string()),
    ];
    let result = db.control_lines(&commands);
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
    db.control_json("start", None);
    let data = one_put_line();
    let commands = vec![
        SyncCommand::LineText(json!({"token_expires_in": 0}).to_string()),
        SyncCommand::LineText(data),
    ];
    let out = db.control_lines(&commands).expect("control_lines");
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
fn a_large_batch_with_keys_superseded_across_lines_matches_single_lines() {
    let single = open();
    let batched = open();
    single.control_json("start", None);
    batched.control_json("start", None);
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
        single.control_json("line_text", Some(line));
    }
    batch(&batched, &lines);
    assert_eq!(tables(&single), tables(&batched));

    // A malformed last line fails the batch as a whole and leaves the tables as they were.
    let before = tables(&batched);
    let mut broken = lines.clone();
    let last = broken.len() - 1;
    broken[last] = "{\"data\": ".to_string();
    assert!(batched.control_lines(&texts(&broken)).is_err());
    assert_eq!(tables(&batched), before);
}

#[test]
fn commands_other_than_lines_are_refused_without_changes() {
    let db = open();
    db.control_json("start", None);
    let commands = vec![
        SyncCommand::LineText(one_put_line()),
        SyncCommand::CompletedUpload,
    ];
    let error = db.control_lines(&commands).expect_err("not a sync line");
    assert!(
        error.to_string().contains("sync lines only"),
        "unclear error: {error}"
    );
    assert_eq!(oplog_count(&db), 0);
    // Without an iteration there is nothing to feed.
    let idle = open();
    assert!(idle.control_lines(&texts(&[one_put_line()])).is_err());
    assert_eq!(oplog_count(&idle), 0);
}
