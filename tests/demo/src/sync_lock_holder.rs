// SPDX-License-Identifier: Apache-2.0
//! `psync-sync-lock-holder <db path> <service url>`: opens the database, connects to the test
//! service as user `u1`, prints `connected` once the sync stream is open and keeps syncing
//! until stdin closes (or the process is killed). When `connect()` fails it prints the error to
//! stderr and exits with 1. The second process of `tests/client_sync_lock.rs`.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Duration;

use psync_core::client::SyncOptions;
use psync_demo::{ServiceConnector, open_demo_database};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, path, url] = args.as_slice() else {
        eprintln!("usage: psync-sync-lock-holder <db path> <service url>");
        std::process::exit(2);
    };
    let db = match open_demo_database(Some(path.as_ref())) {
        Ok(db) => db,
        Err(error) => {
            eprintln!("open failed: {error}");
            std::process::exit(1);
        }
    };
    let connector = Arc::new(ServiceConnector::new(url.as_str(), "u1"));
    let options = SyncOptions {
        retry_delay: Duration::from_millis(100),
        ..SyncOptions::default()
    };
    if let Err(error) = db.connect(connector, options).await {
        eprintln!("connect failed: {error}");
        std::process::exit(1);
    }
    let mut status = db.status_stream();
    while !status.borrow_and_update().connected {
        if status.changed().await.is_err() {
            std::process::exit(1);
        }
    }
    println!("connected");
    let _ = tokio::task::spawn_blocking(|| {
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new())
    })
    .await;
    let _ = db.close().await;
}
