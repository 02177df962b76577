// SPDX-License-Identifier: Apache-2.0
//! Mutation fuzzing of the sync line decoder and the engine (JSON and BSON): no input panics,
//! and a line that fails leaves the oplog exactly as it was.
//!
//! Dependency-free on purpose (a seeded xorshift generator), so it runs in CI quickly and
//! reproducibly. Long mode: `PSYNC_FUZZ_CASES=10000000` (or `cargo xtask fuzz --cases N`) sets
//! the cases of each fuzzer (`PSYNC_FUZZ_ITERATIONS` is the older name), `PSYNC_FUZZ_SEED` the
//! seed; each fuzzer prints its seed, cases and cases per second.

use psync_test_support::engine;

use engine::sync::line::{SyncLine, bson_to_value};
use engine::sync::{StartSyncStream, SyncCommand};
use psync_test_support::rng::XorShift;
use serde_json::json;

fn seeds() -> Vec<serde_json::Value> {
    vec![
        json!({"checkpoint": {"last_op_id": "3", "write_checkpoint": "2", "buckets": [
            {"bucket": "a", "checksum": -5, "count": 3, "priority": 1, "subscriptions": [{"default": 0}]}],
            "streams": [{"name": "s", "is_default": true, "errors": []}]}}),
        json!({"data": {"bucket": "a", "data": [
            {"op_id": "1", "op": "PUT", "object_type": "items", "object_id": "1", "subkey": "k", "data": "{\"col\":\"x\"}", "checksum": 4294967295u64},
            {"op_id": "2", "op": "REMOVE", "object_type": "items", "object_id": "1", "checksum": 3},
            {"op_id": "3", "op": "MOVE", "checksum": 3573495687.0},
            {"op_id": "4", "op": "CLEAR", "checksum": 1}]}}),
        json!({"checkpoint_diff": {"last_op_id": "4", "updated_buckets": [{"bucket": "b", "checksum": 1}], "removed_buckets": ["a"]}}),
        json!({"partial_checkpoint_complete": {"last_op_id": "4", "priority": 1}}),
        json!({"checkpoint_complete": {"last_op_id": "4"}}),
        json!({"token_expires_in": 60}),
    ]
}

fn mutate(rng: &mut XorShift, bytes: &mut Vec<u8>) {
    for _ in 0..=rng.index(4) {
        if bytes.is_empty() {
            bytes.push(rng.next_u64() as u8);
            continue;
        }
        let at = rng.index(bytes.len());
        match rng.index(5) {
            0 => bytes[at] = rng.next_u64() as u8,
            1 => bytes.truncate(at),
            2 => {
                bytes.remove(at);
            }
            3 => bytes.insert(at, b"\"{}[]:,0-9e."[rng.index(12)]),
            _ => {
                let end = (at + rng.index(8)).min(bytes.len());
                let chunk = bytes[at..end].to_vec();
                bytes.splice(at..at, chunk);
            }
        }
    }
}

fn oplog_snapshot(conn: &rusqlite::Connection) -> Vec<(i64, i64, i64)> {
    engine::rows(
        conn,
        "SELECT b.id, coalesce(sum(o.hash), 0), count(o.op_id) FROM ps_buckets b LEFT JOIN ps_oplog o ON o.bucket = b.id GROUP BY b.id ORDER BY b.id",
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}

/// Cases per fuzzer: `PSYNC_FUZZ_CASES` (long mode), else `default`.
fn cases(default: usize) -> usize {
    ["PSYNC_FUZZ_CASES", "PSYNC_FUZZ_ITERATIONS"]
        .iter()
        .find_map(|name| std::env::var(name).ok()?.parse().ok())
        .unwrap_or(default)
}

/// The generator for one fuzzer (`PSYNC_FUZZ_SEED` reproduces a printed seed).
fn generator(name: &str) -> XorShift {
    let seed = std::env::var("PSYNC_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15_u64);
    eprintln!("{name}: seed {seed}");
    XorShift(seed.max(1))
}

fn report(name: &str, cases: usize, started: std::time::Instant) {
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "{name}: {cases} cases in {seconds:.1} s = {:.0} cases/s",
        cases as f64 / seconds.max(1e-9)
    );
}

/// One mutated line: (BSON?, bytes).
fn mutated_line(rng: &mut XorShift, seeds: &[serde_json::Value]) -> (bool, Vec<u8>) {
    let seed = &seeds[rng.index(seeds.len())];
    let binary = rng.index(2) == 0;
    let mut bytes = if binary {
        engine::bson_line(seed)
    } else {
        seed.to_string().into_bytes()
    };
    mutate(rng, &mut bytes);
    (binary, bytes)
}

/// The decoders alone (BSON document → value → line; text → line): never a panic.
fn decode(binary: bool, bytes: &[u8]) {
    if binary {
        if let Ok(value) = bson_to_value(bytes) {
            let _ = SyncLine::from_value(&value);
        }
    } else if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = SyncLine::from_text(text);
    }
}

#[test]
fn mutated_lines_never_panic_the_decoders() {
    let total = cases(20_000);
    let mut rng = generator("decoder fuzz");
    let seeds = seeds();
    let started = std::time::Instant::now();
    for _ in 0..total {
        let (binary, bytes) = mutated_line(&mut rng, &seeds);
        decode(binary, &bytes);
    }
    report("decoder fuzz", total, started);
}

#[test]
fn mutated_lines_never_panic_or_half_apply() {
    let iterations = cases(1500);
    let db = engine::open();
    let engine = &db.state.sync;
    let mut rng = generator("engine fuzz");
    let seeds = seeds();
    let started = std::time::Instant::now();
    for i in 0..iterations {
        let (binary, bytes) = mutated_line(&mut rng, &seeds);
        decode(binary, &bytes);

        // The engine: a failing line leaves the oplog unchanged.
        db.conn.execute_batch("BEGIN").expect("begin");
        if !engine.is_active() {
            engine
                .control(&db.conn, SyncCommand::Start(StartSyncStream::default()), 0)
                .expect("start");
        }
        let before = oplog_snapshot(&db.conn);
        let command = if binary {
            SyncCommand::LineBinary(bytes)
        } else {
            SyncCommand::LineText(String::from_utf8_lossy(&bytes).into_owned())
        };
        match engine.control(&db.conn, command, i as i64) {
            Ok(_) => db.conn.execute_batch("COMMIT").expect("commit"),
            Err(_) => {
                assert_eq!(oplog_snapshot(&db.conn), before, "iteration {i}");
                db.conn.execute_batch("ROLLBACK").expect("rollback");
            }
        }
    }
    report("engine fuzz", iterations, started);
}
