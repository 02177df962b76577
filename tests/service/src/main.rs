// SPDX-License-Identifier: Apache-2.0
//! `psync-test-service --port 0 [--config file.json] [--db file.sqlite] [--keepalive-ms N]`:
//! prints its URL as the first stdout line, stops when stdin closes or on SIGTERM/SIGINT.

use psync_test_service::{SyncConfig, TestService};
use std::io::Write;
use std::time::Duration;
use tokio::io::AsyncReadExt;

fn usage() -> String {
    "usage: psync-test-service [--port N] [--config file.json] [--db file.sqlite] [--keepalive-ms N]".to_owned()
}

async fn run() -> Result<(), String> {
    let mut builder = TestService::builder();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(usage);
        match arg.as_str() {
            "--port" => builder = builder.port(value()?.parse().map_err(|_| usage())?),
            "--config" => {
                let text = std::fs::read_to_string(value()?).map_err(|e| e.to_string())?;
                builder = builder.config(SyncConfig::from_json(&text)?);
            }
            "--db" => builder = builder.db_path(value()?),
            "--keepalive-ms" => {
                let ms: u64 = value()?.parse().map_err(|_| usage())?;
                builder = builder.keepalive_interval(Duration::from_millis(ms));
            }
            "--help" | "-h" => return Err(usage()),
            _ => return Err(usage()),
        }
    }
    let service = builder.start().await.map_err(|e| e.to_string())?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", service.url()).map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
    }
    let stdin_closed = async {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 256];
        while let Ok(n) = stdin.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    tokio::select! {
        _ = stdin_closed => {}
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    service.shutdown();
    Ok(())
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("psync-test-service: {e}");
        std::process::exit(2);
    }
}
