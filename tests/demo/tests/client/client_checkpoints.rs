// SPDX-License-Identifier: Apache-2.0
//! End-to-end tests of `request_checkpoint` and its waiters against the embedded test
//! service (client-state-machine.md §9, scenarios K and L).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use psync_core::Value;
use psync_core::client::{CheckpointError, SyncOptions};
use psync_demo::{ServiceConnector, open_demo_database};
use psync_test_service::{Faults, TestService};

use crate::common;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_write_uploads_then_checkpoint_request_converges() {
    let service = TestService::start().await.expect("service");
    let (db, connector) = connected(&service, "u1", fast_options()).await;
    first_sync(&db).await;
    local_insert_list(&db, "l1", "u1").await;
    eventually(&db, "SELECT count(*) FROM ps_crud", 0).await;
    // The queue empties inside the upload, just before the connector counts it.
    until("the upload to be counted", || {
        connector.uploaded.load(Ordering::SeqCst) >= 1
    })
    .await;
    let backend: i64 = service
        .source()
        .query_row("SELECT count(*) FROM lists WHERE id = 'l1'", [], |r| {
            r.get(0)
        })
        .expect("backend");
    assert_eq!(backend, 1);
    let request = db.request_checkpoint().await.expect("request");
    request.wait_for_sync(Some(WAIT)).await.expect("synced");
    assert!(request.is_synced());
    assert!(db.status().last_applied_checkpoint_request_id >= Some(request.id()));
    // The row came back from the service and the gate is open (no pending target).
    eventually(&db, "SELECT count(*) FROM ps_oplog WHERE row_id = 'l1'", 1).await;
    assert!(db.status().upload_error.is_none());
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_checkpoint_without_connect_is_not_connected() {
    let db = open_demo_database(None).expect("open");
    let error = db.request_checkpoint().await.expect_err("not connected");
    assert_eq!(error, CheckpointError::NotConnected);
    db.close().await.expect("close");
    assert_eq!(
        db.request_checkpoint().await.expect_err("closed"),
        CheckpointError::Closed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_requests_404_fall_back_to_legacy_uploads() {
    let service = TestService::start().await.expect("service");
    service.set_faults(
        None,
        Faults {
            checkpoint_request_not_found: true,
            ..Faults::default()
        },
    );
    let (db, _) = connected(&service, "u1", fast_options()).await;
    first_sync(&db).await;
    assert!(db.status().checkpoint_requests_unsupported);
    assert_eq!(
        db.request_checkpoint().await.expect_err("unsupported"),
        CheckpointError::NotSupported
    );
    // Uploads still close the gate with a legacy write checkpoint, and the gate reopens.
    local_insert_list(&db, "l1", "u1").await;
    eventually(&db, "SELECT count(*) FROM ps_crud", 0).await;
    let id = client_id(&db).await;
    until("no legacy write checkpoint", || {
        service.write_checkpoint("u1", &id).is_some()
    })
    .await;
    backend_insert_list(&service, "after", "u1");
    eventually(&db, "SELECT count(*) FROM lists WHERE id = 'after'", 1).await;
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoint_request_401_is_unauthenticated_and_invalidates() {
    let service = TestService::start().await.expect("service");
    let (db, connector) = connected(&service, "u1", fast_options()).await;
    first_sync(&db).await;
    service.set_faults(
        None,
        Faults {
            status: Some(401),
            paths: Some(vec!["/sync/checkpoint-request".into()]),
            times: Some(1),
            ..Faults::default()
        },
    );
    let error = db.request_checkpoint().await.expect_err("401");
    assert!(
        matches!(error, CheckpointError::Unauthenticated(_)),
        "{error:?}"
    );
    assert!(!error.to_string().contains("eyJ"), "token leaked: {error}");
    // The next request fetches credentials again and succeeds.
    let fetches = connector.fetches.load(Ordering::SeqCst);
    let request = db.request_checkpoint().await.expect("second request");
    assert!(connector.fetches.load(Ordering::SeqCst) > fetches);
    assert!(connector.invalidations.load(Ordering::SeqCst) >= 1);
    request.wait_for_sync(Some(WAIT)).await.expect("synced");
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_sync_times_out_while_replication_lags_then_succeeds() {
    let service = TestService::start().await.expect("service");
    let (db, _) = connected(&service, "u1", fast_options()).await;
    first_sync(&db).await;
    service.set_replication_paused(true);
    // Replication lag only matters once the source has changes waiting.
    backend_insert_list(&service, "lagging", "u1");
    let request = db.request_checkpoint().await.expect("request");
    assert_eq!(
        request
            .wait_for_sync(Some(Duration::from_millis(300)))
            .await
            .expect_err("lagging"),
        CheckpointError::Timeout
    );
    assert_eq!(
        request
            .wait_for_sync(Some(Duration::ZERO))
            .await
            .expect_err("zero"),
        CheckpointError::Timeout
    );
    service.set_replication_paused(false);
    request
        .wait_for_sync(Some(WAIT))
        .await
        .expect("synced after resume");
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_fail_on_disconnect_and_close() {
    let service = TestService::start().await.expect("service");
    let (db, _) = connected(&service, "u1", fast_options()).await;
    first_sync(&db).await;
    service.set_replication_paused(true);
    // Replication lag only matters once the source has changes waiting.
    backend_insert_list(&service, "lagging", "u1");
    let request = db.request_checkpoint().await.expect("request");
    let waiter = pending("the lagging checkpoint", request.wait_for_sync(None));
    db.disconnect().await.expect("disconnect");
    assert_eq!(waiter.await, Err(CheckpointError::NotConnected));

    db.connect(
        Arc::new(ServiceConnector::new(service.url(), "u1")),
        fast_options(),
    )
    .await
    .expect("reconnect");
    first_sync(&db).await;
    let request = db.request_checkpoint().await.expect("request");
    let waiter = pending("the next checkpoint", request.wait_for_sync(None));
    db.close().await.expect("close");
    assert_eq!(waiter.await, Err(CheckpointError::Closed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_and_clear_then_reconnect_rehydrates_the_counter() {
    let service = TestService::start().await.expect("service");
    backend_insert_list(&service, "l1", "u1");
    let (db, connector) = connected(&service, "u1", fast_options()).await;
    first_sync(&db).await;
    let first = db.request_checkpoint().await.expect("request");
    first.wait_for_sync(Some(WAIT)).await.expect("synced");
    let second = db.request_checkpoint().await.expect("request");
    second.wait_for_sync(Some(WAIT)).await.expect("synced");
    db.disconnect_and_clear(psync_core::client::ClearOptions::default())
        .await
        .expect("clear");
    assert_eq!(scalar(&db, "SELECT count(*) FROM lists").await, Some(0));
    assert_eq!(db.status().has_synced, Some(false));
    db.connect(connector, fast_options())
        .await
        .expect("reconnect");
    first_sync(&db).await;
    let third = db.request_checkpoint().await.expect("request");
    assert!(
        third.id() > second.id(),
        "{} <= {}",
        third.id(),
        second.id()
    );
    third.wait_for_sync(Some(WAIT)).await.expect("synced");
    assert_eq!(scalar(&db, "SELECT count(*) FROM lists").await, Some(1));
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checkpoint_requests_get_distinct_ids_and_all_resolve() {
    let service = TestService::start().await.expect("service");
    let (db, _) = connected(&service, "u1", fast_options()).await;
    first_sync(&db).await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let request = db.request_checkpoint().await.expect("request");
            request.wait_for_sync(Some(WAIT)).await.expect("synced");
            request.id()
        }));
    }
    let mut ids = BTreeSet::new();
    for task in tasks {
        ids.insert(task.await.expect("join"));
    }
    assert_eq!(ids.len(), 10, "{ids:?}");
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_concurrent_requests_do_not_strand_the_others() {
    let service = TestService::start().await.expect("service");
    let (db, _) = connected(&service, "u1", fast_options()).await;
    first_sync(&db).await;
    // Ids are allocated in groups by whichever caller arrives first; abort every other caller
    // (possibly the allocating one) right away: the rest must still get distinct ids.
    let mut kept = Vec::new();
    for i in 0..60 {
        let db = db.clone();
        let task = tokio::spawn(async move {
            let request = db.request_checkpoint().await.expect("request");
            request.wait_for_sync(Some(WAIT)).await.expect("synced");
            request.id()
        });
        if i % 2 == 0 {
            task.abort();
        } else {
            kept.push(task);
        }
    }
    let mut ids = BTreeSet::new();
    for task in kept {
        ids.insert(
            tokio::time::timeout(WAIT, task)
                .await
                .expect("resolved in time")
                .expect("join"),
        );
    }
    assert_eq!(ids.len(), 30, "{ids:?}");
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_upload_sets_upload_error_then_retry_clears_it_and_releases_the_request() {
    let service = TestService::start().await.expect("service");
    let db = open_demo_database(None).expect("open");
    let connector = Arc::new(ServiceConnector::new(service.url(), "u1"));
    connector.fail_uploads.store(usize::MAX, Ordering::SeqCst);
    db.connect(
        connector.clone(),
        SyncOptions {
            retry_delay: Duration::from_millis(200),
            ..fast_options()
        },
    )
    .await
    .expect("connect");
    first_sync(&db).await;
    local_insert_list(&db, "pending", "u1").await;
    until("upload error never shown", || {
        db.status().upload_error.is_some()
    })
    .await;
    // Scenario 131: an explicit request does not pass the gate while writes are pending.
    let request = db.request_checkpoint().await.expect("request");
    let waited = request
        .wait_for_sync(Some(Duration::from_millis(300)))
        .await;
    assert!(waited.is_err(), "synced despite pending upload: {waited:?}");
    assert!(!request.is_synced());
    connector.fail_uploads.store(0, Ordering::SeqCst);
    eventually(&db, "SELECT count(*) FROM ps_crud", 0).await;
    until("request never synced after upload", || request.is_synced()).await;
    until("upload error never cleared", || {
        db.status().upload_error.is_none()
    })
    .await;
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_fails_fast_on_error_and_latches_after_disconnect() {
    let service = TestService::start().await.expect("service");
    let (db, connector) = connected(&service, "u1", fast_options()).await;
    first_sync(&db).await;
    let request = db.request_checkpoint().await.expect("request");
    request.wait_for_sync(Some(WAIT)).await.expect("synced");
    db.disconnect().await.expect("disconnect");
    // Scenario 130: latched.
    assert!(request.is_synced());
    request
        .wait_for_sync(Some(Duration::ZERO))
        .await
        .expect("still synced");

    // Scenario 127: an upload error present when waiting starts fails the wait at once.
    connector.fail_uploads.store(usize::MAX, Ordering::SeqCst);
    db.connect(connector.clone(), fast_options())
        .await
        .expect("reconnect");
    local_insert_list(&db, "x", "u1").await;
    let pending = db.request_checkpoint().await.expect("request");
    until("upload error never shown", || {
        db.status().upload_error.is_some()
    })
    .await;
    let error = pending.wait_for_sync(Some(WAIT)).await.expect_err("error");
    assert!(matches!(error, CheckpointError::SyncError(_)), "{error:?}");
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_during_retry_wait_resolves_after_reconnect() {
    let service = TestService::start().await.expect("service");
    let (db, _) = connected(
        &service,
        "u1",
        SyncOptions {
            retry_delay: Duration::from_millis(300),
            ..fast_options()
        },
    )
    .await;
    first_sync(&db).await;
    // Every request fails until cleared: the driver sits in retry waits.
    service.set_faults(
        None,
        Faults {
            status: Some(503),
            paths: Some(vec![
                "/sync/stream".into(),
                "/sync/checkpoint-request".into(),
            ]),
            drop_after_lines: Some(0),
            ..Faults::default()
        },
    );
    // A change makes the service send a line, which breaks the live stream.
    backend_insert_list(&service, "breaker", "u1");
    until("never disconnected", || !db.status().connected).await;
    let failed_iterations = Arc::new(AtomicUsize::new(0));
    let failures = Arc::clone(&failed_iterations);
    db.set_logger(Some(Arc::new(move |_, line: &str| {
        if line.starts_with("sync iteration failed") {
            failures.fetch_add(1, Ordering::SeqCst);
        }
    })));
    let pending = {
        let db = db.clone();
        tokio::spawn(async move { db.request_checkpoint().await })
    };
    // Two more failed iterations (no seed) after the request was made: long enough for a
    // request that does not wait for the seed to have finished.
    let seen = failed_iterations.load(Ordering::SeqCst);
    until("two more failed sync iterations", || {
        failed_iterations.load(Ordering::SeqCst) >= seen + 2
    })
    .await;
    assert!(!pending.is_finished(), "request did not wait for the seed");
    service.clear_faults();
    let request = tokio::time::timeout(WAIT, pending)
        .await
        .expect("in time")
        .expect("join")
        .expect("request after reconnect");
    until("never synced", || request.is_synced()).await;
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_side_ids_win_over_a_stale_local_counter() {
    // Scenarios 113/115: a second install with the same client id starts below the service.
    let service = TestService::start().await.expect("service");
    let (a, _) = connected(&service, "u1", fast_options()).await;
    first_sync(&a).await;
    let mut last = 0;
    for _ in 0..3 {
        last = a.request_checkpoint().await.expect("request").id();
    }
    let shared_id = client_id(&a).await;
    let b = open_demo_database(None).expect("open");
    b.execute(
        "UPDATE ps_kv SET value = ? WHERE key = 'client_id'",
        vec![Value::Text(shared_id.clone())],
    )
    .await
    .expect("same client id");
    assert_eq!(client_id(&b).await, shared_id);
    b.connect(
        Arc::new(ServiceConnector::new(service.url(), "u1")),
        fast_options(),
    )
    .await
    .expect("connect b");
    first_sync(&b).await;
    let from_b = b.request_checkpoint().await.expect("request b");
    assert_eq!(from_b.id(), last + 1, "seeded from the service's answer");
    // A moves the service ahead again; B's next id is stale, re-seeds and re-posts once.
    for _ in 0..3 {
        last = a.request_checkpoint().await.expect("request").id();
    }
    let again = b.request_checkpoint().await.expect("request b");
    assert_eq!(
        again.id(),
        last + 1,
        "stale id re-allocated above the service's"
    );
    again.wait_for_sync(Some(WAIT)).await.expect("synced");
    a.close().await.expect("close");
    b.close().await.expect("close");
}
