// SPDX-License-Identifier: Apache-2.0
//! `psync-test-service --port 0 [--config file.json | --streams-example] [--db file.sqlite] [--keepalive-ms N] [--expire-warning-ms N]`:
//! prints its URL as the first stdout line, stops when stdin closes or on SIGTERM/SIGINT.

use psync_test_service::{SyncConfig, TestService};
use std::io::Write;
use std::time::Duration;

fn usage() -> String {
    "usage: psync-test-service [--port N] [--config file.json | --streams-example] [--db file.sqlite] [--keepalive-ms N] [--expire-warning-ms N] | --print-default-config".to_owned()
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
            "--streams-example" => builder = builder.config(SyncConfig::streams_example()),
            "--db" => builder = builder.db_path(value()?),
            "--keepalive-ms" => {
                let ms: u64 = value()?.parse().map_err(|_| usage())?;
                builder = builder.keepalive_interval(Duration::from_millis(ms));
            }
            "--expire-warning-ms" => {
                let ms: u64 = value()?.parse().map_err(|_| usage())?;
                builder = builder.expire_warning_period(Duration::from_millis(ms));
            }
            "--print-default-config" => {
                let text = serde_json::to_string_pretty(&SyncConfig::default())
                    .map_err(|e| e.to_string())?;
                let mut out = std::io::stdout().lock();
                writeln!(out, "{text}").map_err(|e| e.to_string())?;
                return Ok(());
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
    // Watch stdin on a plain thread: a read blocked in tokio's blocking pool would keep the
    // runtime (and the process) alive after a signal.
    let (stdin_tx, stdin_closed) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        let mut stdin = std::io::stdin().lock();
        while let Ok(n) = std::io::Read::read(&mut stdin, &mut buf) {
            if n == 0 {
                break;
            }
        }
        let _ = stdin_tx.send(());
    });
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
    let code = match run().await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("psync-test-service: {e}");
            2
        }
    };
    // Exit right away: the stdin thread may still be blocked in a read.
    std::process::exit(code);
}
