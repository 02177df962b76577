// SPDX-License-Identifier: Apache-2.0
//! The psync Rust client doing one benchmark task against a running `psync-test-service`, in a
//! fresh process with an empty database file; `cargo xtask bench` runs it next to the official
//! Node.js client (`bench/peer/bench.mjs`) and the Python package (`bench/side.py`), which take
//! the same command line:
//!
//! ```text
//! psync-bench-side sync  <service url> <rows expected> <checkpoint requests>
//! psync-bench-side write <single|transaction|batch> <rows>
//! ```
//!
//! Prints one line `RESULT key=value …` on stdout, and on stderr the slowest checkpoint
//! requests with how long after the initial sync they started. `PSYNC_BENCH_SETTLE_MS=n`
//! waits n ms between the initial sync and the requests: the first requests after a sync are
//! real, so the table never uses it; it tells background work left by the initial sync (WAL
//! checkpoint, dirty-page writeback) from the request path itself.

// A benchmark prints its result.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use psync_core::Value;
use psync_core::client::{SyncDatabase, SyncOptions};
use psync_demo::{ServiceConnector, open_demo_database};

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

/// The test service's built-in config syncs `lists` rows owned by the token's user.
const USER: &str = "bench-user";
const FIRST_SYNC_WAIT: Duration = Duration::from_secs(900);
const CHECKPOINT_WAIT: Duration = Duration::from_secs(10);
const INSERT: &str = "INSERT INTO lists(id, name, owner_id, created_at) VALUES (?, ?, ?, ?)";

/// `key=value` pairs of the result line.
type Fields = Vec<(&'static str, f64)>;

/// The process's peak resident set (`VmHWM`), KiB.
fn peak_rss_kib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0.0)
}

fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// The five slowest requests on stderr: how slow, and when after the initial sync.
fn report_slowest(latencies: &[Duration], started_at: &[Duration]) {
    let mut order: Vec<usize> = (0..latencies.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(latencies[i]));
    for &i in order.iter().take(5) {
        eprintln!(
            "  request #{i}: {:.2} ms, started {:.3} s after the initial sync",
            latencies[i].as_secs_f64() * 1000.0,
            started_at[i].as_secs_f64()
        );
    }
}

async fn count(db: &SyncDatabase, sql: &str) -> BenchResult<i64> {
    let rows = db.get_all(sql, vec![]).await?;
    rows.first()
        .and_then(|r| r.get(0))
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("{sql} returned nothing").into())
}

/// connect → all rows queryable, then sequential checkpoint requests → synced.
async fn sync(db: &SyncDatabase, url: &str, rows: i64, requests: usize) -> BenchResult<Fields> {
    let connector = Arc::new(ServiceConnector::new(url, USER));
    let started = Instant::now();
    db.connect(connector, SyncOptions::default()).await?;
    db.wait_for_first_sync(None, Some(FIRST_SYNC_WAIT)).await?;
    let initial_sync = started.elapsed();
    let synced = count(db, "SELECT count(*) FROM lists").await?;
    if synced != rows {
        return Err(format!("synced {synced} rows, expected {rows}").into());
    }
    let settle = std::env::var("PSYNC_BENCH_SETTLE_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::ZERO, Duration::from_millis);
    tokio::time::sleep(settle).await;
    let synced_at = Instant::now();
    let mut latencies = Vec::with_capacity(requests);
    let mut started_at = Vec::with_capacity(requests);
    for _ in 0..requests {
        let start = Instant::now();
        let request = db.request_checkpoint().await?;
        request.wait_for_sync(Some(CHECKPOINT_WAIT)).await?;
        latencies.push(start.elapsed());
        started_at.push(start - synced_at);
    }
    report_slowest(&latencies, &started_at);
    latencies.sort();
    let mut fields = vec![
        ("initial_sync_s", initial_sync.as_secs_f64()),
        ("peak_rss_kib", peak_rss_kib()),
    ];
    if !latencies.is_empty() {
        fields.push(("checkpoint_p50_ms", percentile_ms(&latencies, 0.5)));
        fields.push(("checkpoint_p99_ms", percentile_ms(&latencies, 0.99)));
    }
    db.disconnect().await?;
    Ok(fields)
}

fn list_row(i: usize) -> Vec<Value> {
    vec![
        Value::Text(format!("local-{i:08}")),
        Value::Text(format!("local list {i}")),
        Value::Text(USER.to_owned()),
        Value::Text("2026-01-01T00:00:00Z".to_owned()),
    ]
}

/// `rows` inserts through the view and its triggers, one of three ways.
async fn write(db: &SyncDatabase, kind: &str, rows: usize) -> BenchResult<Fields> {
    let params: Vec<Vec<Value>> = (0..rows).map(list_row).collect();
    let started = Instant::now();
    match kind {
        "single" => {
            for p in params {
                db.execute(INSERT, p).await?;
            }
        }
        "transaction" => {
            let database = db.database().clone();
            tokio::task::spawn_blocking(move || {
                database.write(|tx| {
                    for p in &params {
                        tx.execute(INSERT, p)?;
                    }
                    Ok(())
                })
            })
            .await??;
        }
        "batch" => {
            db.execute_batch(INSERT, params).await?;
        }
        _ => return Err(format!("unknown write kind {kind}").into()),
    }
    let seconds = started.elapsed().as_secs_f64();
    let queued = count(db, "SELECT count(*) FROM ps_crud").await?;
    if queued != rows as i64 {
        return Err(format!("{queued} upload-queue entries, expected {rows}").into());
    }
    Ok(vec![("seconds", seconds), ("peak_rss_kib", peak_rss_kib())])
}

async fn run(args: &[String]) -> BenchResult<Fields> {
    let dir = tempfile::tempdir()?;
    let db = open_demo_database(Some(&dir.path().join("bench.db")))?;
    let number = |text: &str| -> BenchResult<usize> { Ok(text.parse()?) };
    let fields = match args {
        [task, url, rows, requests] if task == "sync" => {
            sync(&db, url, number(rows)? as i64, number(requests)?).await?
        }
        [task, kind, rows] if task == "write" => write(&db, kind, number(rows)?).await?,
        _ => {
            return Err(
                "usage: psync-bench-side sync <url> <rows> <requests> | write <kind> <rows>".into(),
            );
        }
    };
    db.close().await?;
    Ok(fields)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args).await {
        Ok(fields) => {
            let text: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
            println!("RESULT {}", text.join(" "));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("psync-bench-side {}: {error}", args.join(" "));
            ExitCode::FAILURE
        }
    }
}
