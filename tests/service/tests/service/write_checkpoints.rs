// SPDX-License-Identifier: Apache-2.0
//! Write-checkpoint visibility in the stream (§9).

use crate::common;

use common::*;
use psync_test_service::TestService;
use serde_json::{Value, json};

async fn request(svc: &TestService, token: &str, client: &str, id: &str) -> Value {
    let body = json!({"client_id": client, "checkpoint_request_id": id});
    let (status, response) = post(svc, "/sync/checkpoint-request", Some(token), &body).await;
    assert_eq!(status, 200);
    response["data"]["checkpoint_request_id"].clone()
}

#[tokio::test]
async fn idle_source_reports_the_request_id_in_a_diff() {
    let svc = TestService::start().await.expect("start");
    let token = svc.mint_token("u1");
    let mut lines = open_stream(&svc, &token, &stream_body("c1")).await;
    lines.until("checkpoint_complete").await;
    assert_eq!(request(&svc, &token, "c1", "1").await, json!("1"));
    let seen = lines.until("checkpoint_complete").await;
    let diff = &seen[0]["checkpoint_diff"];
    assert_eq!(diff["write_checkpoint"], json!("1"));
    assert_eq!(diff["updated_buckets"], json!([]));
    assert_eq!(diff["removed_buckets"], json!([]));
    // Another client of the same user sees nothing of it.
    let mut other = open_stream(&svc, &token, &stream_body("c2")).await;
    let first = other.next().await.expect("checkpoint");
    assert!(first["checkpoint"].get("write_checkpoint").is_none());
}

#[tokio::test]
async fn id_appears_only_after_the_upload_is_replicated() {
    let svc = TestService::start().await.expect("start");
    let token = svc.mint_token("u1");
    assert_eq!(request(&svc, &token, "c1", "1").await, json!("1"));
    let mut lines = open_stream(&svc, &token, &stream_body("c1")).await;
    let seen = lines.until("checkpoint_complete").await;
    assert_eq!(seen[0]["checkpoint"]["write_checkpoint"], json!("1"));

    svc.set_replication_paused(true);
    let (status, _) = upload(
        &svc,
        &token,
        json!([
            {"op": "PUT", "type": "lists", "id": "l1", "data": {"name": "n", "owner_id": "u1"}}
        ]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(request(&svc, &token, "c1", "2").await, json!("2"));
    // Newer id with a newer head: the old id is no longer reported either.
    let seen = lines.until("checkpoint_complete").await;
    let diff = &seen[0]["checkpoint_diff"];
    assert!(diff.get("write_checkpoint").is_none(), "{diff}");
    assert!(
        lines
            .next_within(std::time::Duration::from_millis(200))
            .await
            .is_none()
    );

    svc.set_replication_paused(false);
    let seen = lines.until("checkpoint_complete").await;
    let diff = &seen[0]["checkpoint_diff"];
    assert_eq!(diff["write_checkpoint"], json!("2"));
    assert_eq!(
        diff["updated_buckets"][0]["bucket"],
        json!("1#user_lists[\"u1\"]")
    );
    assert_eq!(key(&seen[1]), "data");
    assert!(
        diff["last_op_id"]
            .as_str()
            .expect("op id")
            .parse::<i64>()
            .expect("int")
            >= 1
    );
}

#[tokio::test]
async fn forgetting_records_withdraws_the_id_and_reposting_restores_it() {
    let svc = TestService::start().await.expect("start");
    let token = svc.mint_token("u1");
    request(&svc, &token, "c1", "5").await;
    let mut lines = open_stream(&svc, &token, &stream_body("c1")).await;
    let seen = lines.until("checkpoint_complete").await;
    assert_eq!(seen[0]["checkpoint"]["write_checkpoint"], json!("5"));
    let (status, _) = post(
        &svc,
        "/admin/faults",
        None,
        &json!({"client_id": "c1", "forget_checkpoint_requests": true}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(svc.write_checkpoint("u1", "c1").is_none());
    let seen = lines.until("checkpoint_complete").await;
    assert!(seen[0]["checkpoint_diff"].get("write_checkpoint").is_none());
    assert_eq!(request(&svc, &token, "c1", "5").await, json!("5"));
    let seen = lines.until("checkpoint_complete").await;
    assert_eq!(seen[0]["checkpoint_diff"]["write_checkpoint"], json!("5"));
}

#[tokio::test]
async fn stale_and_retried_requests_keep_the_original_head() {
    let svc = TestService::start().await.expect("start");
    let token = svc.mint_token("u1");
    request(&svc, &token, "c1", "10").await;
    let head = svc
        .write_checkpoint("u1", "c1")
        .expect("record")
        .source_position;
    upload(
        &svc,
        &token,
        json!([{"op": "PUT", "type": "lists", "id": "l1", "data": {}}]),
    )
    .await;
    assert_eq!(request(&svc, &token, "c1", "10").await, json!("10"));
    assert_eq!(request(&svc, &token, "c1", "4").await, json!("10"));
    assert_eq!(
        svc.write_checkpoint("u1", "c1")
            .expect("record")
            .source_position,
        head
    );
    assert_eq!(request(&svc, &token, "c1", "11").await, json!("11"));
    assert!(
        svc.write_checkpoint("u1", "c1")
            .expect("record")
            .source_position
            > head
    );
}
