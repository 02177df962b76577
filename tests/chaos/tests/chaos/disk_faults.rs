// SPDX-License-Identifier: Apache-2.0
//! Disk and file faults: a full disk during local writes and during the initial sync (clear
//! error, acknowledged writes kept, sync resumes once space returns); a read-only, deleted or
//! corrupted database file (clear errors at open or at the next statement, no panic).

use crate::disk;

use std::sync::Arc;
use std::time::Duration;

use disk::SmallDisk;
use psync_chaos::checks::{wait_for_empty_upload_queue, wait_through_sync_errors};
use psync_chaos::client::chaos_options;
use psync_core::client::SyncDatabase;
use psync_core::{Database, Value};
use psync_demo::{ServiceConnector, open_demo_database};
use psync_test_service::TestService;
use psync_test_support::client::download_error;

const WAIT: Duration = Duration::from_secs(30);

async fn connect(db: &SyncDatabase, service: &TestService) {
    let connector = Arc::new(ServiceConnector::new(service.url(), "u1"));
    db.connect(connector, chaos_options())
        .await
        .expect("connect");
}

async fn count(db: &SyncDatabase, sql: &str) -> i64 {
    let rows = db.get_all(sql, vec![]).await.expect("count");
    rows.first()
        .and_then(|r| r.get(0))
        .and_then(Value::as_i64)
        .unwrap_or(-1)
}

fn backend_count(service: &TestService, pattern: &str) -> i64 {
    service
        .source()
        .query_row(
            "SELECT count(*) FROM todos WHERE id LIKE ?",
            [pattern],
            |r| r.get(0),
        )
        .expect("backend count")
}

fn is_disk_full(message: &str) -> bool {
    message.contains("full")
}

async fn insert(db: &SyncDatabase, id: &str, bytes: usize) -> psync_core::Result<()> {
    db.execute(
        "INSERT INTO todos(id, description, owner_id) VALUES (?, ?, 'u1')",
        vec![id.into(), "x".repeat(bytes).into()],
    )
    .await
}

async fn integrity(db: &SyncDatabase) -> String {
    let rows = db
        .get_all("PRAGMA integrity_check", vec![])
        .await
        .expect("check");
    rows.first()
        .and_then(|r| r.get(0))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_during_local_writes_keeps_acknowledged_writes_and_sync_resumes() {
    let service = TestService::start().await.expect("service");
    let disk = SmallDisk::new(8 * 1024);
    let db = open_demo_database(Some(&disk.path("app.db"))).expect("open");
    connect(&db, &service).await;
    db.wait_for_first_sync(None, Some(WAIT))
        .await
        .expect("first sync");
    disk.fill(&db, 400).await;

    let mut acknowledged = 0;
    let error = loop {
        match insert(&db, &format!("w-{acknowledged}"), 4096).await {
            Ok(()) => acknowledged += 1,
            Err(error) => break error,
        }
        assert!(acknowledged < 100_000, "the disk never filled up");
    };
    assert!(is_disk_full(&error.to_string()), "unclear error: {error}");
    assert!(acknowledged > 0);
    assert_eq!(
        count(&db, "SELECT count(*) FROM todos WHERE id LIKE 'w-%'").await,
        acknowledged,
        "every acknowledged write is still there while the disk is full"
    );

    disk.free(&db).await;
    insert(&db, &format!("w-{acknowledged}"), 16)
        .await
        .expect("writes work again");
    acknowledged += 1;
    assert!(
        wait_for_empty_upload_queue(&db, WAIT).await.expect("queue"),
        "the upload queue drains once space returns: {:?}",
        db.status()
    );
    let request = db.request_checkpoint().await.expect("request");
    wait_through_sync_errors(&request, WAIT)
        .await
        .expect("synced");
    assert_eq!(backend_count(&service, "w-%"), acknowledged);
    assert_eq!(integrity(&db).await, "ok");
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_during_initial_sync_reports_it_and_resumes() {
    let service = TestService::start().await.expect("service");
    service
        .source()
        .execute_batch(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
             INSERT INTO todos(id, description, owner_id) SELECT 's-' || i, hex(randomblob(400)), 'u1' FROM n",
        )
        .expect("seed");
    let disk = SmallDisk::new(32 * 1024);
    let db = open_demo_database(Some(&disk.path("app.db"))).expect("open");
    disk.fill(&db, 1024).await;
    connect(&db, &service).await;

    let error = download_error(&db).await;
    assert!(is_disk_full(&error), "unclear download error: {error}");
    assert_ne!(db.status().has_synced, Some(true));

    disk.free(&db).await;
    db.wait_for_first_sync(None, Some(WAIT))
        .await
        .expect("the initial sync completes once space returns");
    assert_eq!(
        count(&db, "SELECT count(*) FROM todos WHERE id LIKE 's-%'").await,
        3000
    );
    assert_eq!(integrity(&db).await, "ok");
    db.close().await.expect("close");
}

/// A database with one row, closed again.
async fn written_database(path: &std::path::Path) {
    let db = open_demo_database(Some(path)).expect("open");
    insert(&db, "kept", 16).await.expect("insert");
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_database_fails_clearly_at_open_or_write() {
    let disk = SmallDisk::new(8 * 1024);
    let path = disk.path("app.db");
    written_database(&path).await;
    disk.make_read_only();
    let message = match Database::open(&path) {
        Err(error) => error.to_string(),
        Ok(db) => {
            let db = SyncDatabase::new(db);
            insert(&db, "new", 16)
                .await
                .expect_err("a write to a read-only database fails")
                .to_string()
        }
    };
    eprintln!("read-only: {message}");
    assert!(
        ["readonly", "read-only", "unable to open"]
            .iter()
            .any(|m| message.contains(m)),
        "unclear error: {message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_database_file_fails_clearly_at_the_next_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.db");
    let db = open_demo_database(Some(&path)).expect("open");
    insert(&db, "before", 16).await.expect("insert");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let error = insert(&db, "after", 16)
        .await
        .expect_err("a write to a deleted database file fails instead of vanishing");
    eprintln!("deleted: {error}");
    assert!(
        error.to_string().contains("was deleted"),
        "unclear error: {error}"
    );
    drop(db);
    let reopened = Database::open(&path).expect("a new, empty database");
    assert!(reopened.get("SELECT 1 FROM ps_crud LIMIT 1", &[]).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_database_file_fails_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");

    // A destroyed header: refused at open.
    let header = dir.path().join("header.db");
    written_database(&header).await;
    let mut bytes = std::fs::read(&header).expect("read");
    bytes[..100].fill(0xA5);
    std::fs::write(&header, &bytes).expect("write");
    let error = Database::open(&header).expect_err("open refuses a destroyed header");
    eprintln!("corrupted header: {error}");
    assert!(
        error.to_string().contains("not a SQLite database"),
        "unclear error: {error}"
    );

    // Garbage in the pages after the header: an error at open or at the first statement that
    // reads them, never a panic.
    let pages = dir.path().join("pages.db");
    written_database(&pages).await;
    let mut bytes = std::fs::read(&pages).expect("read");
    for byte in bytes.iter_mut().skip(4096) {
        *byte = 0x5A;
    }
    std::fs::write(&pages, &bytes).expect("write");
    let message = match Database::open(&pages) {
        Err(error) => error.to_string(),
        Ok(db) => db
            .get("SELECT count(*) FROM ps_data__todos", &[])
            .expect_err("reading garbage pages fails")
            .to_string(),
    };
    eprintln!("corrupted pages: {message}");
    assert!(
        message.contains("malformed") || message.contains("not a SQLite database"),
        "unclear error: {message}"
    );
}
