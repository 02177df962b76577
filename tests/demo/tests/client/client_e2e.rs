// SPDX-License-Identifier: Apache-2.0
//! End-to-end tests of the sync client against the embedded test service over loopback:
//! sync, uploads, reconnects, credentials, clear, watch (client-state-machine.md §6–§8).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use psync_core::Value;
use psync_core::client::{CheckpointMode, SyncOptions};
use psync_demo::{ServiceConnector, open_demo_database};
use psync_test_service::{Faults, TestService};

use crate::common;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_sync_downloads_the_users_rows_only() {
    let service = TestService::start().await.expect("service");
    backend_insert_list(&service, "mine", "u1");
    backend_insert_list(&service, "theirs", "u2");
    let (db, _) = connected(&service, "u1", fast_options()).await;
    first_sync(&db).await;
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM lists WHERE id = 'mine'").await,
        Some(1)
    );
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM lists WHERE id = 'theirs'").await,
        Some(0)
    );
    let status = db.status();
    assert!(status.connected && !status.connecting);
    assert!(status.last_synced_at.is_some());
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_dropped_stream_5xx_and_corrupt_checksums() {
    let service = TestService::start().await.expect("service");
    for i in 0..5 {
        backend_insert_list(&service, &format!("l{i}"), "u1");
    }
    service.set_faults(
        None,
        Faults {
            drop_after_lines: Some(2),
            times: Some(1),
            ..Faults::default()
        },
    );
    let (db, _) = connected(
        &service,
        "u1",
        SyncOptions {
            checkpoint_mode: CheckpointMode::Legacy,
            ..fast_options()
        },
    )
    .await;
    first_sync(&db).await;
    eventually(&db, "SELECT count(*) FROM lists", 5).await;

    // 503 on the stream: the iteration fails, the error shows, then clears after recovery.
    let errors = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let seen = Arc::clone(&errors);
    let _listener = db.add_status_listener(Box::new(move |s| {
        if let Some(e) = &s.download_error {
            seen.lock().push(e.clone());
        }
    }));
    service.set_faults(
        None,
        Faults {
            status: Some(503),
            paths: Some(vec!["/sync/stream".into()]),
            times: Some(2),
            ..Faults::default()
        },
    );
    service.set_faults(
        None,
        Faults {
            drop_after_lines: Some(0),
            times: Some(1),
            ..Faults::default()
        },
    );
    backend_insert_list(&service, "after-drop", "u1");
    eventually(&db, "SELECT count(*) FROM lists WHERE id = 'after-drop'", 1).await;

    service.set_faults(
        None,
        Faults {
            status: Some(503),
            paths: Some(vec!["/sync/stream".into()]),
            times: Some(2),
            ..Faults::default()
        },
    );
    // Force a reconnect by corrupting checksums once: the engine rejects the checkpoint.
    service.set_faults(
        None,
        Faults {
            corrupt_checksums: true,
            times: Some(1),
            ..Faults::default()
        },
    );
    backend_insert_list(&service, "after-corrupt", "u1");
    eventually(
        &db,
        "SELECT count(*) FROM lists WHERE id = 'after-corrupt'",
        1,
    )
    .await;
    until("download error never cleared", || {
        db.status().download_error.is_none()
    })
    .await;
    for e in errors.lock().iter() {
        assert!(!e.contains("eyJ"), "token leaked: {e}");
    }
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_xx_on_stream_sets_download_error_then_recovers() {
    let service = TestService::start().await.expect("service");
    service.set_faults(
        None,
        Faults {
            status: Some(503),
            paths: Some(vec!["/sync/stream".into()]),
            times: Some(2),
            ..Faults::default()
        },
    );
    let errors = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let db = open_demo_database(None).expect("open");
    let seen = Arc::clone(&errors);
    let _listener = db.add_status_listener(Box::new(move |s| {
        if let Some(e) = &s.download_error {
            seen.lock().push(e.clone());
        }
    }));
    db.connect(
        Arc::new(ServiceConnector::new(service.url(), "u1")),
        fast_options(),
    )
    .await
    .expect("connect");
    first_sync(&db).await;
    assert!(
        errors
            .lock()
            .iter()
            .any(|e| e.contains("503") && e.contains("127.0.0.1")),
        "{:?}",
        errors.lock()
    );
    until("download error never cleared", || {
        db.status().download_error.is_none()
    })
    .await;
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_token_is_refreshed_and_sync_continues() {
    let service = TestService::builder()
        .keepalive_interval(Duration::from_millis(200))
        .expire_warning_period(Duration::from_millis(1500))
        .start()
        .await
        .expect("service");
    let db = open_demo_database(None).expect("open");
    let connector = Arc::new(ServiceConnector::new(service.url(), "u1"));
    *connector.token_lifetime.lock() = Some(2);
    db.connect(connector.clone(), fast_options())
        .await
        .expect("connect");
    first_sync(&db).await;
    until("a token refresh after expiry", || {
        connector.fetches.load(Ordering::SeqCst) >= 2
    })
    .await;
    backend_insert_list(&service, "after-expiry", "u1");
    eventually(
        &db,
        "SELECT count(*) FROM lists WHERE id = 'after-expiry'",
        1,
    )
    .await;
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_converge() {
    let service = TestService::start().await.expect("service");
    let (a, _) = connected(&service, "u1", fast_options()).await;
    let (b, _) = connected(&service, "u1", fast_options()).await;
    first_sync(&a).await;
    first_sync(&b).await;
    local_insert_list(&a, "from-a", "u1").await;
    local_insert_list(&b, "from-b", "u1").await;
    for db in [&a, &b] {
        eventually(db, "SELECT count(*) FROM ps_crud", 0).await;
    }
    for db in [&a, &b] {
        let request = db.request_checkpoint().await.expect("request");
        request.wait_for_sync(Some(WAIT)).await.expect("synced");
    }
    for db in [&a, &b] {
        eventually(
            db,
            "SELECT count(*) FROM lists WHERE id IN ('from-a', 'from-b')",
            2,
        )
        .await;
    }
    a.close().await.expect("close");
    b.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_reruns_when_synced_rows_change() {
    let service = TestService::start().await.expect("service");
    let (db, _) = connected(&service, "u1", fast_options()).await;
    first_sync(&db).await;
    let mut watcher = db
        .watch(
            "SELECT count(*) FROM lists WHERE owner_id = ?",
            vec![Value::Text("u1".into())],
        )
        .expect("watch");
    assert!(
        watcher.tables().contains("ps_data__lists"),
        "{:?}",
        watcher.tables()
    );
    let first = watcher.next().await.expect("rows");
    assert_eq!(first[0].get(0).and_then(Value::as_i64), Some(0));
    let changes = db.on_change(BTreeSet::from(["todos".to_owned()]));
    backend_insert_list(&service, "l1", "u1");
    let next = tokio::time::timeout(WAIT, watcher.next())
        .await
        .expect("in time")
        .expect("rows");
    assert_eq!(next[0].get(0).and_then(Value::as_i64), Some(1));
    db.execute(
        "INSERT INTO todos(id, list_id, description) VALUES ('t1', 'l1', 'x')",
        vec![],
    )
    .await
    .expect("todo");
    tokio::time::timeout(WAIT, changes.changed())
        .await
        .expect("todos change notified");

    // The same watch as a Stream, on a local-write query.
    use futures_util::StreamExt;
    let mut stream = Box::pin(
        db.watch("SELECT count(*) FROM todos", vec![])
            .expect("watch")
            .into_stream(),
    );
    let first = stream.next().await.expect("item").expect("rows");
    assert_eq!(first[0].get(0).and_then(Value::as_i64), Some(1));
    db.execute(
        "INSERT INTO todos(id, list_id, description) VALUES ('t2', 'l1', 'y')",
        vec![],
    )
    .await
    .expect("todo");
    let second = tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("in time")
        .expect("item")
        .expect("rows");
    assert_eq!(second[0].get(0).and_then(Value::as_i64), Some(2));
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bson_lines_sync_like_ndjson() {
    let service = TestService::start().await.expect("service");
    backend_insert_list(&service, "l1", "u1");
    let (db, _) = connected(
        &service,
        "u1",
        SyncOptions {
            use_bson: true,
            ..fast_options()
        },
    )
    .await;
    first_sync(&db).await;
    assert_eq!(scalar(&db, "SELECT count(*) FROM lists").await, Some(1));
    local_insert_list(&db, "l2", "u1").await;
    eventually(&db, "SELECT count(*) FROM ps_crud", 0).await;
    let request = db.request_checkpoint().await.expect("request");
    request.wait_for_sync(Some(WAIT)).await.expect("synced");
    backend_insert_list(&service, "l3", "u1");
    eventually(&db, "SELECT count(*) FROM lists", 3).await;
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopened_database_knows_it_has_synced_before_connecting() {
    let service = TestService::start().await.expect("service");
    backend_insert_list(&service, "l1", "u1");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("client.db");
    let db = open_demo_database(Some(&path)).expect("open");
    assert_eq!(db.status().has_synced, Some(false));
    db.connect(
        Arc::new(ServiceConnector::new(service.url(), "u1")),
        fast_options(),
    )
    .await
    .expect("connect");
    first_sync(&db).await;
    db.close().await.expect("close");
    let reopened = open_demo_database(Some(&path)).expect("reopen");
    let status = reopened.status();
    assert_eq!(status.has_synced, Some(true));
    assert!(status.last_synced_at.is_some());
    assert!(!status.connected && !status.connecting);
    assert_eq!(
        scalar(&reopened, "SELECT count(*) FROM lists").await,
        Some(1)
    );
    reopened.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_401_invalidates_credentials_and_reconnects() {
    // Scenario 106.
    let service = TestService::start().await.expect("service");
    service.set_faults(
        None,
        Faults {
            status: Some(401),
            paths: Some(vec!["/sync/stream".into()]),
            times: Some(1),
            ..Faults::default()
        },
    );
    let (db, connector) = connected(
        &service,
        "u1",
        SyncOptions {
            checkpoint_mode: CheckpointMode::Legacy,
            ..fast_options()
        },
    )
    .await;
    first_sync(&db).await;
    assert_eq!(connector.invalidations.load(Ordering::SeqCst), 1);
    assert!(connector.fetches.load(Ordering::SeqCst) >= 2);
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_credential_fetch_shows_download_error_then_retries() {
    // Scenario 107.
    let service = TestService::start().await.expect("service");
    let db = open_demo_database(None).expect("open");
    let connector = Arc::new(ServiceConnector::new(service.url(), "u1"));
    connector.fail_fetches.store(1, Ordering::SeqCst);
    let errors = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let seen = Arc::clone(&errors);
    let _listener = db.add_status_listener(Box::new(move |s| {
        if let Some(e) = &s.download_error {
            seen.lock().push(e.clone());
        }
    }));
    db.connect(connector.clone(), fast_options())
        .await
        .expect("connect");
    first_sync(&db).await;
    assert!(
        errors
            .lock()
            .iter()
            .any(|e| e.contains("simulated auth backend outage")),
        "{:?}",
        errors.lock()
    );
    assert_eq!(connector.fetches.load(Ordering::SeqCst), 2);
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_clear_then_reconnect_restores_rows() {
    let service = TestService::start().await.expect("service");
    backend_insert_list(&service, "l1", "u1");
    let (db, connector) = connected(&service, "u1", fast_options()).await;
    first_sync(&db).await;
    db.disconnect_and_clear(psync_core::client::ClearOptions {
        soft: true,
        ..Default::default()
    })
    .await
    .expect("soft clear");
    assert_eq!(scalar(&db, "SELECT count(*) FROM lists").await, Some(0));
    assert!(!db.status().connected && !db.status().connecting);
    db.connect(connector, fast_options())
        .await
        .expect("reconnect");
    first_sync(&db).await;
    eventually(&db, "SELECT count(*) FROM lists", 1).await;
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_stream_is_reopened_after_the_idle_timeout() {
    let service = TestService::start().await.expect("service");
    let (db, _) = connected(
        &service,
        "u1",
        SyncOptions {
            stream_idle_timeout: Duration::from_millis(300),
            ..fast_options()
        },
    )
    .await;
    first_sync(&db).await;
    service.set_faults(
        None,
        Faults {
            stall: true,
            ..Faults::default()
        },
    );
    backend_insert_list(&service, "during-stall", "u1");
    until("stall never detected", || {
        db.status()
            .download_error
            .is_some_and(|e| e.contains("idle"))
    })
    .await;
    service.clear_faults();
    eventually(
        &db,
        "SELECT count(*) FROM lists WHERE id = 'during-stall'",
        1,
    )
    .await;
    db.close().await.expect("close");
}

/// Runs the demo binary with `args` to completion, returning its output.
async fn run_demo(args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_psync-demo"))
        .args(args)
        .output()
        .await
        .expect("run psync-demo")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_embedded_and_against_a_service_given_on_the_command_line() {
    let embedded = run_demo(&[]).await;
    let stdout = String::from_utf8_lossy(&embedded.stdout);
    assert!(embedded.status.success(), "{stdout}");
    assert!(
        stdout.contains("todos downloaded from the service: 2/2"),
        "{stdout}"
    );
    assert!(stdout.contains("demo finished OK"), "{stdout}");

    // The same steps against a service the demo did not start, with a token command (run
    // again on every credentials fetch) and the upload URL of the service's backend.
    let service = TestService::start().await.expect("service");
    let token = service.mint_token("external-user");
    let token_command = format!("printf %s {token}");
    let upload_url = format!("{}/api/data", service.url());
    for extra in [&[][..], &["--bson", "--legacy-checkpoints"][..]] {
        let mut args = vec![
            "--endpoint",
            &service.url(),
            "--token-command",
            &token_command,
            "--upload-url",
            &upload_url,
            "--user",
            "external-user",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let external = run_demo(&refs).await;
        let stdout = String::from_utf8_lossy(&external.stdout);
        assert!(external.status.success(), "{extra:?}: {stdout}");
        assert!(
            stdout.contains("todos downloaded from the service: 2/2"),
            "{stdout}"
        );
    }
    let backend_lists: i64 = service
        .source()
        .query_row(
            "SELECT count(*) FROM lists WHERE owner_id = 'external-user'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(backend_lists, 2, "each external run uploaded its list");

    let missing_upload = run_demo(&["--endpoint", &service.url(), "--token", &token]).await;
    assert_eq!(missing_upload.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing_upload.stdout).contains("--upload-url"));
}
