// SPDX-License-Identifier: Apache-2.0
//! Client benchmark: `request_checkpoint` → synced latency against the embedded test service,
//! with 1k, 100k and 1M rows already synced (a fresh service and database file per size).
//! Per size: 1000 sequential requests, split into the POST round trip, the service's wait
//! and our own work using the client's [`CheckpointTimings`], then 10 waves of 100 in flight.
//! Run with `cargo xtask bench-client` (release build). `PSYNC_BENCH_CLIENT_SIZES=1000,100000`
//! limits the sizes, `PSYNC_BENCH_CLIENT_REQUESTS` sets the sequential requests per size.

// A benchmark prints its table.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use psync_core::Value;
use psync_core::client::{CheckpointTimings, SyncDatabase, SyncOptions};
use psync_demo::{ServiceConnector, open_demo_database};
use psync_test_service::TestService;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

const USER: &str = "bench-user";
const DEFAULT_SIZES: [usize; 3] = [1_000, 100_000, 1_000_000];
const DEFAULT_REQUESTS: usize = 1000;
const WAIT: Duration = Duration::from_secs(10);
const FIRST_SYNC_WAIT: Duration = Duration::from_secs(900);

fn env_list(name: &str) -> Option<Vec<usize>> {
    let text = std::env::var(name).ok()?;
    Some(
        text.split(',')
            .filter_map(|s| s.trim().replace('_', "").parse().ok())
            .collect(),
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Percentile `p` (0..=1) of `samples`, sorting them in place.
fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[rank.min(samples.len() - 1)]
}

/// `p50 / p99` in milliseconds.
fn p50_p99(samples: &mut [Duration]) -> String {
    format!(
        "{:.2} / {:.2}",
        ms(percentile(samples, 0.5)),
        ms(percentile(samples, 0.99))
    )
}

/// One sequential request, split by the client's timestamps.
struct Split {
    total: Duration,
    /// POST sent → answered.
    post: Duration,
    /// POST answered → the line completing the checkpoint taken off the stream (zero when it
    /// came first).
    service_wait: Duration,
    /// `request_checkpoint()` called → POST sent (id allocation).
    before_post: Duration,
    /// POST answered and line received → `wait_for_sync` returned (apply, status, wake-up).
    after_arrival: Duration,
    /// Line received → apply transaction done.
    apply: Duration,
    /// Time this process's threads spent runnable but waiting for a CPU during the request
    /// (summed over threads, from `/proc/self/task/*/schedstat`; zero where unavailable).
    cpu_wait: Duration,
    /// Initial sync done → this request started: slow requests early in the run point at
    /// background work left by the initial sync (WAL checkpoint, dirty-page writeback).
    since_sync: Duration,
    /// The kernel's dirty + writeback page cache when the request started (KiB, all files).
    dirty_kib: u64,
}

impl Split {
    fn ours(&self) -> Duration {
        self.before_post + self.after_arrival
    }

    fn new(
        (start, end): (Instant, Instant),
        cpu_wait: Duration,
        id: i64,
        t: CheckpointTimings,
    ) -> BenchResult<Self> {
        let (Some(sent), Some(answered), Some(received), Some(applied)) =
            (t.post_sent, t.post_answered, t.lines_received, t.applied)
        else {
            return Err(format!("request {id}: timings incomplete: {t:?}").into());
        };
        if t.posted_id != Some(id) || t.applied_id.is_none_or(|a| a < id) {
            return Err(format!("request {id}: timings belong to another round: {t:?}").into());
        }
        let arrival = answered.max(received);
        Ok(Self {
            total: end - start,
            post: answered - sent,
            service_wait: received.saturating_duration_since(answered),
            before_post: sent - start,
            after_arrival: end - arrival,
            apply: applied.saturating_duration_since(received),
            cpu_wait,
            since_sync: Duration::ZERO,
            dirty_kib: 0,
        })
    }
}

/// Total run-queue wait of this process's threads so far (Linux; zero elsewhere). The machine
/// is shared, so a request's tail latency is often time spent waiting for a CPU.
fn run_queue_wait() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let nanos: u64 = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

/// Dirty + Writeback of `/proc/meminfo`, KiB (zero where unavailable).
fn dirty_page_cache_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .filter(|line| line.starts_with("Dirty:") || line.starts_with("Writeback:"))
        .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

/// Inserts `rows` lists of [`USER`] into the service's source database in one statement.
fn seed_rows(service: &TestService, rows: usize) -> BenchResult<()> {
    service.source().execute_batch(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
         INSERT INTO lists(id, name, owner_id, created_at)
         SELECT printf('list-%08d', i), 'shopping list number ' || i, '{USER}',
                '2026-01-01T00:00:00Z' FROM n"
    ))?;
    Ok(())
}

async fn count_lists(db: &SyncDatabase) -> BenchResult<i64> {
    let rows = db.get_all("SELECT count(*) FROM lists", vec![]).await?;
    rows.first()
        .and_then(|r| r.get(0))
        .and_then(Value::as_i64)
        .ok_or_else(|| "count(*) returned nothing".into())
}

async fn sequential(
    db: &SyncDatabase,
    requests: usize,
    synced_at: Instant,
) -> BenchResult<Vec<Split>> {
    let mut splits = Vec::with_capacity(requests);
    for n in 0..requests {
        let dirty_kib = dirty_page_cache_kib();
        let waited_before = run_queue_wait();
        let start = Instant::now();
        let request = db.request_checkpoint().await?;
        if let Err(error) = request.wait_for_sync(Some(WAIT)).await {
            let status = db.status();
            return Err(format!(
                "request #{n} (id {}): {error}; timings {:?}; status {status:?}",
                request.id(),
                db.checkpoint_timings()
            )
            .into());
        }
        let end = Instant::now();
        let cpu_wait = run_queue_wait().saturating_sub(waited_before);
        let mut split = Split::new(
            (start, end),
            cpu_wait,
            request.id(),
            db.checkpoint_timings(),
        )?;
        split.since_sync = start - synced_at;
        split.dirty_kib = dirty_kib;
        splits.push(split);
    }
    Ok(splits)
}

async fn in_flight(db: &SyncDatabase, waves: usize, width: usize) -> BenchResult<Vec<Duration>> {
    let mut samples = Vec::with_capacity(waves * width);
    for _ in 0..waves {
        let mut tasks = Vec::with_capacity(width);
        for _ in 0..width {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let start = Instant::now();
                let request = db.request_checkpoint().await.map_err(|e| e.to_string())?;
                request
                    .wait_for_sync(Some(WAIT))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>(start.elapsed())
            }));
        }
        for task in tasks {
            samples.push(task.await??);
        }
    }
    Ok(samples)
}

/// The slowest sequential requests on stderr: where in the run and in which part.
fn report_slowest(rows: usize, splits: &[Split]) {
    let mut order: Vec<usize> = (0..splits.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(splits[i].total));
    for &i in order.iter().take(5) {
        let s = &splits[i];
        eprintln!(
            "  {rows} rows, request #{i}: total {:.2} ms = POST {:.2} + service {:.2} + before POST {:.2} + after arrival {:.2} (apply {:.2}); threads waited {:.2} ms for a CPU; {:.2} s after the initial sync, {} MiB dirty",
            ms(s.total),
            ms(s.post),
            ms(s.service_wait),
            ms(s.before_post),
            ms(s.after_arrival),
            ms(s.apply),
            ms(s.cpu_wait),
            s.since_sync.as_secs_f64(),
            s.dirty_kib / 1024
        );
    }
}

/// What one size measured.
struct SizeResult {
    rows: usize,
    initial_sync: Duration,
    splits: Vec<Split>,
    concurrent: Vec<Duration>,
}

async fn measure(rows: usize, requests: usize) -> BenchResult<SizeResult> {
    let service = TestService::start().await?;
    seed_rows(&service, rows)?;
    let dir = tempfile::tempdir()?;
    let db = open_demo_database(Some(&dir.path().join("bench.db")))?;
    let connector = Arc::new(ServiceConnector::new(service.url(), USER));
    let options = SyncOptions {
        retry_delay: Duration::from_millis(200),
        crud_throttle: Duration::from_millis(1),
        ..SyncOptions::default()
    };
    let start = Instant::now();
    db.connect(connector, options).await?;
    db.wait_for_first_sync(None, Some(FIRST_SYNC_WAIT)).await?;
    let initial_sync = start.elapsed();
    let synced = count_lists(&db).await?;
    if synced != rows as i64 {
        return Err(format!("synced {synced} rows, expected {rows}").into());
    }
    let splits = sequential(&db, requests, Instant::now()).await?;
    report_slowest(rows, &splits);
    let concurrent = in_flight(&db, 10, 100).await?;
    db.close().await?;
    Ok(SizeResult {
        rows,
        initial_sync,
        splits,
        concurrent,
    })
}

fn print_tables(results: &mut [SizeResult]) {
    println!("request_checkpoint → synced (ms), loopback, file database, release build");
    println!(
        "| rows synced | initial sync s | sequential p50 / p99 | max | 100 in flight p50 / p99 |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for r in results.iter_mut() {
        let mut total: Vec<Duration> = r.splits.iter().map(|s| s.total).collect();
        let max = total.iter().max().copied().unwrap_or_default();
        println!(
            "| {} | {:.2} | {} | {:.2} | {} |",
            r.rows,
            r.initial_sync.as_secs_f64(),
            p50_p99(&mut total),
            ms(max),
            p50_p99(&mut r.concurrent),
        );
    }
    println!();
    println!(
        "sequential requests split (ms, p50 / p99 of each part; ours = total − POST − service wait)"
    );
    println!(
        "| rows synced | n | total | POST round trip | service wait | ours | ours: before POST | ours: after arrival | apply transaction | run-queue wait |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in results.iter() {
        let part = |f: fn(&Split) -> Duration| {
            let mut v: Vec<Duration> = r.splits.iter().map(f).collect();
            p50_p99(&mut v)
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.rows,
            r.splits.len(),
            part(|s| s.total),
            part(|s| s.post),
            part(|s| s.service_wait),
            part(Split::ours),
            part(|s| s.before_post),
            part(|s| s.after_arrival),
            part(|s| s.apply),
            part(|s| s.cpu_wait),
        );
    }
    println!(
        "targets: total p50 <= 2 ms and p99 <= 5 ms at every size; ours p50 <= 1 ms, p99 <= 3 ms"
    );
}

#[tokio::main]
async fn main() -> BenchResult<()> {
    let sizes = env_list("PSYNC_BENCH_CLIENT_SIZES").unwrap_or_else(|| DEFAULT_SIZES.to_vec());
    let requests = env_list("PSYNC_BENCH_CLIENT_REQUESTS")
        .and_then(|v| v.first().copied())
        .unwrap_or(DEFAULT_REQUESTS);
    let mut results = Vec::with_capacity(sizes.len());
    for rows in sizes {
        eprintln!("syncing {rows} rows, then {requests} sequential checkpoint requests…");
        results.push(measure(rows, requests).await?);
    }
    print_tables(&mut results);
    Ok(())
}
