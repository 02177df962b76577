// SPDX-License-Identifier: Apache-2.0
//! Client benchmark: `request_checkpoint` → synced latency against the embedded test
//! service, 1000 sequential requests and 100 in flight. Run with
//! `cargo run --release -p psync-demo --bin psync-bench-client`.

// A benchmark prints its table.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use psync_core::client::{SyncClient, SyncOptions};
use psync_demo::{ServiceConnector, open_app_db};
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
    let db = open_app_db(&dir.path().join("bench.db"))?;
    let client = SyncClient::new(db)?;
    let connector = ServiceConnector::new(&service.url(), "bench-user");
    client
        .connect(
            connector,
            SyncOptions {
                retry_delay: Duration::from_millis(200),
                crud_throttle: Duration::from_millis(1),
                ..SyncOptions::default()
            },
        )
        .await?;
    tokio::time::timeout(Duration::from_secs(20), client.wait_for_first_sync(None)).await??;

    let mut sequential = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let start = Instant::now();
        let request = client.request_checkpoint().await?;
        request.wait_for_sync(Some(Duration::from_secs(10))).await?;
        sequential.push(start.elapsed());
    }

    let mut concurrent = Vec::with_capacity(1000);
    for _ in 0..10 {
        let mut tasks = Vec::with_capacity(100);
        for _ in 0..100 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let start = Instant::now();
                let request = client.request_checkpoint().await?;
                request.wait_for_sync(Some(Duration::from_secs(10))).await?;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(start.elapsed())
            }));
        }
        for task in tasks {
            concurrent.push(task.await?.map_err(|e| e.to_string())?);
        }
    }

    println!("request_checkpoint → synced latency (ms), loopback, release build");
    println!("| scenario                     |     n |      p50 |      p99 |      max |");
    println!("|------------------------------|-------|----------|----------|----------|");
    row("sequential", sequential);
    row("100 in flight (10 waves)", concurrent);
    println!("targets: p50 <= 5 ms, p99 <= 25 ms");
    client.close().await?;
    Ok(())
}
