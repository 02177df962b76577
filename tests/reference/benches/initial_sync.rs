// SPDX-License-Identifier: Apache-2.0
//! Initial-sync benchmark: ingest + apply N synthetic rows (10 buckets, 1000 ops per data line,
//! ~200-byte rows of 6 columns, valid checksums) through
//!
//! * **reference** — the real core 0.5.3 driven like its SDKs: file DB in WAL mode, one
//!   transaction per `powersync_control` call;
//! * **ours** — our core through the same SQL functions (skipped until it has
//!   `powersync_control`);
//! * **plain** — plain SQLite inserts of the same rows (1000 per transaction), the floor.
//!
//! Each (side, N) runs in its own child process so the peak RSS (`VmHWM`) is per side.
//! Run with `cargo xtask bench`; `PSYNC_BENCH_SIZES=10000,100000` overrides the sizes.

use std::io::Write as _;
use std::process::Command;
use std::time::Instant;

use rusqlite::Connection;

use psync_reference::synthetic::{OPS_PER_LINE, Plan, SCHEMA, row_data};

const BUCKETS: usize = 10;
const CHILD_ENV: &str = "PSYNC_BENCH_CHILD";

fn control(conn: &Connection, command: &str, payload: Option<&str>) -> rusqlite::Result<String> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result: rusqlite::Result<Option<String>> = conn.query_row(
        "SELECT powersync_control(?, ?)",
        rusqlite::params![command, payload],
        |row| row.get(0),
    );
    match result {
        Ok(value) => {
            conn.execute_batch("COMMIT")?;
            Ok(value.unwrap_or_default())
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK")?;
            Err(e)
        }
    }
}

fn prepare(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch("BEGIN")?;
    conn.query_row("SELECT powersync_init()", [], |_| Ok(()))?;
    conn.query_row("SELECT powersync_replace_schema(?)", [SCHEMA], |_| Ok(()))?;
    conn.execute_batch("COMMIT")
}

fn run_sync(conn: &Connection, rows: usize) -> Result<(), String> {
    let err = |e: rusqlite::Error| e.to_string();
    prepare(conn).map_err(err)?;
    control(conn, "start", None).map_err(err)?;
    let plan = Plan::new(rows, BUCKETS, 3);
    control(conn, "line_text", Some(&plan.checkpoint_line())).map_err(err)?;
    for line in plan.data_lines() {
        control(conn, "line_text", Some(&line)).map_err(err)?;
    }
    let result = control(conn, "line_text", Some(&plan.complete_line())).map_err(err)?;
    if !result.contains("Validated and applied checkpoint") {
        return Err(format!("checkpoint not applied: {result}"));
    }
    Ok(())
}

fn run_plain(conn: &Connection, rows: usize) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(
        "CREATE TABLE rows (id TEXT PRIMARY KEY, a TEXT, b INTEGER, c TEXT, d REAL, e TEXT, f INTEGER)",
    )?;
    let mut index = 0;
    while index < rows {
        conn.execute_batch("BEGIN")?;
        {
            let mut insert =
                conn.prepare_cached("INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?, ?)")?;
            for i in index..(index + OPS_PER_LINE).min(rows) {
                let data = row_data(i);
                insert.execute(rusqlite::params![
                    format!("row-{i}"),
                    data["a"].as_str(),
                    data["b"].as_i64(),
                    data["c"].as_str(),
                    data["d"].as_f64(),
                    data["e"].as_str(),
                    data["f"].as_i64(),
                ])?;
            }
        }
        conn.execute_batch("COMMIT")?;
        index += OPS_PER_LINE;
    }
    Ok(())
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

fn count_rows(conn: &Connection) -> i64 {
    conn.query_row("SELECT count(*) FROM rows", [], |row| row.get(0))
        .unwrap_or(-1)
}

/// Child mode: `side:rows:path` → prints `RESULT <seconds> <peak_kib> <row_count>`.
fn child(spec: &str) -> Result<(), String> {
    let mut parts = spec.splitn(3, ':');
    let side = parts.next().unwrap_or_default();
    let rows: usize = parts
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or("bad row count")?;
    let path = parts.next().ok_or("missing path")?;
    let conn = match side {
        "reference" => psync_reference::open_reference(path).map_err(|e| e.to_string())?,
        "ours" => {
            psync_reference::open_ours(path)
                .map_err(|e| e.to_string())?
                .0
        }
        _ => Connection::open(path).map_err(|e| e.to_string())?,
    };
    let started_ingest = Instant::now();
    match side {
        "plain" => run_plain(&conn, rows).map_err(|e| e.to_string())?,
        _ => run_sync(&conn, rows)?,
    }
    let seconds = started_ingest.elapsed().as_secs_f64();
    let count = count_rows(&conn);
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "RESULT {seconds} {} {count}", peak_rss_kib());
    Ok(())
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        if let Err(e) = child(&spec) {
            eprintln!("bench child {spec}: {e}");
            std::process::exit(1);
        }
        return;
    }
    // `cargo bench` passes `--bench`; there are no other options.
    let sizes: Vec<usize> = std::env::var("PSYNC_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000, 1_000_000]);
    psync_reference::require_reference_core();
    let engine = psync_reference::ours_has_sync_engine();
    let exe = std::env::current_exe().expect("bench executable path");
    let mut table = String::from(
        "| rows | side | seconds | rows/s | peak RSS (MiB) | rows in view |\n|---:|---|---:|---:|---:|---:|\n",
    );
    for &rows in &sizes {
        for side in ["reference", "ours", "plain"] {
            if side == "ours" && !engine {
                table.push_str(&format!(
                    "| {rows} | ours | n/a (no powersync_control yet) | | | |\n"
                ));
                continue;
            }
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("bench.db");
            let output = Command::new(&exe)
                .env(CHILD_ENV, format!("{side}:{rows}:{}", path.display()))
                .output()
                .expect("bench child starts");
            let stdout = String::from_utf8_lossy(&output.stdout);
            let line = stdout.lines().find_map(|l| l.strip_prefix("RESULT "));
            match line {
                Some(result) if output.status.success() => {
                    let fields: Vec<f64> = result
                        .split_whitespace()
                        .filter_map(|f| f.parse().ok())
                        .collect();
                    let (seconds, kib, count) = (fields[0], fields[1], fields[2]);
                    table.push_str(&format!(
                        "| {rows} | {side} | {seconds:.2} | {:.0} | {:.1} | {count} |\n",
                        rows as f64 / seconds,
                        kib / 1024.0
                    ));
                }
                _ => table.push_str(&format!(
                    "| {rows} | {side} | failed: {} | | | |\n",
                    String::from_utf8_lossy(&output.stderr)
                        .trim()
                        .replace('\n', " ")
                )),
            }
            eprintln!("{}", table.lines().last().unwrap_or_default());
        }
    }
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "\n{table}");
}
