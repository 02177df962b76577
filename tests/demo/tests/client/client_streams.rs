// SPDX-License-Identifier: Apache-2.0
//! Sync streams end to end against the test service's streams example: an auto-subscribed
//! stream, a parameterised one subscribed and unsubscribed (handle release + TTL, and
//! `unsubscribe_all`), per-stream status, priority waits, and the connect options that
//! shape the stream request (include_default_streams, client params).

use crate::common;

use std::time::Duration;

use psync_core::client::{SubscribeOptions, SyncOptions, WaitError};
use psync_demo::open_demo_database;
use psync_test_service::{SyncConfig, TestService};
use serde_json::json;

use common::{WAIT, connected, eventually, fast_options, first_sync, pending, scalar, until};

async fn streams_service() -> TestService {
    let service = TestService::builder()
        .config(SyncConfig::streams_example())
        .start()
        .await
        .expect("service");
    {
        let source = service.source();
        for sql in [
            "INSERT INTO announcements(id, title) VALUES ('a1', 'hello')",
            "INSERT INTO lists(id, name, owner_id) VALUES ('l1', 'one', 'u1'), ('l2', 'two', 'u1')",
            "INSERT INTO todos(id, list_id, description, owner_id) VALUES
               ('t1', 'l1', 'a', 'u1'), ('t2', 'l1', 'b', 'u1'), ('t3', 'l2', 'c', 'u1'),
               ('t4', 'l1', 'not mine', 'u2')",
        ] {
            source.execute(sql, []).expect("seed");
        }
    }
    service
}

const TODOS: &str = "SELECT count(*) FROM todos";

/// Waits until the wall clock (which the client reads too) is past `expires_at` (µs).
async fn until_past(what: &str, expires_at: i64) {
    until(format_args!("{what} runs out"), || {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        now.is_ok_and(|now| now.as_micros() > u128::try_from(expires_at).unwrap_or(0))
    })
    .await;
}

#[tokio::test]
async fn parameterised_stream_syncs_only_its_rows_and_leaves_after_unsubscribe() {
    let service = streams_service().await;
    let (db, _connector) = connected(&service, "u1", fast_options()).await;
    first_sync(&db).await;
    // The auto-subscribed stream and the bucket definition sync without subscribing.
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM announcements").await,
        Some(1)
    );
    assert_eq!(scalar(&db, "SELECT count(*) FROM lists").await, Some(2));
    assert_eq!(scalar(&db, TODOS).await, Some(0));
    let announcements = db.status().for_stream("announcements", None).cloned();
    let announcements = announcements.expect("default stream in status");
    assert!(announcements.is_default && announcements.active && announcements.has_synced());
    assert!(!announcements.has_explicit_subscription);

    let l1 = db
        .sync_stream("list_todos", Some(json!({"list_id": "l1"})))
        .expect("stream");
    let subscription = l1
        .subscribe(SubscribeOptions {
            ttl: Some(Duration::from_secs(1)),
            priority: None,
        })
        .await
        .expect("subscribe");
    subscription
        .wait_for_first_sync(Some(WAIT))
        .await
        .expect("stream synced");
    // Only u1's todos of l1: the row of another user and the other list stay on the server.
    assert_eq!(
        db.get_all("SELECT id FROM todos ORDER BY id", vec![])
            .await
            .expect("rows")
            .iter()
            .map(|r| r.get(0).and_then(|v| v.as_str()).unwrap_or("").to_owned())
            .collect::<Vec<_>>(),
        vec!["t1", "t2"]
    );
    let status = l1.status().expect("subscription in status");
    assert!(status.has_explicit_subscription && status.active && !status.is_default);
    assert!(status.last_synced_at.is_some() && status.expires_at.is_some());
    assert_eq!(status.parameters, Some(json!({"list_id": "l1"})));
    assert_eq!(status.priority, Some(3));

    // A second subscription with a priority override; then removed at once.
    let l2 = db
        .sync_stream("list_todos", Some(json!({"list_id": "l2"})))
        .expect("stream");
    let l2_subscription = l2
        .subscribe(SubscribeOptions {
            ttl: None,
            priority: Some(1),
        })
        .await
        .expect("subscribe l2");
    l2_subscription
        .wait_for_first_sync(Some(WAIT))
        .await
        .expect("l2 synced");
    assert_eq!(scalar(&db, TODOS).await, Some(3));
    assert_eq!(l2.status().and_then(|s| s.priority), Some(1));
    l2.unsubscribe_all().await.expect("unsubscribe all");
    eventually(&db, TODOS, 2).await;

    // Releasing the handle keeps the data until the TTL ran out; the subscription is
    // evicted at the next connect after that.
    subscription.unsubscribe();
    drop(subscription);
    // A checkpoint synced after the release: the data is still there.
    let checkpoint = db.request_checkpoint().await.expect("request");
    checkpoint.wait_for_sync(Some(WAIT)).await.expect("synced");
    assert_eq!(scalar(&db, TODOS).await, Some(2));
    let expires_at = l1.status().and_then(|s| s.expires_at).expect("a TTL");
    until_past("the released subscription's TTL", expires_at).await;
    db.disconnect().await.expect("disconnect");
    db.connect(_connector.clone(), fast_options())
        .await
        .expect("reconnect");
    eventually(&db, TODOS, 0).await;
    assert!(
        l1.status().is_none(),
        "expired subscription left the status"
    );
    db.close().await.expect("close");
}

#[tokio::test]
async fn subscribing_offline_syncs_on_connect_and_held_handles_survive_their_ttl() {
    let service = streams_service().await;
    let db = open_demo_database(None).expect("open");
    let stream = db
        .sync_stream("list_todos", Some(json!({"list_id": "l2"})))
        .expect("stream");
    let subscription = stream
        .subscribe(SubscribeOptions {
            ttl: Some(Duration::from_secs(1)),
            priority: None,
        })
        .await
        .expect("subscribe offline");
    let offline = stream
        .status()
        .expect("offline status lists the subscription");
    assert!(offline.has_explicit_subscription && !offline.active && !offline.has_synced());
    // Held past its TTL: a held stream's TTL is extended on every connect.
    until_past(
        "the held subscription's TTL",
        offline.expires_at.expect("a TTL"),
    )
    .await;
    let connector = std::sync::Arc::new(psync_demo::ServiceConnector::new(service.url(), "u1"));
    db.connect(connector, fast_options())
        .await
        .expect("connect");
    subscription
        .wait_for_first_sync(Some(WAIT))
        .await
        .expect("synced after connect");
    assert_eq!(scalar(&db, TODOS).await, Some(1));
    db.close().await.expect("close");
    assert_eq!(
        subscription.wait_for_first_sync(Some(WAIT)).await,
        Ok(()),
        "already synced stays synced"
    );
}

#[tokio::test]
async fn include_default_streams_off_syncs_only_explicit_subscriptions() {
    let service = streams_service().await;
    let options = SyncOptions {
        include_default_streams: false,
        ..fast_options()
    };
    let (db, _connector) = connected(&service, "u1", options).await;
    first_sync(&db).await;
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM announcements").await,
        Some(0)
    );
    assert_eq!(scalar(&db, "SELECT count(*) FROM lists").await, Some(0));
    let subscription = db
        .sync_stream("list_todos", Some(json!({"list_id": "l1"})))
        .expect("stream")
        .subscribe(SubscribeOptions::default())
        .await
        .expect("subscribe");
    subscription
        .wait_for_first_sync(Some(WAIT))
        .await
        .expect("synced");
    assert_eq!(scalar(&db, TODOS).await, Some(2));
    assert!(db.status().for_stream("announcements", None).is_none());
    db.close().await.expect("close");
}

#[tokio::test]
async fn client_params_reach_stream_filters() {
    let mut config = SyncConfig::streams_example();
    config.streams.push(
        serde_json::from_value(json!({
            "name": "named_lists", "table": "lists", "auto_subscribe": true,
            "where": [{"column": "name", "connection": "list_name"}]
        }))
        .expect("stream definition"),
    );
    config.buckets.clear();
    let service = TestService::builder()
        .config(config)
        .start()
        .await
        .expect("service");
    service
        .source()
        .execute(
            "INSERT INTO lists(id, name, owner_id) VALUES ('l1', 'one', 'u1'), ('l2', 'two', 'u1')",
            [],
        )
        .expect("seed");
    let options = SyncOptions {
        params: Some(json!({"list_name": "two"})),
        use_bson: true,
        app_metadata: Some([("app".to_owned(), "streams-test".to_owned())].into()),
        ..fast_options()
    };
    let (db, _connector) = connected(&service, "u1", options).await;
    first_sync(&db).await;
    assert_eq!(
        db.get_all("SELECT id FROM lists", vec![])
            .await
            .expect("rows")[0]
            .get(0),
        Some(&psync_core::Value::Text("l2".into()))
    );
    assert_eq!(scalar(&db, "SELECT count(*) FROM lists").await, Some(1));
    db.close().await.expect("close");
}

#[tokio::test]
async fn first_sync_waits_time_out_and_end_on_close() {
    let db = open_demo_database(None).expect("open");
    assert_eq!(
        db.wait_for_first_sync(Some(0), Some(Duration::from_millis(50)))
            .await,
        Err(WaitError::Timeout)
    );
    let waiting = pending("the first sync", db.wait_for_first_sync(None, None));
    db.close().await.expect("close");
    assert_eq!(waiting.await, Err(WaitError::Closed));
    assert!(db.sync_stream("", None).is_err());
    assert!(db.sync_stream("s", Some(json!([1]))).is_err());
}

#[tokio::test]
async fn priority_wait_resolves_before_the_full_sync() {
    let service = streams_service().await;
    let (db, _connector) = connected(&service, "u1", fast_options()).await;
    db.wait_for_first_sync(Some(0), Some(WAIT))
        .await
        .expect("priority 0 synced");
    assert!(db.status().status_for_priority(0).has_synced == Some(true));
    db.wait_for_first_sync(None, Some(WAIT))
        .await
        .expect("all synced");
    db.close().await.expect("close");
}
