// SPDX-License-Identifier: Apache-2.0
//! Scripted streams through the Rust API and the admin HTTP API.

use crate::common;

use common::*;
use psync_test_service::TestService;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test]
async fn script_takes_over_a_connected_stream() {
    let svc = TestService::start().await.expect("start");
    let token = svc.mint_token("u1");
    let mut lines = open_stream(&svc, &token, &stream_body("c1")).await;
    lines.until("checkpoint_complete").await;
    let script = svc.scripted("c1");
    let stream = script
        .next_connection(Duration::from_secs(5))
        .await
        .expect("taken over");
    assert_eq!(stream.request["client_id"], json!("c1"));
    assert_eq!(stream.user_id, "u1");
    let custom = json!({"checkpoint": {"last_op_id": "99", "buckets": []}});
    assert!(stream.send_line(&custom).await);
    assert_eq!(lines.next().await, Some(custom));
    // Source changes no longer reach this stream.
    svc.source()
        .execute("INSERT INTO announcements(id) VALUES ('a')", [])
        .expect("insert");
    assert!(stream.send_raw(&b"{\"broken\": "[..]).await);
    stream.close();
    let rest = lines.read_to_end(Duration::from_secs(5)).await;
    assert_eq!(rest, b"{\"broken\": ");
    assert!(lines.ended && !lines.errored);
}

#[tokio::test]
async fn scripted_new_connection_gets_the_request_body_and_can_abort() {
    let svc = TestService::start().await.expect("start");
    let token = svc.mint_token("u1");
    let script = svc.scripted("c2");
    let mut body = stream_body("c2");
    body["buckets"] = json!([{"name": "b", "after": "7"}]);
    let mut lines = open_stream(&svc, &token, &body).await;
    let stream = script
        .next_connection(Duration::from_secs(5))
        .await
        .expect("connection");
    assert_eq!(stream.request, body);
    assert!(stream.send_line(&json!({"token_expires_in": 5})).await);
    assert_eq!(lines.next().await, Some(json!({"token_expires_in": 5})));
    stream.abort().await;
    assert!(lines.next().await.is_none());
    assert!(lines.errored);
    script.release();
    let mut lines = open_stream(&svc, &token, &stream_body("c2")).await;
    assert!(
        lines
            .next()
            .await
            .expect("normal")
            .get("checkpoint")
            .is_some()
    );
}

#[tokio::test]
async fn admin_http_script_api() {
    let svc = TestService::start().await.expect("start");
    let token = svc.mint_token("u1");
    let (status, _) = post(&svc, "/admin/script", None, &json!({"client_id": "c3"})).await;
    assert_eq!(status, 200);
    let mut lines = open_stream(&svc, &token, &stream_body("c3")).await;
    let next: Value = client()
        .get(format!(
            "{}/admin/script/next?client_id=c3&timeout_ms=5000",
            svc.url()
        ))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(next["request"]["client_id"], json!("c3"));
    assert_eq!(next["format"], json!("application/x-ndjson"));
    let id = next["connection_id"].as_u64().expect("id");
    let line = json!({"checkpoint_complete": {"last_op_id": "1"}});
    let (status, sent) = post(
        &svc,
        &format!("/admin/script/{id}/send"),
        None,
        &json!({"lines": [line], "text": "garbage\n"}),
    )
    .await;
    assert_eq!((status, sent), (200, json!({"ok": true})));
    assert_eq!(lines.next().await, Some(line));
    let raw = lines.read_to_end(Duration::from_millis(200)).await;
    assert_eq!(raw, b"garbage\n");
    let (status, _) = post(&svc, &format!("/admin/script/{id}/close"), None, &json!({})).await;
    assert_eq!(status, 200);
    assert!(lines.read_to_end(Duration::from_secs(5)).await.is_empty());
    assert!(lines.ended);
    let response = client()
        .get(format!(
            "{}/admin/script/next?client_id=c3&timeout_ms=50",
            svc.url()
        ))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn admin_source_execute_replicates() {
    let svc = TestService::start().await.expect("start");
    let token = svc.mint_token("u1");
    let mut lines = open_stream(&svc, &token, &stream_body("c1")).await;
    lines.until("checkpoint_complete").await;
    let (status, body) = post(&svc, "/admin/source/execute", None,
        &json!({"sql": "INSERT INTO todos(id, description, owner_id) VALUES (?, ?, ?)", "params": ["t1", "d", "u1"]})).await;
    assert_eq!((status, body), (200, json!({"changed": 1})));
    let seen = lines.until("checkpoint_complete").await;
    assert_eq!(seen[1]["data"]["data"][0]["object_id"], json!("t1"));
    let (status, body) = post(
        &svc,
        "/admin/source/query",
        None,
        &json!({"sql": "SELECT id, description FROM todos"}),
    )
    .await;
    assert_eq!((status, body), (200, json!({"rows": [["t1", "d"]]})));
}

#[test]
fn background_service_works_without_an_async_test() {
    let svc = TestService::builder().start_background().expect("start");
    let token = svc.mint_token("u1");
    let script = svc.scripted("bg");
    let url = svc.url();
    let (first, request) = svc.block_on(async {
        let response = client()
            .post(format!("{url}/sync/stream"))
            .bearer_auth(&token)
            .json(&stream_body("bg"))
            .send()
            .await
            .expect("send");
        let mut lines = Lines::new(response);
        let stream = script
            .next_connection(Duration::from_secs(5))
            .await
            .expect("connection");
        stream.send_line(&json!({"token_expires_in": 1})).await;
        (lines.next().await, stream.request.clone())
    });
    assert_eq!(first, Some(json!({"token_expires_in": 1})));
    assert_eq!(request["client_id"], json!("bg"));
}
