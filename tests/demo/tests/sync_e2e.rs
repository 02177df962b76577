// SPDX-License-Identifier: Apache-2.0
//! End-to-end: psync-core's SyncClient against the embedded test service over loopback,
//! with real database files.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use psync_core::Value;
use psync_core::client::{ClearMode, SyncClient};
use psync_test_service::{Faults, TestService};

const T: Duration = Duration::from_secs(10);

/// Simulates replication lag: pauses replication and queues a source change, so write
/// checkpoints stored from now on stay invisible until replication resumes.
fn lag(service: &TestService, tag: &str) {
    service.set_replication_paused(true);
    service
        .source()
        .execute(
            "INSERT INTO announcements(id, title) VALUES (?, 'lag')",
            [tag],
        )
        .expect("queued source write");
}

fn insert_todo(db: &psync_core::Database, owner: &str, description: &str) {
    db.execute(
        "INSERT INTO todos(id, list_id, description, completed, owner_id) VALUES (uuid(), 'l1', ?, 0, ?)",
        &[Value::Text(description.into()), Value::Text(owner.into())],
    )
    .expect("insert");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_sync_downloads_rows_and_reports_status() {
    let service = TestService::start().await.expect("service");
    service
        .source()
        .execute(
            "INSERT INTO lists(id, name, owner_id) VALUES ('l1', 'mine', 'u1'), ('l2', 'other', 'u2')",
            [],
        )
        .expect("seed");
    let c = connected(&service, "u1").await;
    assert_eq!(text_rows(&c.db, "SELECT name FROM lists"), vec!["mine"]);
    let status = c.client.status();
    assert!(status.connected);
    assert_eq!(status.has_synced, Some(true));
    assert!(status.last_synced_at.is_some());
    assert_eq!(status.checkpoint_requests_supported, Some(true));
    c.client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_write_uploads_and_converges_through_the_gate() {
    let service = TestService::start().await.expect("service");
    let c = connected(&service, "u1").await;
    insert_todo(&c.db, "u1", "write me");
    eventually("upload", T, || {
        server_count(&service, "SELECT count(*) FROM todos") == 1
    })
    .await;
    eventually("queue drained and target applied", T, || {
        count(&c.db, "SELECT count(*) FROM ps_crud") == 0
            && kv(&c.db, "last_applied_checkpoint_request_id").is_some()
    })
    .await;
    // The row survived the round trip (the server echo replaced the local version).
    assert_eq!(
        text_rows(&c.db, "SELECT description FROM todos"),
        vec!["write me"]
    );
    let target = kv(&c.db, "target_checkpoint_request_id").expect("target");
    assert!(target < i64::MAX, "a concrete write checkpoint was stored");
    assert!(kv(&c.db, "last_seen_checkpoint_request_id").expect("seen") >= target);
    assert_eq!(c.client.status().upload_error, None);
    c.client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barrier_holds_downloads_until_the_upload_is_acknowledged() {
    let service = TestService::start().await.expect("service");
    service
        .source()
        .execute(
            "INSERT INTO lists(id, name, owner_id) VALUES ('l1', 'v1', 'u1')",
            [],
        )
        .expect("seed");
    let c = connected(&service, "u1").await;
    *c.connector.fail_uploads.lock() = Some("backend offline".into());
    c.db.execute("UPDATE lists SET name = 'local edit' WHERE id = 'l1'", &[])
        .expect("local edit");
    eventually("upload error", T, || {
        c.client.status().upload_error.is_some()
    })
    .await;
    // A server change arrives while the local edit is pending: the gate keeps it out.
    service
        .source()
        .execute(
            "INSERT INTO lists(id, name, owner_id) VALUES ('l9', 'server', 'u1')",
            [],
        )
        .expect("server write");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        text_rows(&c.db, "SELECT name FROM lists ORDER BY id"),
        vec!["local edit"]
    );
    *c.connector.fail_uploads.lock() = None;
    eventually("convergence", T, || {
        text_rows(&c.db, "SELECT name FROM lists ORDER BY id") == vec!["local edit", "server"]
    })
    .await;
    eventually("upload error cleared", T, || {
        c.client.status().upload_error.is_none()
    })
    .await;
    c.client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_checkpoint_resolves_and_latches() {
    let service = TestService::start().await.expect("service");
    let c = connected(&service, "u1").await;
    let request = c.client.request_checkpoint().await.expect("request");
    request.wait_for_sync(Some(T)).await.expect("synced");
    assert!(request.is_synced());
    let second = c.client.request_checkpoint().await.expect("second");
    assert!(second.id() > request.id());
    second.wait_for_sync(None).await.expect("second synced");
    c.client.disconnect().await.expect("disconnect");
    assert!(request.is_synced(), "latched across disconnect");
    assert!(request.wait_for_sync(Some(Duration::ZERO)).await.is_ok());
    c.client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_all_resolve_with_coalesced_posts() {
    let service = TestService::start().await.expect("service");
    let c = connected(&service, "u1").await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = c.client.clone();
        tasks.push(tokio::spawn(async move {
            let r = client.request_checkpoint().await.expect("request");
            r.wait_for_sync(Some(T)).await.expect("synced");
            r.id()
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.expect("task"));
    }
    // Requests queued behind one POST share its id; every id is a real acknowledged one.
    ids.sort_unstable();
    ids.dedup();
    assert!(!ids.is_empty() && ids.len() <= 20);
    // Sequential requests always get fresh ids.
    let a = c.client.request_checkpoint().await.expect("a");
    let b = c.client.request_checkpoint().await.expect("b");
    assert!(b.id() > a.id() && a.id() > ids[ids.len() - 1]);
    c.client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_checkpoint_errors() {
    use psync_core::client::{CheckpointRequestError as E, CheckpointWaitError as W};
    let service = TestService::start().await.expect("service");
    // Not connected.
    let idle = new_client(&service, "u1");
    assert_eq!(
        idle.client.request_checkpoint().await.err(),
        Some(E::NotConnected)
    );

    let c = connected(&service, "u1").await;
    // 401 on the POST → Unauthenticated, credentials invalidated.
    service.set_faults(
        None,
        Faults {
            status: Some(401),
            paths: Some(vec!["/sync/checkpoint-request".into()]),
            times: Some(1),
            ..Faults::default()
        },
    );
    assert!(matches!(
        c.client.request_checkpoint().await,
        Err(E::Unauthenticated(_))
    ));
    // 503 → OperationFailed.
    service.set_faults(
        None,
        Faults {
            status: Some(503),
            paths: Some(vec!["/sync/checkpoint-request".into()]),
            times: Some(1),
            ..Faults::default()
        },
    );
    assert!(matches!(
        c.client.request_checkpoint().await,
        Err(E::OperationFailed(_))
    ));
    service.clear_faults();

    // Timeout while replication lags; a later wait still succeeds.
    lag(&service, "lag1");
    let request = c.client.request_checkpoint().await.expect("request");
    assert_eq!(
        request.wait_for_sync(Some(Duration::ZERO)).await,
        Err(W::Timeout)
    );
    assert_eq!(
        request
            .wait_for_sync(Some(Duration::from_millis(100)))
            .await,
        Err(W::Timeout)
    );
    service.set_replication_paused(false);
    request
        .wait_for_sync(Some(T))
        .await
        .expect("synced after lag");

    // Disconnect while waiting.
    lag(&service, "lag2");
    let request = c.client.request_checkpoint().await.expect("request");
    let waiter = tokio::spawn({
        let request = request.clone();
        async move { request.wait_for_sync(Some(T)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    c.client.disconnect().await.expect("disconnect");
    assert_eq!(waiter.await.expect("join"), Err(W::Disconnected));
    service.set_replication_paused(false);

    // Sync error while waiting (upload failing).
    c.client
        .connect(c.connector.clone(), fast_options())
        .await
        .expect("reconnect");
    *c.connector.fail_uploads.lock() = Some("backend down".into());
    insert_todo(&c.db, "u1", "stuck");
    eventually("upload error", T, || {
        c.client.status().upload_error.is_some()
    })
    .await;
    let request = c.client.request_checkpoint().await.expect("request");
    assert!(matches!(
        request.wait_for_sync(Some(T)).await,
        Err(W::SyncError(_))
    ));
    *c.connector.fail_uploads.lock() = None;

    // Closed while waiting.
    service.set_replication_paused(true);
    eventually("upload error cleared", T, || {
        c.client.status().upload_error.is_none()
    })
    .await;
    let request = c.client.request_checkpoint().await.expect("request");
    let waiter = tokio::spawn({
        let request = request.clone();
        async move { request.wait_for_sync(Some(T)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    c.client.close().await.expect("close");
    let outcome = waiter.await.expect("join");
    assert!(
        matches!(outcome, Err(W::Closed) | Err(W::Disconnected)),
        "{outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_without_checkpoint_requests_falls_back_to_legacy() {
    let service = TestService::builder()
        .faults(Faults {
            checkpoint_request_not_found: true,
            ..Faults::default()
        })
        .start()
        .await
        .expect("service");
    let c = connected(&service, "u1").await;
    assert_eq!(c.client.status().checkpoint_requests_supported, Some(false));
    assert_eq!(
        c.client.request_checkpoint().await.err(),
        Some(psync_core::client::CheckpointRequestError::NotSupported)
    );
    insert_todo(&c.db, "u1", "legacy");
    eventually("legacy write checkpoint applied", T, || {
        count(&c.db, "SELECT count(*) FROM ps_crud") == 0
            && kv(&c.db, "last_applied_checkpoint_request_id").is_some()
    })
    .await;
    assert_eq!(
        text_rows(&c.db, "SELECT description FROM todos"),
        vec!["legacy"]
    );
    c.client.close().await.expect("close");
}

async fn reconnects_after(faults: Faults) {
    let service = TestService::start().await.expect("service");
    let c = connected(&service, "u1").await;
    service.set_faults(None, faults);
    service
        .source()
        .execute(
            "INSERT INTO lists(id, name, owner_id) VALUES ('l5', 'after fault', 'u1')",
            [],
        )
        .expect("server write");
    insert_todo(&c.db, "u1", "during fault");
    eventually("convergence after fault", T, || {
        text_rows(&c.db, "SELECT name FROM lists") == vec!["after fault"]
            && server_count(&service, "SELECT count(*) FROM todos") == 1
            && count(&c.db, "SELECT count(*) FROM ps_crud") == 0
    })
    .await;
    let r = c
        .client
        .request_checkpoint()
        .await
        .expect("request after fault");
    r.wait_for_sync(Some(T)).await.expect("synced after fault");
    c.client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_dropped_stream() {
    reconnects_after(Faults {
        drop_after_lines: Some(1),
        times: Some(2),
        ..Faults::default()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_cut_bytes() {
    reconnects_after(Faults {
        drop_after_bytes: Some(10),
        times: Some(2),
        ..Faults::default()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_server_errors() {
    reconnects_after(Faults {
        status: Some(503),
        times: Some(3),
        ..Faults::default()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_corrupt_checksums() {
    reconnects_after(Faults {
        corrupt_checksums: true,
        times: Some(1),
        ..Faults::default()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_401_invalidates_credentials_and_reconnects() {
    // Scenario 106: the first stream request answers 401.
    let service = TestService::builder()
        .faults(Faults {
            status: Some(401),
            times: Some(1),
            paths: Some(vec!["/sync/stream".into()]),
            ..Faults::default()
        })
        .start()
        .await
        .expect("service");
    let c = new_client(&service, "u1");
    c.client
        .connect(c.connector.clone(), fast_options())
        .await
        .expect("connect");
    tokio::time::timeout(T, c.client.wait_for_first_sync(None))
        .await
        .expect("in time")
        .expect("sync");
    assert_eq!(c.connector.invalidations.load(Ordering::SeqCst), 1);
    assert_eq!(c.connector.fetches.load(Ordering::SeqCst), 2);
    c.client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_during_retry_wait_waits_for_the_next_seed() {
    // Scenario 133: every connection attempt fails for a while; the request waits.
    let service = TestService::builder()
        .faults(Faults {
            status: Some(503),
            times: Some(4),
            ..Faults::default()
        })
        .start()
        .await
        .expect("service");
    let c = new_client(&service, "u1");
    c.client
        .connect(c.connector.clone(), fast_options())
        .await
        .expect("connect");
    let request = tokio::time::timeout(T, c.client.request_checkpoint())
        .await
        .expect("in time")
        .expect("request after retries");
    // The failed iterations' download error stays until the next complete sync (§8), and
    // waiters fail fast on it (§9.3), so wait for it to clear first.
    eventually("download error cleared", T, || {
        c.client.status().download_error.is_none()
    })
    .await;
    request.wait_for_sync(Some(T)).await.expect("synced");
    // And disconnect() ends a request still waiting for a seed.
    service.set_faults(
        None,
        Faults {
            status: Some(503),
            ..Faults::default()
        },
    );
    c.client.disconnect().await.expect("disconnect");
    c.client
        .connect(c.connector.clone(), fast_options())
        .await
        .expect("connect");
    let pending = tokio::spawn({
        let client = c.client.clone();
        async move { client.request_checkpoint().await }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    c.client.disconnect().await.expect("disconnect");
    assert_eq!(
        pending.await.expect("join").err(),
        Some(psync_core::client::CheckpointRequestError::NotConnected)
    );
    c.client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_is_refreshed() {
    let service = TestService::builder()
        .keepalive_interval(Duration::from_millis(200))
        .expire_warning_period(Duration::from_millis(500))
        .start()
        .await
        .expect("service");
    let c = new_client(&service, "u1");
    *c.connector.token_lifetime_secs.lock() = Some(1);
    c.client
        .connect(c.connector.clone(), fast_options())
        .await
        .expect("connect");
    eventually(
        "several credential fetches",
        Duration::from_secs(15),
        || c.connector.fetches.load(Ordering::SeqCst) >= 3,
    )
    .await;
    *c.connector.token_lifetime_secs.lock() = None;
    insert_todo(&c.db, "u1", "after refresh");
    eventually("upload after refresh", T, || {
        server_count(&service, "SELECT count(*) FROM todos") == 1
    })
    .await;
    let r = c.client.request_checkpoint().await.expect("request");
    r.wait_for_sync(Some(T)).await.expect("synced");
    c.client.close().await.expect("close");
}

async fn clear_then_reconnect(mode: ClearMode) {
    let service = TestService::start().await.expect("service");
    service
        .source()
        .execute(
            "INSERT INTO lists(id, name, owner_id) VALUES ('l1', 'x', 'u1')",
            [],
        )
        .expect("seed");
    let c = connected(&service, "u1").await;
    let before = c.client.request_checkpoint().await.expect("request");
    before.wait_for_sync(Some(T)).await.expect("synced");
    c.client.disconnect_and_clear(mode).await.expect("clear");
    assert_eq!(count(&c.db, "SELECT count(*) FROM lists"), 0);
    assert_eq!(kv(&c.db, "last_requested_checkpoint_request_id"), None);
    assert_eq!(c.client.status().has_synced, Some(false));
    c.client
        .connect(c.connector.clone(), fast_options())
        .await
        .expect("reconnect");
    tokio::time::timeout(T, c.client.wait_for_first_sync(None))
        .await
        .expect("in time")
        .expect("resync");
    assert_eq!(count(&c.db, "SELECT count(*) FROM lists"), 1);
    let after = c.client.request_checkpoint().await.expect("request");
    assert!(
        after.id() > before.id(),
        "counter re-hydrated from the service"
    );
    after.wait_for_sync(Some(T)).await.expect("synced");
    c.client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hard_clear_then_reconnect_rehydrates_counter() {
    clear_then_reconnect(ClearMode::Hard).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_clear_then_reconnect_rehydrates_counter() {
    clear_then_reconnect(ClearMode::Soft).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrated_legacy_database_never_applies_a_stale_checkpoint() {
    let service = TestService::start().await.expect("service");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("a.db");
    std::fs::copy(
        "/work/shared/fixtures/a-legacy-0.4.12-pending-max.db",
        &path,
    )
    .expect("copy");
    let db = psync_core::Database::open(&path).expect("open migrated");
    assert_eq!(kv(&db, "last_seen_checkpoint_request_id"), Some(101));
    let client = SyncClient::new(db.clone()).expect("client");
    let connector = psync_demo::ServiceConnector::new(&service.url(), "u1");
    // The service does not know the fixture's columns: uploads are accepted and dropped.
    connector.discard_uploads.store(true, Ordering::SeqCst);
    client
        .connect(connector.clone(), fast_options())
        .await
        .expect("connect");
    eventually("upload and new target", T, || {
        count(&db, "SELECT count(*) FROM ps_crud") == 0
            && kv(&db, "target_checkpoint_request_id").is_some_and(|t| t != i64::MAX)
    })
    .await;
    // The service had no record and answered 1; the allocated id still lies above the
    // migrated legacy position, so the stale pending checkpoint can never open the gate.
    let target = kv(&db, "target_checkpoint_request_id").expect("target");
    assert!(
        target > 101,
        "target {target} must exceed the legacy write checkpoint"
    );
    let r = client.request_checkpoint().await.expect("request");
    assert!(r.id() > target);
    r.wait_for_sync(Some(T)).await.expect("synced");
    client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_converge() {
    let service = TestService::start().await.expect("service");
    let a = connected(&service, "u1").await;
    let b = connected(&service, "u1").await;
    insert_todo(&a.db, "u1", "from a");
    insert_todo(&b.db, "u1", "from b");
    let sql = "SELECT description FROM todos ORDER BY description";
    eventually("both converge", T, || {
        text_rows(&a.db, sql) == vec!["from a", "from b"]
            && text_rows(&b.db, sql) == vec!["from a", "from b"]
    })
    .await;
    a.client.close().await.expect("close a");
    b.client.close().await.expect("close b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bson_stream_syncs() {
    let service = TestService::start().await.expect("service");
    service
        .source()
        .execute(
            "INSERT INTO lists(id, name, owner_id) VALUES ('l1', 'bson', 'u1')",
            [],
        )
        .expect("seed");
    let c = new_client(&service, "u1");
    let options = psync_core::client::SyncOptions {
        use_bson: true,
        ..fast_options()
    };
    c.client
        .connect(c.connector.clone(), options)
        .await
        .expect("connect");
    tokio::time::timeout(T, c.client.wait_for_first_sync(None))
        .await
        .expect("in time")
        .expect("sync");
    assert_eq!(text_rows(&c.db, "SELECT name FROM lists"), vec!["bson"]);
    c.client.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_reruns_queries_on_synced_and_local_changes() {
    use futures_util::StreamExt;
    let service = TestService::start().await.expect("service");
    let c = connected(&service, "u1").await;
    let mut stream = Box::pin(
        c.client
            .watch("SELECT count(*) FROM lists", vec![])
            .expect("watch"),
    );
    let first = stream.next().await.expect("item").expect("rows");
    assert_eq!(first[0].get(0).and_then(Value::as_i64), Some(0));
    service
        .source()
        .execute(
            "INSERT INTO lists(id, name, owner_id) VALUES ('l1', 'x', 'u1')",
            [],
        )
        .expect("server write");
    let next = tokio::time::timeout(T, stream.next())
        .await
        .expect("in time")
        .expect("item")
        .expect("rows");
    assert_eq!(next[0].get(0).and_then(Value::as_i64), Some(1));
    let mut changes = Box::pin(c.client.on_change(&["todos"]));
    insert_todo(&c.db, "u1", "x");
    let changed = tokio::time::timeout(T, changes.next())
        .await
        .expect("in time")
        .expect("change");
    assert!(changed.contains("todos"));
    c.client.close().await.expect("close");
}
