// SPDX-License-Identifier: Apache-2.0
//! Client benchmark: `request_checkpoint` → synced latency against the embedded test
//! service, 1000 sequential requests and 10 waves of 100 in flight. Run with
//! `cargo xtask bench-client` (release build).

// A benchmark prints its table.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use psync_core::client::SyncOptions;
use psync_demo::{ServiceConnector, open_demo_database};
use psync_test_service::TestService;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn row(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "| {label:<28} | {:>5} | {:>8.2} | {:>8.2} | {:>8.2} |",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1000.0,
        percentile(&samples, 0.99).as_secs_f64() * 1000.0,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let service = TestService::start().await?;
    let dir = tempfile::tempdir()?;
    let db = open_demo_database(Some(&dir.path().join("bench.db")))?;
    let connector = Arc::new(ServiceConnector::new(service.url(), "bench-user"));
    let options = SyncOptions {
        retry_delay: Duration::from_millis(200),
        crud_throttle: Duration::from_millis(1),
        ..SyncOptions::default()
    };
    db.connect(connector, options).await?;
    tokio::time::timeout(Duration::from_secs(20), db.wait_for_first_sync(None)).await??;

    let mut sequential = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let start = Instant::now();
        let request = db.request_checkpoint().await?;
        request.wait_for_sync(Some(Duration::from_secs(10))).await?;
        sequential.push(start.elapsed());
    }

    let mut concurrent = Vec::with_capacity(1000);
    for _ in 0..10 {
        let mut tasks = Vec::with_capacity(100);
        for _ in 0..100 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let start = Instant::now();
                let request = db.request_checkpoint().await.map_err(|e| e.to_string())?;
                request
                    .wait_for_sync(Some(Duration::from_secs(10)))
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>(start.elapsed())
            }));
        }
        for task in tasks {
            concurrent.push(task.await??);
        }
    }

    println!("request_checkpoint → synced latency (ms), loopback, file database");
    println!("| scenario                     |     n |      p50 |      p99 |      max |");
    println!("|------------------------------|-------|----------|----------|----------|");
    row("sequential", sequential);
    row("100 in flight (10 waves)", concurrent);
    println!("targets: p50 <= 5 ms, p99 <= 25 ms");
    db.close().await?;
    Ok(())
}
