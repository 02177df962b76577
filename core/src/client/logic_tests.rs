// SPDX-License-Identifier: Apache-2.0
//! Client logic on an injected clock and HTTP client: retry delays, credential invalidation,
//! timeouts and upload retries, with no network and no real sleeping. (The e2e tests in
//! `tests/demo` run the same client against a real service over loopback.)

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::test_io::{Answer, CountingConnector, ManualClock, ScriptedHttp, client_with, header};
use super::transport::HttpRequest;
use super::{CheckpointError, CheckpointMode, SyncDatabase, SyncOptions};
use crate::Value;

/// Distinct from the other delays the client sleeps (1 s throttle, 60 s idle timeout), so a
/// test can tell which sleep is pending.
const RETRY: Duration = Duration::from_secs(7);

fn options(mode: CheckpointMode) -> SyncOptions {
    SyncOptions {
        retry_delay: RETRY,
        checkpoint_mode: mode,
        ..SyncOptions::default()
    }
}

/// A hang guard in real time; the tests themselves never wait on it.
async fn within_seconds<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .expect("the client did not get there")
}

/// Waits until the status satisfies `done`.
async fn until_status(db: &SyncDatabase, done: impl FnMut(&super::SyncStatus) -> bool) {
    let mut status = db.status_stream();
    status.wait_for(done).await.expect("status");
}

fn token(request: &HttpRequest) -> &str {
    header(request, "authorization").unwrap_or_default()
}

#[tokio::test]
async fn a_failed_iteration_is_retried_after_the_retry_delay() {
    let clock = ManualClock::new();
    let http = ScriptedHttp::new(|_| {
        Answer::Json(503, serde_json::json!({"error": {"code": "PSYNC_S2001"}}))
    });
    let db = client_with(&clock, &http);
    within_seconds(async {
        db.connect(CountingConnector::new(0), options(CheckpointMode::Legacy))
            .await
            .expect("connect");
        until_status(&db, |s| s.download_error.is_some()).await;
        let error = db.status().download_error.unwrap_or_default();
        assert!(error.contains("HTTP 503 PSYNC_S2001"), "{error}");
        clock.sleeping_for(RETRY).await;
        // Nothing retries before the delay passed.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(http.requests_to("/sync/stream").len(), 1);
        clock.advance(RETRY - Duration::from_millis(1));
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(http.requests_to("/sync/stream").len(), 1);
        clock.advance(Duration::from_millis(1));
        http.until_requests_to("/sync/stream", 2).await;
        db.close().await.expect("close");
    })
    .await;
}

#[tokio::test]
async fn a_401_invalidates_the_credentials_once_and_fetches_new_ones() {
    let clock = ManualClock::new();
    let http = ScriptedHttp::new(|request| match token(request) {
        "Token t1" => Answer::Json(401, serde_json::json!({})),
        _ => Answer::OpenStream(Vec::new()),
    });
    let db = client_with(&clock, &http);
    let connector = CountingConnector::new(0);
    within_seconds(async {
        db.connect(connector.clone(), options(CheckpointMode::Legacy))
            .await
            .expect("connect");
        clock.sleeping_for(RETRY).await;
        assert_eq!(connector.invalidations.load(Ordering::Acquire), 0);
        clock.advance(RETRY);
        http.until_requests_to("/sync/stream", 2).await;
        let tokens: Vec<String> = http
            .requests_to("/sync/stream")
            .iter()
            .map(|r| token(r).to_owned())
            .collect();
        assert_eq!(tokens, ["Token t1", "Token t2"]);
        assert_eq!(connector.invalidations.load(Ordering::Acquire), 1);
        assert_eq!(connector.fetches.load(Ordering::Acquire), 2);
        db.close().await.expect("close");
    })
    .await;
}

/// Accepts every checkpoint request id as posted; streams stay open without data.
fn accepting_service(request: &HttpRequest) -> Answer {
    if request.url.ends_with("/sync/checkpoint-request") {
        let body: serde_json::Value =
            serde_json::from_slice(request.body.as_deref().unwrap_or_default()).expect("json");
        let id = body["checkpoint_request_id"].clone();
        return Answer::Json(
            200,
            serde_json::json!({"data": {"checkpoint_request_id": id}}),
        );
    }
    if request.url.contains("/write-checkpoint2.json") {
        return Answer::Json(200, serde_json::json!({"data": {"write_checkpoint": "5"}}));
    }
    Answer::OpenStream(Vec::new())
}

#[tokio::test]
async fn a_checkpoint_wait_times_out_on_the_clients_clock() {
    let clock = ManualClock::new();
    let http = ScriptedHttp::new(accepting_service);
    let db = client_with(&clock, &http);
    within_seconds(async {
        db.connect(CountingConnector::new(0), options(CheckpointMode::Requests))
            .await
            .expect("connect");
        let request = db.request_checkpoint().await.expect("request");
        let timings = db.checkpoint_timings();
        assert_eq!(timings.posted_id, Some(request.id()));
        assert_eq!(timings.post_sent, timings.post_answered, "no time passed");
        let limit = Duration::from_secs(30);
        let wait = tokio::spawn(async move { request.wait_for_sync(Some(limit)).await });
        clock.sleeping_for(limit).await;
        clock.advance(limit);
        let outcome = wait.await.expect("wait task");
        assert_eq!(outcome, Err(CheckpointError::Timeout));
        db.close().await.expect("close");
    })
    .await;
}

#[tokio::test]
async fn a_failed_upload_is_retried_after_the_retry_delay() {
    let clock = ManualClock::new();
    let http = ScriptedHttp::new(accepting_service);
    let db = client_with(&clock, &http);
    db.database()
        .execute(
            "INSERT INTO items(id, col) VALUES (?, 'x')",
            &[Value::from("a")],
        )
        .expect("write");
    let connector = CountingConnector::new(1);
    within_seconds(async {
        db.connect(connector.clone(), options(CheckpointMode::Legacy))
            .await
            .expect("connect");
        until_status(&db, |s| s.upload_error.is_some()).await;
        clock.sleeping_for(RETRY).await;
        assert_eq!(connector.uploads.load(Ordering::Acquire), 1);
        clock.advance(RETRY);
        // The retry uploads the write, then asks for a write checkpoint for the apply gate.
        http.until_requests_to("/write-checkpoint2.json", 1).await;
        until_status(&db, |s| s.upload_error.is_none() && !s.uploading).await;
        assert_eq!(connector.uploads.load(Ordering::Acquire), 2);
        assert_eq!(db.upload_queue_stats().await.expect("stats").count, 0);
        db.close().await.expect("close");
    })
    .await;
}

#[tokio::test]
async fn a_throttled_watch_waits_on_the_clients_clock() {
    let clock = ManualClock::new();
    let http = ScriptedHttp::new(accepting_service);
    let db = client_with(&clock, &http);
    let throttle = Duration::from_secs(10);
    let mut watcher = db
        .watch("SELECT count(*) FROM items", Vec::new())
        .expect("watch")
        .throttle(throttle);
    let count = |rows: &[crate::Row]| rows[0].get(0).and_then(Value::as_i64);
    within_seconds(async {
        assert_eq!(count(&watcher.next().await.expect("rows")), Some(0));
        db.execute("INSERT INTO items(id, col) VALUES ('a', 'x')", Vec::new())
            .await
            .expect("write");
        let next = tokio::spawn(async move { watcher.next().await });
        clock.sleeping_for(throttle).await;
        assert!(!next.is_finished());
        clock.advance(throttle);
        let rows = next.await.expect("watch task").expect("rows");
        assert_eq!(count(&rows), Some(1));
    })
    .await;
}

#[tokio::test]
async fn a_401_on_a_checkpoint_request_is_unauthenticated_and_the_retry_uses_new_credentials() {
    let clock = ManualClock::new();
    let posts = std::sync::atomic::AtomicUsize::new(0);
    let http = ScriptedHttp::new(move |request| {
        // The second POST (the app's first request_checkpoint) is rejected.
        let is_post = request.url.ends_with("/sync/checkpoint-request");
        if is_post && posts.fetch_add(1, Ordering::AcqRel) == 1 {
            return Answer::Json(401, serde_json::json!({}));
        }
        accepting_service(request)
    });
    let db = client_with(&clock, &http);
    let connector = CountingConnector::new(0);
    within_seconds(async {
        db.connect(connector.clone(), options(CheckpointMode::Requests))
            .await
            .expect("connect");
        let rejected = db.request_checkpoint().await.expect_err("401");
        assert!(
            matches!(&rejected, CheckpointError::Unauthenticated(m) if m.contains("HTTP 401")),
            "{rejected:?}"
        );
        let accepted = db.request_checkpoint().await.expect("second request");
        let posted = http.requests_to("/sync/checkpoint-request");
        let tokens: Vec<&str> = posted.iter().map(token).collect();
        assert_eq!(tokens, ["Token t1", "Token t1", "Token t2"]);
        assert_eq!(connector.invalidations.load(Ordering::Acquire), 1);
        assert!(accepted.id() > 0);
        db.close().await.expect("close");
    })
    .await;
}
