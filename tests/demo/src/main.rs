// SPDX-License-Identifier: Apache-2.0
//! `cargo run --release -p psync-demo`: starts the test service in-process, syncs a local
//! database with it, writes rows, uploads them, waits for a checkpoint request and prints a
//! status timeline.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use psync_core::client::{LogLevel, SyncDatabase, SyncOptions};
use psync_core::{Result, Value};
use psync_demo::{ServiceConnector, open_demo_database};
use psync_test_service::TestService;

const USER: &str = "demo-user";

#[tokio::main]
async fn main() {
    match run().await {
        Ok(()) => println!("demo finished OK"),
        Err(error) => {
            println!("demo FAILED: {error}");
            std::process::exit(1);
        }
    }
}

fn step(started: Instant, what: &str) {
    println!("[{:>6} ms] {what}", started.elapsed().as_millis());
}

async fn wait_until(db: &SyncDatabase, what: &str, sql: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = db.get_all(sql, vec![]).await?;
        if rows.first().and_then(|r| r.get(0)).and_then(Value::as_i64) == Some(1) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(psync_core::Error::state(format!(
                "timed out waiting for {what}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn run() -> Result<()> {
    let started = Instant::now();
    let service = TestService::start().await?;
    step(
        started,
        &format!("test service listening on {}", service.url()),
    );
    service.source().execute(
        "INSERT INTO lists(id, name, owner_id, created_at) VALUES ('l-server', 'Groceries (from the backend)', ?1, '2026-01-01')",
        [USER],
    ).map_err(|_| psync_core::Error::state("seeding the service failed"))?;

    let dir = tempfile::tempdir()?;
    let db = open_demo_database(Some(&dir.path().join("demo.db")))?;
    step(started, "opened the local database");

    let timeline_start = started;
    let _listener = db.add_status_listener(Box::new(move |status| {
        println!(
            "[{:>6} ms]   status: {}",
            timeline_start.elapsed().as_millis(),
            status.summary()
        );
    }));

    let log_start = started;
    db.set_logger(Some(Arc::new(move |level, line| {
        if level >= LogLevel::Info {
            println!(
                "[{:>6} ms]   log {level:?}: {line}",
                log_start.elapsed().as_millis()
            );
        }
    })));

    let connector = Arc::new(ServiceConnector::new(service.url(), USER));
    let options = SyncOptions {
        retry_delay: Duration::from_millis(500),
        crud_throttle: Duration::from_millis(50),
        ..SyncOptions::default()
    };
    db.connect(connector.clone(), options).await?;
    step(started, "connect() called");
    tokio::time::timeout(Duration::from_secs(10), db.wait_for_first_sync(None))
        .await
        .map_err(|_| psync_core::Error::state("first sync timed out"))??;
    let lists = db
        .get_all("SELECT name FROM lists ORDER BY id", vec![])
        .await?;
    step(
        started,
        &format!("first sync complete: {} list(s) downloaded", lists.len()),
    );

    db.execute(
        "INSERT INTO lists(id, name, owner_id, created_at) VALUES ('l-local', 'Written offline-first', ?, '2026-01-02')",
        vec![Value::Text(USER.into())],
    )
    .await?;
    for (i, text) in ["buy milk", "write demo"].iter().enumerate() {
        db.execute(
            "INSERT INTO todos(id, list_id, description, completed, owner_id) VALUES (?, 'l-local', ?, 0, ?)",
            vec![Value::Text(format!("t{i}")), Value::Text((*text).into()), Value::Text(USER.into())],
        )
        .await?;
    }
    step(started, "wrote 1 list and 2 todos locally");
    wait_until(
        &db,
        "the upload queue to drain",
        "SELECT NOT EXISTS (SELECT 1 FROM ps_crud)",
    )
    .await?;
    step(
        started,
        &format!(
            "upload queue empty ({} transaction(s) uploaded)",
            connector.uploaded.load(std::sync::atomic::Ordering::SeqCst)
        ),
    );

    let request = db
        .request_checkpoint()
        .await
        .map_err(|e| psync_core::Error::state(e.to_string()))?;
    step(
        started,
        &format!("checkpoint request {} acknowledged", request.id()),
    );
    request
        .wait_for_sync(Some(Duration::from_secs(10)))
        .await
        .map_err(|e| psync_core::Error::state(e.to_string()))?;
    step(
        started,
        &format!("checkpoint request {} applied locally", request.id()),
    );

    let todos = db.get_all("SELECT count(*) FROM todos", vec![]).await?;
    let backend_todos = service
        .source()
        .query_row("SELECT count(*) FROM todos", [], |r| r.get::<_, i64>(0))
        .map_err(|_| psync_core::Error::state("reading the service failed"))?;
    step(
        started,
        &format!(
            "local todos: {}, backend todos: {backend_todos}",
            todos
                .first()
                .and_then(|r| r.get(0))
                .and_then(Value::as_i64)
                .unwrap_or(-1)
        ),
    );

    let mut watcher = db.watch("SELECT count(*) FROM lists", vec![])?;
    let initial = watcher.next().await?;
    service
        .source()
        .execute(
            "INSERT INTO lists(id, name, owner_id) VALUES ('l-late', 'Added by the backend later', ?1)",
            [USER],
        )
        .map_err(|_| psync_core::Error::state("writing the service failed"))?;
    let updated = tokio::time::timeout(Duration::from_secs(10), watcher.next())
        .await
        .map_err(|_| psync_core::Error::state("watch timed out"))??;
    step(
        started,
        &format!(
            "watch: lists {:?} -> {:?}",
            initial
                .first()
                .and_then(|r| r.get(0))
                .and_then(Value::as_i64),
            updated
                .first()
                .and_then(|r| r.get(0))
                .and_then(Value::as_i64)
        ),
    );

    db.close().await?;
    step(started, "closed");
    Ok(())
}
