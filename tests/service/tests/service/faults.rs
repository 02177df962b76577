// SPDX-License-Identifier: Apache-2.0
//! Every fault mode observed from a raw client.

use crate::common;

use common::*;
use psync_test_service::checksum;
use psync_test_service::{Faults, TestService};
use serde_json::json;
use std::time::{Duration, Instant};

async fn seeded() -> (TestService, String) {
    let svc = TestService::builder()
        .ops_per_data_line(1)
        .start()
        .await
        .expect("start");
    {
        let src = svc.source();
        for i in 0..5 {
            src.execute(
                "INSERT INTO lists(id, name, owner_id) VALUES (?, 'n', 'u1')",
                [format!("l{i}")],
            )
            .expect("insert");
        }
    }
    let token = svc.mint_token("u1");
    (svc, token)
}

#[tokio::test]
async fn drop_after_lines_truncates_the_stream() {
    let (svc, token) = seeded().await;
    svc.set_faults(
        Some("c1"),
        Faults {
            drop_after_lines: Some(2),
            ..Faults::default()
        },
    );
    let mut lines = open_stream(&svc, &token, &stream_body("c1")).await;
    assert!(lines.next().await.is_some());
    assert!(lines.next().await.is_some());
    assert!(lines.next().await.is_none());
    assert!(lines.errored, "connection must end abnormally");
    // Other clients are unaffected.
    let mut other = open_stream(&svc, &token, &stream_body("c2")).await;
    assert_eq!(other.until("checkpoint_complete").await.len(), 9);
}

#[tokio::test]
async fn drop_after_bytes_cuts_mid_line() {
    let (svc, token) = seeded().await;
    svc.set_faults(
        None,
        Faults {
            drop_after_bytes: Some(10),
            ..Faults::default()
        },
    );
    let mut lines = open_stream(&svc, &token, &stream_body("c1")).await;
    let bytes = lines.read_to_end(Duration::from_secs(5)).await;
    assert_eq!(bytes.len(), 10);
    assert!(lines.errored);
}

#[tokio::test]
async fn stall_sends_nothing_until_cleared() {
    let (svc, token) = seeded().await;
    let (status, _) = post(
        &svc,
        "/admin/faults",
        None,
        &json!({"faults": {"stall": true}}),
    )
    .await;
    assert_eq!(status, 200);
    let mut lines = open_stream(&svc, &token, &stream_body("c1")).await;
    assert!(
        lines
            .next_within(Duration::from_millis(300))
            .await
            .is_none()
    );
    assert!(!lines.ended);
    post(&svc, "/admin/faults", None, &json!({"clear": true})).await;
    assert!(
        lines
            .next()
            .await
            .expect("line")
            .get("checkpoint")
            .is_some()
    );
}

#[tokio::test]
async fn delay_slows_responses() {
    let (svc, token) = seeded().await;
    svc.set_faults(
        None,
        Faults {
            delay_ms: 1000,
            paths: Some(vec!["/sync/checkpoint-request".into()]),
            ..Faults::default()
        },
    );
    let started = Instant::now();
    let (status, _) = post(
        &svc,
        "/sync/checkpoint-request",
        Some(&token),
        &json!({"client_id": "c", "checkpoint_request_id": "1"}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(1000));
    let started = Instant::now();
    open_stream(&svc, &token, &stream_body("c1")).await;
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "other paths are not delayed"
    );
}

#[tokio::test]
async fn forced_statuses_500_503_401() {
    let (svc, token) = seeded().await;
    for (status, code) in [
        (500, "PSYNC_S2001"),
        (503, "PSYNC_S2003"),
        (401, "PSYNC_S2101"),
    ] {
        svc.set_faults(
            Some("c1"),
            Faults {
                status: Some(status),
                ..Faults::default()
            },
        );
        let (got, body) = post(&svc, "/sync/stream", Some(&token), &stream_body("c1")).await;
        assert_eq!(got, status);
        assert_eq!(body["error"]["code"], json!(code));
        assert_eq!(body["error"]["status"], json!(status));
    }
    svc.clear_faults();
    open_stream(&svc, &token, &stream_body("c1")).await;
}

#[tokio::test]
async fn times_makes_a_fault_fire_once() {
    let (svc, token) = seeded().await;
    let (status, _) = post(
        &svc,
        "/admin/faults",
        None,
        &json!({"client_id": "c1", "faults": {"status": 503, "times": 1}}),
    )
    .await;
    assert_eq!(status, 200);
    let (first, _) = post(&svc, "/sync/stream", Some(&token), &stream_body("c1")).await;
    assert_eq!(first, 503);
    open_stream(&svc, &token, &stream_body("c1")).await;
}

#[tokio::test]
async fn corrupt_checksums_break_bucket_sums() {
    let (svc, token) = seeded().await;
    svc.set_faults(
        None,
        Faults {
            corrupt_checksums: true,
            ..Faults::default()
        },
    );
    let mut lines = open_stream(&svc, &token, &stream_body("c1")).await;
    let seen = lines.until("checkpoint_complete").await;
    let mut sum = 0u32;
    for line in &seen {
        if let Some(ops) = line.get("data").and_then(|d| d["data"].as_array()) {
            for op in ops {
                sum = checksum::add(
                    sum,
                    u32::try_from(op["checksum"].as_u64().expect("u32")).expect("u32"),
                );
            }
        }
    }
    let bucket = &seen[0]["checkpoint"]["buckets"][1];
    assert_eq!(bucket["bucket"], json!("1#user_lists[\"u1\"]"));
    assert_ne!(bucket["checksum"], json!(checksum::js_signed(sum)));
    assert_eq!(
        bucket["checksum"],
        json!(checksum::js_signed(sum.wrapping_add(1)))
    );
}

#[tokio::test]
async fn checkpoint_request_404_like_an_old_service() {
    let (svc, token) = seeded().await;
    svc.set_faults(
        None,
        Faults {
            checkpoint_request_not_found: true,
            ..Faults::default()
        },
    );
    let (status, body) = post(
        &svc,
        "/sync/checkpoint-request",
        Some(&token),
        &json!({"client_id": "c", "checkpoint_request_id": "1"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("PSYNC_S2002"))
    );
}

#[tokio::test]
async fn runtime_fault_drops_a_connected_stream() {
    let (svc, token) = seeded().await;
    let mut lines = open_stream(&svc, &token, &stream_body("c1")).await;
    lines.until("checkpoint_complete").await;
    post(
        &svc,
        "/admin/faults",
        None,
        &json!({"client_id": "c1", "faults": {"drop_after_lines": 0}}),
    )
    .await;
    svc.source()
        .execute("INSERT INTO lists(id, owner_id) VALUES ('new', 'u1')", [])
        .expect("insert");
    assert!(lines.next().await.is_none());
    assert!(lines.errored);
}

#[tokio::test]
async fn token_expiry_sends_keepalives_then_zero_and_ends() {
    let svc = TestService::builder()
        .keepalive_interval(Duration::from_millis(300))
        .start()
        .await
        .expect("start");
    let token = svc.mint_token_expiring_in("u1", Duration::from_secs(2));
    let mut lines = open_stream(&svc, &token, &stream_body("c1")).await;
    lines.until("checkpoint_complete").await;
    let mut values = Vec::new();
    while let Some(line) = lines.next().await {
        values.push(
            line["token_expires_in"]
                .as_i64()
                .expect("token_expires_in line"),
        );
    }
    assert!(values.len() >= 2, "{values:?}");
    assert_eq!(values.last(), Some(&0));
    assert!(
        values[..values.len() - 1]
            .iter()
            .all(|v| (1..=2).contains(v)),
        "{values:?}"
    );
    assert!(lines.ended && !lines.errored);
}

#[tokio::test]
async fn expiry_warning_goes_out_once_before_expiry() {
    let svc = TestService::builder()
        .expire_warning_period(Duration::from_secs(2))
        .start()
        .await
        .expect("start");
    let token = svc.mint_token_expiring_in("u1", Duration::from_secs(4));
    let mut lines = open_stream(&svc, &token, &stream_body("c1")).await;
    lines.until("checkpoint_complete").await;
    let started = Instant::now();
    let warning = lines
        .next_within(Duration::from_secs(5))
        .await
        .expect("warning");
    let value = warning["token_expires_in"]
        .as_i64()
        .expect("token_expires_in");
    assert!((1..=2).contains(&value), "{value}");
    assert!(started.elapsed() >= Duration::from_millis(800));
    let last = lines
        .next_within(Duration::from_secs(5))
        .await
        .expect("expiry");
    assert_eq!(last, json!({"token_expires_in": 0}));
    assert!(lines.next().await.is_none());
}
