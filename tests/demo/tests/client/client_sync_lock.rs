// SPDX-License-Identifier: Apache-2.0
//! One syncing instance per database file: while one client syncs a file, `connect()` of any
//! other client of that file — in this process or another — fails with an error naming it,
//! until the first disconnects, closes, is dropped or its process dies.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use psync_core::client::{SYNC_LOCK_SUFFIX, SyncDatabase};
use psync_demo::{ServiceConnector, open_demo_database};
use psync_test_service::TestService;

use crate::common;
use common::*;

async fn connect(db: &SyncDatabase, service: &TestService) -> psync_core::Result<()> {
    let connector = Arc::new(ServiceConnector::new(service.url(), "u1"));
    db.connect(connector, fast_options()).await
}

/// Asserts that `db` cannot connect because another client syncs `path`.
async fn assert_refused(db: &SyncDatabase, service: &TestService, path: &Path) {
    let error = connect(db, service)
        .await
        .expect_err("a second client must not sync the same file");
    let message = error.to_string();
    assert!(
        message.contains(&format!("{} is already syncing", path.display())),
        "{message}"
    );
    let status = db.status();
    assert!(!status.connected && !status.connecting, "{status:?}");
}

/// `psync-sync-lock-holder` syncing `path`; stdin stays open to keep it running.
fn spawn_holder(path: &Path, service: &TestService) -> Child {
    Command::new(env!("CARGO_BIN_EXE_psync-sync-lock-holder"))
        .arg(path)
        .arg(service.url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start psync-sync-lock-holder")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_client_of_the_file_cannot_connect_until_the_first_stops() {
    let service = TestService::start().await.expect("service");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("shared.db");
    let first = open_demo_database(Some(&path)).expect("open first");
    let second = open_demo_database(Some(&path)).expect("open second");

    connect(&first, &service).await.expect("first connect");
    assert!(Path::new(&format!("{}{SYNC_LOCK_SUFFIX}", path.display())).exists());
    assert_refused(&second, &service, &path).await;
    // Reconnecting keeps the lock: the client does not refuse itself.
    connect(&first, &service).await.expect("reconnect");
    first_sync(&first).await;

    first.disconnect().await.expect("disconnect");
    connect(&second, &service).await.expect("second connect");
    local_insert_list(&second, "from-second", "u1").await;
    eventually(&second, "SELECT count(*) FROM ps_crud", 0).await;
    assert_refused(&first, &service, &path).await;

    second.close().await.expect("close");
    connect(&first, &service)
        .await
        .expect("connect after close");
    first.close().await.expect("close first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_syncing_client_releases_the_file() {
    let service = TestService::start().await.expect("service");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dropped.db");
    let first = open_demo_database(Some(&path)).expect("open first");
    let second = open_demo_database(Some(&path)).expect("open second");
    connect(&first, &service).await.expect("first connect");
    assert_refused(&second, &service, &path).await;

    drop(first);
    // The lock goes once the dropped client's tasks have stopped, which takes a moment.
    until_async("the dropped client releases the lock", async || {
        connect(&second, &service).await.is_ok()
    })
    .await;
    first_sync(&second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_holds_the_file_until_it_is_killed() {
    let service = TestService::start().await.expect("service");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("killed.db");
    let mut holder = spawn_holder(&path, &service);
    let stdout = holder.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .expect("reader")
    .expect("read");
    assert_eq!(line, "connected\n");

    let db = open_demo_database(Some(&path)).expect("open");
    assert_refused(&db, &service, &path).await;

    holder.kill().expect("SIGKILL"); // SIGKILL on Unix: no chance to unlock
    let status = holder.wait().expect("wait");
    assert!(!status.success());
    connect(&db, &service)
        .await
        .expect("connect once the holder died");
    first_sync(&db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_cannot_connect_while_this_one_syncs() {
    let service = TestService::start().await.expect("service");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("busy.db");
    let db = open_demo_database(Some(&path)).expect("open");
    connect(&db, &service).await.expect("connect");

    let output = tokio::task::spawn_blocking({
        let holder = spawn_holder(&path, &service);
        move || holder.wait_with_output()
    })
    .await
    .expect("waiter")
    .expect("holder output");

    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{} is already syncing", path.display())),
        "{stderr}"
    );
    db.close().await.expect("close");
}
