// SPDX-License-Identifier: Apache-2.0
//! Crash safety: a child process applies a large checkpoint (one transaction per line, as SDKs
//! drive the core) and is SIGKILLed at several points. After each kill the file must pass
//! `integrity_check`, the synced rows must be either the old or the new state (never a mix),
//! and the pending local write in `ps_crud` must be intact.
//!
//! The large checkpoint uses a priority-0 bucket applied with `partial_checkpoint_complete`,
//! which publishes despite pending uploads — so "new state" is reachable with `ps_crud` rows
//! present. Runs against the reference core (which validates the harness) and against ours,
//! driven like our sync client: batches of lines per transaction, background WAL checkpoints.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use psync_reference::runner::Core;
use psync_reference::synthetic::{Plan, SCHEMA};
use rusqlite::Connection;

const CHILD_ENV: &str = "PSYNC_CRASH_CHILD";
const OLD_ROWS: usize = 10;
const NEW_ROWS: usize = 8_000;

fn open(core: Core, path: &Path) -> Connection {
    let conn = match core {
        Core::Reference => psync_reference::open_reference(path).expect("open reference"),
        Core::Ours => psync_reference::open_ours(path).expect("open ours").0,
    };
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("WAL");
    conn.busy_timeout(Duration::from_secs(5))
        .expect("busy timeout");
    conn
}

fn control(conn: &Connection, command: &str, payload: Option<&str>) -> String {
    conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
    let result: Option<String> = conn
        .query_row(
            "SELECT powersync_control(?, ?)",
            rusqlite::params![command, payload],
            |row| row.get(0),
        )
        .expect("powersync_control");
    conn.execute_batch("COMMIT").expect("commit");
    result.unwrap_or_default()
}

/// Old state: `OLD_ROWS` rows synced in bucket0 (prio 0), plus one pending local write.
fn prepare(core: Core, path: &Path) {
    let conn = open(core, path);
    conn.execute_batch("BEGIN").expect("begin");
    conn.query_row("SELECT powersync_init()", [], |_| Ok(()))
        .expect("init");
    conn.query_row("SELECT powersync_replace_schema(?)", [SCHEMA], |_| Ok(()))
        .expect("schema");
    conn.execute_batch("COMMIT").expect("commit");
    let plan = Plan::new(OLD_ROWS, 1, 0);
    control(&conn, "start", None);
    control(&conn, "line_text", Some(&plan.checkpoint_line()));
    for line in plan.data_lines() {
        control(&conn, "line_text", Some(&line));
    }
    let applied = control(&conn, "line_text", Some(&plan.complete_line()));
    assert!(
        applied.contains("applied"),
        "old state not applied: {applied}"
    );
    control(&conn, "stop", None);
    conn.execute(
        "INSERT INTO rows (id, a) VALUES ('local-1', 'pending upload')",
        [],
    )
    .expect("local write");
}

/// Tells the parent how far the child got (line-buffered on stdout).
fn progress(phase: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "{phase}");
    let _ = stdout.flush();
}

/// The large checkpoint: the old bucket stays (its ops were delivered) and the new rows
/// arrive in a second bucket. Returns the new rows' plan and the checkpoint line.
fn large_checkpoint() -> (Plan, serde_json::Value) {
    let old = Plan::new(OLD_ROWS, 1, 0);
    let plan = Plan {
        first_row: OLD_ROWS,
        bucket_prefix: "new",
        ..Plan::new(NEW_ROWS, 1, 0)
    };
    let mut buckets = old.bucket_entries();
    buckets.extend(plan.bucket_entries());
    let checkpoint = serde_json::json!({"checkpoint": {
        "last_op_id": plan.last_op().to_string(), "buckets": buckets}});
    (plan, checkpoint)
}

/// Child: blocks until the parent kills it (SIGKILL: the crash under test).
fn wait_to_be_killed() -> ! {
    loop {
        std::thread::park();
    }
}

/// Child: applies the large checkpoint, then waits to be killed.
fn child_apply(core: Core, path: &Path) {
    if let Core::Ours = core {
        return child_apply_batched(path);
    }
    let conn = open(core, path);
    let (plan, checkpoint) = large_checkpoint();
    control(&conn, "start", None);
    control(&conn, "line_text", Some(&checkpoint.to_string()));
    progress("STARTED");
    for line in plan.data_lines() {
        control(&conn, "line_text", Some(&line));
    }
    progress("DATA");
    let applied = control(&conn, "line_text", Some(&plan.partial_complete_line()));
    assert!(
        applied.contains("UpdateSyncStatus"),
        "not applied: {applied}"
    );
    progress("DONE");
    wait_to_be_killed();
}

#[test]
#[ignore = "child process of crash_safety_under_sigkill; run by it"]
fn crash_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (core, path) = spec.split_once(':').expect("core:path");
    let core = if core == "ours" {
        Core::Ours
    } else {
        Core::Reference
    };
    child_apply(core, Path::new(path));
}

/// Our child drives the engine as our sync client does: a `Database` (with its background
/// WAL checkpoints) and the lines in batches of up to `LINE_BATCH_MAX_BYTES` per write
/// transaction (the batch size is reduced here so the 8k rows take several transactions).
fn child_apply_batched(path: &Path) {
    use psync_core::storage::sync::{Instruction, SyncCommand};
    let db = psync_core::Database::open(path).expect("open ours");
    db.update_schema(psync_core::schema::Schema::from_json(SCHEMA).expect("schema"))
        .expect("schema");
    let engine = &db.state().sync;
    let (plan, checkpoint) = large_checkpoint();
    db.write(|tx| engine.control(tx.connection(), SyncCommand::Start(Default::default()), 0))
        .expect("start");
    progress("STARTED");
    let mut lines = vec![checkpoint.to_string()];
    lines.extend(plan.data_lines());
    lines.push(plan.partial_complete_line());
    let batch_bytes = psync_core::storage::sync::LINE_BATCH_MAX_BYTES / 16;
    let mut batch: Vec<SyncCommand> = Vec::new();
    let mut size = 0;
    let mut out = Vec::new();
    let count = lines.len();
    for (i, line) in lines.into_iter().enumerate() {
        size += line.len();
        batch.push(SyncCommand::LineText(line));
        if size >= batch_bytes || i + 1 == count {
            if i + 1 == count {
                progress("DATA");
            }
            out = db
                .write(|tx| engine.control_lines(tx.connection(), &batch, 0))
                .expect("control_lines");
            batch.clear();
            size = 0;
        }
    }
    assert!(
        out.iter()
            .any(|i| matches!(i, Instruction::UpdateSyncStatus { .. })),
        "not applied: {out:?}"
    );
    progress("DONE");
    wait_to_be_killed();
}

fn check_after_kill(core: Core, path: &Path, label: &str) -> usize {
    let conn = open(core, path);
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity_check");
    assert_eq!(integrity, "ok", "{label}: integrity_check");
    let synced: usize = conn
        .query_row(
            "SELECT count(*) FROM rows WHERE id LIKE 'row-%'",
            [],
            |row| row.get::<_, i64>(0).map(|n| n as usize),
        )
        .expect("count rows");
    assert!(
        synced == OLD_ROWS || synced == OLD_ROWS + NEW_ROWS,
        "{label}: synced rows {synced} is neither old ({OLD_ROWS}) nor new ({})",
        OLD_ROWS + NEW_ROWS
    );
    let crud: String = conn
        .query_row("SELECT group_concat(data) FROM ps_crud", [], |row| {
            row.get(0)
        })
        .expect("ps_crud");
    assert!(
        crud.contains("local-1") && crud.contains("pending upload"),
        "{label}: ps_crud lost the pending write: {crud}"
    );
    let local: usize = conn
        .query_row(
            "SELECT count(*) FROM rows WHERE id = 'local-1'",
            [],
            |row| row.get::<_, i64>(0).map(|n| n as usize),
        )
        .expect("local row");
    assert_eq!(local, 1, "{label}: local row vanished");
    synced
}

fn crash_at_several_points(core: Core) -> Vec<(u64, &'static str, usize)> {
    let exe = std::env::current_exe().expect("test executable");
    let mut outcomes = Vec::new();
    // `u64::MAX` = kill right after the child reports the apply.
    for delay_ms in [0_u64, 40, 120, 300, 700, 1500, 3000, u64::MAX] {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("crash.db");
        prepare(core, &path);
        let mut child = Command::new(&exe)
            .args([
                "crash_safety::crash_child",
                "--exact",
                "--include-ignored",
                "--nocapture",
            ])
            .env(CHILD_ENV, format!("{}:{}", core.label(), path.display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        // Wait until the child started the iteration, then kill it after `delay_ms`.
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut phase = "spawned";
        while Instant::now() < deadline {
            match receiver.recv_timeout(Duration::from_millis(20)) {
                Ok(line) if line == "STARTED" => {
                    phase = "started";
                    break;
                }
                _ => {}
            }
        }
        if delay_ms == u64::MAX {
            while Instant::now() < deadline {
                if let Ok(line) = receiver.recv_timeout(Duration::from_millis(50))
                    && line == "DONE"
                {
                    phase = "applied";
                    break;
                }
            }
        } else {
            std::thread::sleep(Duration::from_millis(delay_ms));
        }
        for line in receiver.try_iter() {
            if line == "DATA" {
                phase = "data sent";
            } else if line == "DONE" {
                phase = "applied";
            }
        }
        // SIGKILL: no destructors, no rollback — exactly a crash.
        child.kill().expect("kill child");
        let _ = child.wait();
        let synced = check_after_kill(core, &path, &format!("{} +{delay_ms}ms", core.label()));
        outcomes.push((delay_ms, phase, synced));
    }
    outcomes
}

#[test]
fn crash_safety_under_sigkill() {
    psync_reference::require_reference_core();
    for core in [Core::Reference, Core::Ours] {
        let outcomes = crash_at_several_points(core);
        eprintln!("crash safety ({}): {outcomes:?}", core.label());
        assert!(
            outcomes.iter().any(|(_, _, synced)| *synced == OLD_ROWS),
            "no kill landed before the apply; the points are too late"
        );
        assert!(
            outcomes
                .iter()
                .any(|(_, phase, synced)| *phase == "applied" && *synced == OLD_ROWS + NEW_ROWS),
            "the kill after the reported apply must find the new state: {outcomes:?}"
        );
    }
}
