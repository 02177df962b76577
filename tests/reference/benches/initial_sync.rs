// SPDX-License-Identifier: Apache-2.0
//! Initial-sync benchmark: ingest + apply N synthetic rows (10 buckets, 1000 ops per data line,
//! ~200-byte rows of 6 columns, ids in random order like UUIDs, valid checksums). The sync lines
//! are generated once per N into an ndjson file before any timing; each side then reads that
//! file line by line (the stand-in for the network) and is timed from the first line to the
//! applied checkpoint:
//!
//! * **reference** — the real core 0.5.3 driven like its SDKs: file DB in WAL mode, one
//!   transaction per `powersync_control` call;
//! * **ours** — our core driven like our sync client: the lines that have arrived, up to
//!   `LINE_BATCH_MAX_BYTES`, go to `SyncEngine::control_lines` in one transaction (here every
//!   line has "arrived", as during an initial sync over a fast network);
//! * **ours-per-line** — our core driven like the SDKs drive the reference: one write
//!   transaction per line (`SyncEngine::control`), the engine-alone comparison;
//! * **plain** — plain SQLite inserts of the same rows (1000 per transaction, values bound
//!   from the same row data, no sync bookkeeping), the floor.
//!
//! Each (side, N) runs in its own child process so the peak RSS (`VmHWM`) is per side.
//! Run with `cargo xtask bench`; `PSYNC_BENCH_SIZES=10000,100000` overrides the sizes,
//! `PSYNC_BENCH_SIDES=ours,reference` the sides (`reference,ours,ours-per-line,plain`), and
//! `PSYNC_BENCH_TRACE=1` prints the time each of our batches took. Besides the table, stdout
//! gets one `SUMMARY <side> <rows> <median seconds> <peak KiB>` line per side and size, which
//! `cargo xtask bench` merges into its table.

use std::io::{BufRead as _, BufReader, BufWriter, Write as _};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use rusqlite::Connection;

use psync_core::Database;
use psync_core::schema::Schema;
use psync_core::storage::sync::SyncCommand;
use psync_reference::synthetic::{OPS_PER_LINE, Plan, SCHEMA, row_data, row_id};

const BUCKETS: usize = 10;
const CHILD_ENV: &str = "PSYNC_BENCH_CHILD";
/// Set to print how long each of our batches took to handle and to commit.
const TRACE_ENV: &str = "PSYNC_BENCH_TRACE";

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

/// Writes every sync line of the synthetic initial sync to `path` (untimed).
fn write_lines(path: &Path, rows: usize) -> std::io::Result<()> {
    let plan = Plan::new(rows, BUCKETS, 3);
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "{}", plan.checkpoint_line())?;
    for line in plan.data_lines() {
        writeln!(out, "{line}")?;
    }
    writeln!(out, "{}", plan.complete_line())?;
    out.flush()?;
    // Whoever runs first must not pay for writing back the file's dirty pages.
    out.get_ref().sync_all()
}

fn read_lines(path: &Path) -> Result<impl Iterator<Item = std::io::Result<String>>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    Ok(BufReader::with_capacity(1 << 20, file).lines())
}

/// The reference: one transaction per line, as its SDKs do.
fn run_reference(conn: &Connection, lines: &Path) -> Result<(), String> {
    let err = |e: rusqlite::Error| e.to_string();
    control(conn, "start", None).map_err(err)?;
    let mut last = String::new();
    for line in read_lines(lines)? {
        let line = line.map_err(|e| e.to_string())?;
        last = control(conn, "line_text", Some(&line)).map_err(err)?;
    }
    if !last.contains("Validated and applied checkpoint") {
        return Err(format!("checkpoint not applied: {last}"));
    }
    Ok(())
}

/// Ours, opened and driven like our sync client: a `Database` (writer, readers, background
/// WAL checkpoints) and batches of lines up to `LINE_BATCH_MAX_BYTES` per write transaction.
fn run_ours(db: &Database, lines: &Path) -> Result<(), String> {
    let engine = &db.state().sync;
    let err = |e: psync_core::Error| e.to_string();
    db.write(|tx| engine.control(tx.connection(), SyncCommand::Start(Default::default()), 0))
        .map_err(err)?;
    let mut batch: Vec<SyncCommand> = Vec::new();
    let mut batch_bytes = 0;
    let mut applied = false;
    let trace = std::env::var_os(TRACE_ENV).is_some();
    let mut lines = read_lines(lines)?.peekable();
    while let Some(line) = lines.next() {
        let line = line.map_err(|e| e.to_string())?;
        batch_bytes += line.len();
        batch.push(SyncCommand::LineText(line));
        if batch_bytes >= psync_core::storage::sync::LINE_BATCH_MAX_BYTES || lines.peek().is_none()
        {
            let started = Instant::now();
            let out = db
                .write(|tx| engine.control_lines(tx.connection(), &batch, 0))
                .map_err(err)?;
            if trace {
                eprintln!(
                    "batch of {} lines handled and committed in {:?}",
                    batch.len(),
                    started.elapsed()
                );
            }
            applied |= out.iter().any(|i| {
                matches!(
                    i,
                    psync_core::storage::sync::Instruction::DidCompleteSync { .. }
                )
            });
            batch.clear();
            batch_bytes = 0;
        }
    }
    if !applied {
        return Err("checkpoint not applied".to_string());
    }
    Ok(())
}

/// Ours, one write transaction per line: how the SDKs drive the reference core.
fn run_ours_per_line(db: &Database, lines: &Path) -> Result<(), String> {
    let engine = &db.state().sync;
    let err = |e: psync_core::Error| e.to_string();
    db.write(|tx| engine.control(tx.connection(), SyncCommand::Start(Default::default()), 0))
        .map_err(err)?;
    let mut applied = false;
    for line in read_lines(lines)? {
        let line = SyncCommand::LineText(line.map_err(|e| e.to_string())?);
        let out = db
            .write(|tx| engine.control(tx.connection(), line, 0))
            .map_err(err)?;
        applied |= out.iter().any(|i| {
            matches!(
                i,
                psync_core::storage::sync::Instruction::DidCompleteSync { .. }
            )
        });
    }
    if !applied {
        return Err("checkpoint not applied".to_string());
    }
    Ok(())
}

/// Plain inserts; returns the time spent in SQLite (generating the values is not timed).
fn run_plain(conn: &Connection, rows: usize) -> rusqlite::Result<std::time::Duration> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(
        "CREATE TABLE rows (id TEXT PRIMARY KEY, a TEXT, b INTEGER, c TEXT, d REAL, e TEXT, f INTEGER)",
    )?;
    let mut spent = std::time::Duration::ZERO;
    let mut index = 0;
    while index < rows {
        let values: Vec<(String, serde_json::Value)> = (index..(index + OPS_PER_LINE).min(rows))
            .map(|i| (row_id(i), row_data(i)))
            .collect();
        let started = Instant::now();
        conn.execute_batch("BEGIN")?;
        {
            let mut insert =
                conn.prepare_cached("INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?, ?)")?;
            for (id, data) in &values {
                insert.execute(rusqlite::params![
                    id,
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
        spent += started.elapsed();
        index += OPS_PER_LINE;
    }
    Ok(spent)
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

/// Child mode: `side:rows:db_path:lines_path` → prints `RESULT <seconds> <peak_kib> <row_count>`.
fn child(spec: &str) -> Result<(), String> {
    let mut parts = spec.splitn(4, ':');
    let side = parts.next().unwrap_or_default();
    let rows: usize = parts
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or("bad row count")?;
    let path = parts.next().ok_or("missing path")?;
    let lines = Path::new(parts.next().ok_or("missing lines path")?);
    let (spent, count) = match side {
        "plain" => {
            let conn = Connection::open(path).map_err(|e| e.to_string())?;
            (
                run_plain(&conn, rows).map_err(|e| e.to_string())?,
                count_rows(&conn),
            )
        }
        "ours" | "ours-per-line" => {
            let db = Database::open(path).map_err(|e| e.to_string())?;
            db.update_schema(Schema::from_json(SCHEMA).map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            let started = Instant::now();
            if side == "ours" {
                run_ours(&db, lines)?;
            } else {
                run_ours_per_line(&db, lines)?;
            }
            let spent = started.elapsed();
            let count = db
                .get("SELECT count(*) FROM rows", &[])
                .ok()
                .and_then(|row| row.get(0).and_then(psync_core::Value::as_i64))
                .unwrap_or(-1);
            (spent, count)
        }
        _ => {
            let conn = psync_reference::open_reference(path).map_err(|e| e.to_string())?;
            prepare(&conn).map_err(|e| e.to_string())?;
            let started = Instant::now();
            run_reference(&conn, lines)?;
            (started.elapsed(), count_rows(&conn))
        }
    };
    let seconds = spent.as_secs_f64();
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "RESULT {seconds} {} {count}", peak_rss_kib());
    Ok(())
}

/// One child run: `(seconds, peak KiB, rows in view)` or the child's error text.
fn run_child(exe: &Path, side: &str, rows: usize, lines: &Path) -> Result<(f64, f64, f64), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("bench.db");
    let output = Command::new(exe)
        .env(
            CHILD_ENV,
            format!("{side}:{rows}:{}:{}", path.display(), lines.display()),
        )
        .output()
        .map_err(|e| e.to_string())?;
    if std::env::var_os(TRACE_ENV).is_some() {
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let result = stdout.lines().find_map(|l| l.strip_prefix("RESULT "));
    match result {
        Some(result) if output.status.success() => {
            let fields: Vec<f64> = result
                .split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect();
            match fields[..] {
                [seconds, kib, count] => Ok((seconds, kib, count)),
                _ => Err(format!("bad child output: {result}")),
            }
        }
        _ => Err(String::from_utf8_lossy(&output.stderr)
            .trim()
            .replace('\n', " ")),
    }
}

/// Runs per size: `PSYNC_BENCH_RUNS` (default 3 up to 100k rows, 1 above); the table shows
/// the median time and the highest peak RSS.
fn runs_for(rows: usize) -> usize {
    std::env::var("PSYNC_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if rows <= 100_000 { 3 } else { 1 })
        .max(1)
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
    let sides_env =
        std::env::var("PSYNC_BENCH_SIDES").unwrap_or_else(|_| "reference,ours,plain".to_string());
    let sides: Vec<&str> = sides_env.split(',').map(str::trim).collect();
    psync_reference::require_reference_core();
    let exe = std::env::current_exe().expect("bench executable path");
    let mut summary = String::new();
    let mut table = String::from(
        "| rows | side | runs | median seconds | rows/s | peak RSS (MiB) | rows in view |\n|---:|---|---:|---:|---:|---:|---:|\n",
    );
    for &rows in &sizes {
        let lines_dir = tempfile::tempdir().expect("temp dir");
        let lines = lines_dir.path().join("lines.ndjson");
        write_lines(&lines, rows).expect("write sync lines");
        let runs = runs_for(rows);
        // Sides alternate within each round so drift on a shared machine hits all of them.
        let mut results: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); sides.len()];
        let mut failures: Vec<Option<String>> = vec![None; sides.len()];
        for _ in 0..runs {
            for (i, side) in sides.iter().enumerate() {
                match run_child(&exe, side, rows, &lines) {
                    Ok(result) => results[i].push(result),
                    Err(e) => failures[i] = Some(e),
                }
            }
        }
        for (i, side) in sides.iter().enumerate() {
            let row = match (&failures[i], &mut results[i]) {
                (Some(e), _) => format!("| {rows} | {side} | {runs} | failed: {e} | | | |\n"),
                (None, runs_done) => {
                    runs_done.sort_by(|a, b| a.0.total_cmp(&b.0));
                    let (seconds, _, count) = runs_done[runs_done.len() / 2];
                    let peak = runs_done.iter().map(|r| r.1).fold(0.0, f64::max);
                    summary.push_str(&format!("SUMMARY {side} {rows} {seconds} {peak}\n"));
                    format!(
                        "| {rows} | {side} | {runs} | {seconds:.2} | {:.0} | {:.1} | {count} |\n",
                        rows as f64 / seconds,
                        peak / 1024.0
                    )
                }
            };
            eprint!("{row}");
            table.push_str(&row);
        }
    }
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "\n{table}\n{summary}");
}
