// SPDX-License-Identifier: Apache-2.0
//! Initial-sync throughput (ignored by default; run with
//! `PSYNC_PERF_ROWS=100000 cargo test --release -p psync-core --test sync_perf -- --ignored --nocapture`).

#[path = "schema_common/mod.rs"]
mod common;

use std::time::Instant;

use psync_core::schema::{Column, Schema, Table};
use psync_core::sync::{StartSyncStream, SyncCommand};
use serde_json::json;

#[test]
#[ignore = "benchmark"]
fn initial_sync_throughput() {
    let rows: usize = std::env::var("PSYNC_PERF_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("tmp");
    let conn = rusqlite::Connection::open(dir.path().join("perf.db")).expect("open");
    conn.execute_batch("PRAGMA journal_mode = WAL")
        .expect("wal");
    let db = common::register(conn);
    db.conn
        .execute_batch("BEGIN; SELECT powersync_init(); COMMIT;")
        .expect("init");
    db.apply(&Schema::new([Table::new(
        "items",
        [Column::text("name"), Column::integer("n")],
    )]));
    let engine = &db.state.sync;
    let reference = std::env::var("PSYNC_REFERENCE_SO").ok();
    let ref_conn = reference.map(|so| {
        let conn = rusqlite::Connection::open(dir.path().join("ref.db")).expect("open ref");
        conn.execute_batch("PRAGMA journal_mode = WAL")
            .expect("wal");
        // SAFETY: loading the trusted reference extension for a benchmark.
        unsafe {
            let _guard = rusqlite::LoadExtensionGuard::new(&conn).expect("enable");
            conn.load_extension(so, Some("sqlite3_powersync_init"))
                .expect("load reference");
        }
        let schema = Schema::new([Table::new(
            "items",
            [Column::text("name"), Column::integer("n")],
        )]);
        conn.execute_batch("BEGIN; SELECT powersync_init(); COMMIT;")
            .expect("init");
        conn.execute_batch("BEGIN").expect("begin");
        conn.query_row(
            "SELECT powersync_replace_schema(?)",
            [schema.to_json().expect("json")],
            |_| Ok(()),
        )
        .expect("schema");
        conn.execute_batch("COMMIT").expect("commit");
        conn
    });
    let per_line = 1000;
    let mut checksum: u32 = 0;
    let mut lines = Vec::new();
    for chunk in 0..rows.div_ceil(per_line) {
        let ops: Vec<_> = (chunk * per_line..((chunk + 1) * per_line).min(rows))
            .map(|i| {
                let c = (i as u32).wrapping_mul(2_654_435_761);
                checksum = checksum.wrapping_add(c);
                json!({"op_id": (i + 1).to_string(), "op": "PUT", "object_type": "items",
                    "object_id": format!("row-{i}"),
                    "data": json!({"name": format!("name {i}"), "n": i}).to_string(),
                    "checksum": c})
            })
            .collect();
        lines.push(json!({"data": {"bucket": "b", "data": ops}}).to_string());
    }
    if let Some(conn) = &ref_conn {
        let started = Instant::now();
        let run = |cmd: &str, payload: Option<&str>| {
            conn.execute_batch("BEGIN").expect("begin");
            let out: String = conn
                .query_row(
                    "SELECT powersync_control(?, ?)",
                    rusqlite::params![cmd, payload],
                    |r| r.get(0),
                )
                .expect("control");
            conn.execute_batch("COMMIT").expect("commit");
            out
        };
        run("start", None);
        run(
            "line_text",
            Some(
                &json!({"checkpoint": {"last_op_id": rows.to_string(), "buckets": [
            {"bucket": "b", "checksum": checksum, "count": rows}]}})
                .to_string(),
            ),
        );
        for line in &lines {
            run("line_text", Some(line));
        }
        let downloaded = started.elapsed();
        let out = run(
            "line_text",
            Some(&json!({"checkpoint_complete": {"last_op_id": rows.to_string()}}).to_string()),
        );
        let total = started.elapsed();
        assert!(out.contains("Validated and applied checkpoint"), "{out}");
        eprintln!(
            "reference {rows} rows: download {:?}, apply {:?}, total {:?} => {:.0} rows/s",
            downloaded,
            total - downloaded,
            total,
            rows as f64 / total.as_secs_f64()
        );
    }
    let started = Instant::now();
    let tx = |cmd: SyncCommand| {
        db.conn.execute_batch("BEGIN").expect("begin");
        let out = engine.control(&db.conn, cmd, 0).expect("control");
        db.conn.execute_batch("COMMIT").expect("commit");
        out
    };
    tx(SyncCommand::Start(StartSyncStream::default()));
    tx(SyncCommand::LineText(
        json!({"checkpoint": {"last_op_id": rows.to_string(), "buckets": [
            {"bucket": "b", "checksum": checksum, "count": rows}]}})
        .to_string(),
    ));
    for line in lines {
        tx(SyncCommand::LineText(line));
    }
    let downloaded = started.elapsed();
    let out = tx(SyncCommand::LineText(
        json!({"checkpoint_complete": {"last_op_id": rows.to_string()}}).to_string(),
    ));
    let total = started.elapsed();
    assert!(format!("{out:?}").contains("Validated and applied checkpoint"));
    let n: i64 = db
        .conn
        .query_row("SELECT count(*) FROM items", [], |r| r.get(0))
        .expect("count");
    assert_eq!(n as usize, rows);
    eprintln!(
        "{rows} rows: download {:?}, apply {:?}, total {:?} => {:.0} rows/s",
        downloaded,
        total - downloaded,
        total,
        rows as f64 / total.as_secs_f64()
    );
}
