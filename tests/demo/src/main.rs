// SPDX-License-Identifier: Apache-2.0
//! `cargo run --release -p psync-demo`: starts the test service in-process, syncs a fresh
//! database, writes a few rows, uploads them, waits for a checkpoint request to be applied
//! and prints a status timeline.

// A demo talks to its user on stdout.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use psync_core::Value;
use psync_core::client::{SyncClient, SyncOptions, SyncStatus};
use psync_demo::{ServiceConnector, open_app_db};
use psync_test_service::TestService;

fn describe(status: &SyncStatus) -> String {
    let mut parts = Vec::new();
    if status.connected {
        parts.push("connected".to_string());
    } else if status.connecting {
        parts.push("connecting".to_string());
    } else {
        parts.push("offline".to_string());
    }
    if status.downloading {
        parts.push("downloading".to_string());
    }
    if status.uploading {
        parts.push("uploading".to_string());
    }
    parts.push(format!("has_synced={:?}", status.has_synced));
    if let Some(id) = status.last_applied_checkpoint_request_id {
        parts.push(format!("applied_request={id}"));
    }
    if let Some(e) = status.any_error() {
        parts.push(format!("error={e}"));
    }
    parts.join(" ")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let service = TestService::start().await?;
    println!("service listening on {}", service.url());
    {
        let source = service.source();
        source.execute(
            "INSERT INTO lists(id, name, owner_id) VALUES ('server-list', 'Groceries', 'demo-user')",
            [],
        )?;
        source.execute(
            "INSERT INTO announcements(id, title, body) VALUES ('a1', 'Welcome', 'Hello from the service')",
            [],
        )?;
    }

    let dir = tempfile::tempdir()?;
    let db = open_app_db(&dir.path().join("demo.db"))?;
    let client = SyncClient::new(db.clone())?;

    let timeline = Arc::new(Mutex::new(Vec::<(Duration, String)>::new()));
    let sink = timeline.clone();
    let listener = client.add_status_listener(Box::new(move |s: &SyncStatus| {
        let line = describe(s);
        let mut t = sink.lock();
        if t.last().map(|(_, l)| l != &line).unwrap_or(true) {
            t.push((started.elapsed(), line));
        }
    }));

    let connector = ServiceConnector::new(&service.url(), "demo-user");
    let options = SyncOptions {
        retry_delay: Duration::from_millis(500),
        crud_throttle: Duration::from_millis(10),
        ..SyncOptions::default()
    };
    client.connect(connector.clone(), options).await?;
    tokio::time::timeout(Duration::from_secs(20), client.wait_for_first_sync(None)).await??;
    let lists = db.get_all("SELECT name FROM lists ORDER BY name", &[])?;
    println!("first sync done: {} list(s) downloaded", lists.len());

    for i in 1..=3 {
        db.execute(
            "INSERT INTO todos(id, list_id, description, completed, owner_id) VALUES (uuid(), 'server-list', ?, 0, 'demo-user')",
            &[Value::Text(format!("todo {i}"))],
        )?;
    }
    println!("wrote 3 todos locally");

    let request = client.request_checkpoint().await?;
    println!(
        "checkpoint request {} acknowledged by the service",
        request.id()
    );
    request.wait_for_sync(Some(Duration::from_secs(20))).await?;
    let pending: i64 = db
        .get("SELECT count(*) FROM ps_crud", &[])?
        .get(0)
        .and_then(Value::as_i64)
        .unwrap_or(-1);
    let todos = db.get_all("SELECT description FROM todos ORDER BY description", &[])?;
    let on_server: i64 = service
        .source()
        .query_row("SELECT count(*) FROM todos", [], |r| r.get(0))?;
    println!(
        "checkpoint {} synced: {} todo(s) locally, {} on the service, {} queued upload(s)",
        request.id(),
        todos.len(),
        on_server,
        pending
    );

    client.disconnect().await?;
    drop(listener);
    println!("\nstatus timeline:");
    for (at, line) in timeline.lock().iter() {
        println!("  {:>7.1} ms  {line}", at.as_secs_f64() * 1000.0);
    }
    client.close().await?;
    if todos.len() != 3 || on_server != 3 || pending != 0 {
        return Err("demo did not converge".into());
    }
    println!(
        "\ndemo finished in {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}
