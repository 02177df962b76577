// SPDX-License-Identifier: Apache-2.0
//! One client process of a run: random writes to its own rows through a synced database, the
//! acknowledged-write log, and the checks a client can make itself (see `checks.rs`).
//!
//! Talks to the orchestrator by lines: stdout `ready`, `violation <what>`, `barrier <outcome>`,
//! `drained`, `synced <ms>`, `state <json>`, `closed <threads before> <threads after>`;
//! stdin `stop` (stop writing, wait for the upload queue to drain) and `sync` (request a
//! checkpoint, wait for it, report the rows, close, exit).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use psync_core::client::{SyncDatabase, SyncOptions};
use psync_core::{Error, Result, Value};
use psync_demo::{ServiceConnector, open_demo_database};
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc::{self, error::TryRecvError};

use crate::ack_log::{AckLog, Expected, WriteKind};
use crate::checks::{self, Checker};
use crate::health;
use crate::rng::Rng;

/// What a client process is told on its command line.
#[derive(Debug, Clone)]
pub struct ClientArgs {
    /// Local database file (kept across restarts of this client).
    pub db: PathBuf,
    /// Service URL through the proxy (sync, tokens, uploads).
    pub url: String,
    /// Service URL without the proxy, for admin queries of the backend.
    pub admin_url: String,
    /// Client name; its rows are `<name>-<seq>`.
    pub name: String,
    /// The user all clients share (so every client downloads every row).
    pub user: String,
    /// Acknowledged-write log.
    pub log: PathBuf,
    /// Seed of this client's choices.
    pub seed: u64,
    /// At most this many live rows of its own.
    pub max_rows: usize,
}

/// Prints one protocol line to the orchestrator.
pub fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Sync options for a faulty network: retry fast so a run sees many recoveries.
pub fn chaos_options() -> SyncOptions {
    SyncOptions {
        retry_delay: Duration::from_millis(300),
        crud_throttle: Duration::from_millis(50),
        stream_idle_timeout: Duration::from_secs(5),
        ..SyncOptions::default()
    }
}

/// Runs the client until told `sync` (or killed).
pub async fn run(args: ClientArgs) -> Result<()> {
    let threads_at_start = health::thread_count(std::process::id());
    let db = open_demo_database(Some(&args.db))?;
    let checker = Checker::new(&args);
    let mut expected = Expected::read(&args.log).map_err(|e| Error::state(e.to_string()))?;
    let mut log = AckLog::open(&args.log).map_err(|e| Error::state(e.to_string()))?;
    checks::recover_unlogged_write(&db, &args.name, &mut expected, &mut log).await?;
    let connector = Arc::new(ServiceConnector::new(&args.url, &args.user));
    db.connect(connector, chaos_options()).await?;
    say("ready");

    let mut commands = read_commands();
    let mut rng = Rng::new(args.seed);
    let mut next_barrier = Instant::now() + Duration::from_millis(rng.between(500, 2500));
    // Commands are polled between writes, never raced with one: a write cancelled after its
    // commit would be in the database but not in the log.
    loop {
        match commands.try_recv() {
            Ok(command) if command == "stop" => break,
            Ok(_) | Err(TryRecvError::Empty) => {}
            Err(TryRecvError::Disconnected) => return Ok(()),
        }
        random_write(&db, &args, &mut rng, &mut expected, &mut log).await?;
        checker.own_rows_match(&db, &expected).await?;
        if Instant::now() >= next_barrier {
            checker.write_barrier(&db).await?;
            next_barrier = Instant::now() + Duration::from_millis(rng.between(500, 2500));
        }
        tokio::time::sleep(Duration::from_millis(rng.below(15))).await;
    }

    checks::wait_for_empty_upload_queue(&db, Duration::from_secs(120)).await?;
    say("drained");
    while let Some(command) = commands.recv().await {
        if command == "sync" {
            break;
        }
    }
    let took = final_sync(&db).await?;
    say(&format!("synced {}", took.as_millis()));
    checker.own_rows_match(&db, &expected).await?;
    let rows = checks::all_rows(&db).await?;
    say(&format!("state {}", serde_json::json!(rows)));
    db.close().await?;
    // Give the runtime's blocking threads their keep-alive to end; what remains was left behind.
    tokio::time::sleep(Duration::from_secs(11)).await;
    say(&format!(
        "closed {threads_at_start} {}",
        health::thread_count(std::process::id())
    ));
    Ok(())
}

/// Stdin lines, read on their own task.
fn read_commands() -> mpsc::UnboundedReceiver<String> {
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

/// A checkpoint request after faults stopped, retried until applied; returns how long it took.
async fn final_sync(db: &SyncDatabase) -> Result<Duration> {
    let started = Instant::now();
    loop {
        let outcome = match db.request_checkpoint().await {
            Ok(request) => request.wait_for_sync(Some(Duration::from_secs(30))).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(()) => return Ok(started.elapsed()),
            Err(e) if started.elapsed() > Duration::from_secs(60) => {
                return Err(Error::state(format!("final checkpoint never applied: {e}")));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// One random insert, update or delete of an own row; logged once the SDK call returned.
async fn random_write(
    db: &SyncDatabase,
    args: &ClientArgs,
    rng: &mut Rng,
    expected: &mut Expected,
    log: &mut AckLog,
) -> Result<()> {
    let live: Vec<String> = expected.present().into_keys().collect();
    let seq = expected.max_seq + 1;
    let pick = |rng: &mut Rng| live[rng.below(live.len() as u64) as usize].clone();
    let (kind, id) = if live.is_empty() || (live.len() < args.max_rows && rng.chance(40)) {
        let id = format!("{}-{seq}", args.name);
        db.execute(
            "INSERT INTO todos(id, list_id, description, completed, owner_id) VALUES (?, 'chaos', ?, ?, ?)",
            vec![id.clone().into(), format!("d{seq}").into(), seq.into(), args.user.clone().into()],
        )
        .await?;
        (WriteKind::Put, id)
    } else if rng.chance(75) {
        let id = pick(rng);
        db.execute(
            "UPDATE todos SET completed = ?, description = ? WHERE id = ?",
            vec![
                Value::from(seq),
                format!("d{seq}").into(),
                id.clone().into(),
            ],
        )
        .await?;
        (WriteKind::Put, id)
    } else {
        let id = pick(rng);
        db.execute("DELETE FROM todos WHERE id = ?", vec![id.clone().into()])
            .await?;
        (WriteKind::Delete, id)
    };
    log.append(seq, kind, &id)
        .map_err(|e| Error::state(format!("ack log: {e}")))?;
    expected.apply(seq, kind, &id);
    Ok(())
}
