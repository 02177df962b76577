// SPDX-License-Identifier: Apache-2.0
//! Initial-sync throughput of the sync engine on a file database:
//! `cargo run --release -p psync-core --example sync_bench -- 100000 [ops_per_line] [bson]`.
//! Prints rows/s for download (data lines, one transaction per line) and apply
//! (`checkpoint_complete`) separately, and peak RSS from /proc when available.
//!
//! With `PSYNC_REFERENCE_CORE=/path/libpowersync.so` set, the same workload runs against the
//! reference core loaded as an SQLite extension instead of ours (same SQL, same pragmas), so
//! the two can be compared on the same (shared, noisy) machine.
#![allow(clippy::unwrap_used, clippy::print_stdout, missing_docs)]

use std::sync::Arc;
use std::time::Instant;

use psync_core::state::DatabaseState;
use rusqlite::Connection;
use serde_json::json;

fn control(conn: &Connection, cmd: &str, payload: rusqlite::types::Value) {
    conn.execute_batch("BEGIN").unwrap();
    conn.query_row(
        "SELECT powersync_control(?, ?)",
        rusqlite::params![cmd, payload],
        |_| Ok(()),
    )
    .unwrap();
    conn.execute_batch("COMMIT").unwrap();
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User + system CPU time of this process in seconds (the machine is shared, so wall time
/// is noisy; CPU time is the fairer throughput measure).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let per_line: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let bson = args.get(3).is_some_and(|a| a == "bson");

    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open(dir.path().join("bench.db")).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    let state = Arc::new(DatabaseState::default());
    let reference = std::env::var_os("PSYNC_REFERENCE_CORE");
    match &reference {
        // SAFETY: loading the reference core, a trusted SQLite extension, for benchmarking.
        Some(path) => unsafe {
            conn.load_extension_enable().unwrap();
            conn.load_extension(path, Some("sqlite3_powersync_init"))
                .unwrap();
        },
        None => psync_core::ext::register_functions(&conn, &state).unwrap(),
    }
    conn.execute_batch("BEGIN; SELECT powersync_init(); COMMIT;")
        .unwrap();
    let schema = json!({"tables": [{"name": "todos", "columns": [
        {"name": "description", "type": "TEXT"}, {"name": "list_id", "type": "TEXT"},
        {"name": "completed", "type": "INTEGER"}, {"name": "amount", "type": "REAL"}]}]});
    conn.execute_batch("BEGIN").unwrap();
    conn.query_row(
        "SELECT powersync_replace_schema(?)",
        [schema.to_string()],
        |_| Ok(()),
    )
    .unwrap();
    conn.execute_batch("COMMIT").unwrap();

    control(&conn, "start", rusqlite::types::Value::Null);
    // Checksum of op i is i (wrapping sum is easy to compute).
    let total: u32 = (1..=rows as u64).fold(0u32, |acc, i| acc.wrapping_add(i as u32));
    let cp = json!({"checkpoint": {"last_op_id": rows.to_string(), "buckets": [
        {"bucket": "todos[]", "checksum": total, "count": rows}]}});
    control(
        &conn,
        "line_text",
        rusqlite::types::Value::Text(cp.to_string()),
    );

    // Only time spent inside the engine counts; generating lines is excluded.
    let mut download = std::time::Duration::ZERO;
    let mut download_cpu = 0.0;
    let mut op = 1usize;
    while op <= rows {
        let end = (op + per_line - 1).min(rows);
        let ops: Vec<_> = (op..=end)
            .map(|i| {
                let data = json!({"description": format!("todo number {i} with some text"),
                    "list_id": format!("list-{}", i % 100), "completed": i % 2, "amount": i as f64 * 0.5});
                json!({"op_id": i.to_string(), "op": "PUT", "object_type": "todos",
                       "object_id": format!("{i:08x}-0000-4000-8000-000000000000"),
                       "data": data.to_string(), "checksum": i})
            })
            .collect();
        let line = json!({"data": {"bucket": "todos[]", "data": ops}});
        let payload = if bson {
            rusqlite::types::Value::Blob(psync_core::sync::bson::encode_document(&line))
        } else {
            rusqlite::types::Value::Text(line.to_string())
        };
        let t = Instant::now();
        let c = cpu_seconds();
        control(
            &conn,
            if bson { "line_binary" } else { "line_text" },
            payload,
        );
        download += t.elapsed();
        download_cpu += cpu_seconds() - c;
        op = end + 1;
    }
    let apply_start = Instant::now();
    let apply_cpu_start = cpu_seconds();
    control(
        &conn,
        "line_text",
        rusqlite::types::Value::Text(
            json!({"checkpoint_complete": {"last_op_id": rows.to_string()}}).to_string(),
        ),
    );
    let apply = apply_start.elapsed();
    let apply_cpu = cpu_seconds() - apply_cpu_start;
    let n: i64 = conn
        .query_row("SELECT count(*) FROM todos", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n as usize, rows);
    let secs = (download + apply).as_secs_f64();
    println!(
        "core={} rows={rows} per_line={per_line} bson={bson} download={:.2}s apply={:.2}s total={:.2}s rows/s={:.0} cpu: download={:.2}s apply={:.2}s rows/cpu-s={:.0} peak_rss={:?}KiB",
        if reference.is_some() {
            "reference"
        } else {
            "psync"
        },
        download.as_secs_f64(),
        apply.as_secs_f64(),
        secs,
        rows as f64 / secs,
        download_cpu,
        apply_cpu,
        rows as f64 / (download_cpu + apply_cpu),
        peak_rss_kib()
    );
}
