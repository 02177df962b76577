// SPDX-License-Identifier: Apache-2.0
//! 100 concurrent streams while several clients upload.

use crate::common;

use common::*;
use psync_test_service::TestService;
use serde_json::json;
use std::time::{Duration, Instant};

const CLIENTS: usize = 100;
const USERS: usize = 10;
const UPLOADERS: usize = 5;
const UPLOADS_EACH: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_clients_stream_while_five_upload() {
    let started = Instant::now();
    let svc = TestService::start().await.expect("start");
    let mut readers = Vec::new();
    for i in 0..CLIENTS {
        let user = format!("u{}", i % USERS);
        let token = svc.mint_token(&user);
        let mut lines = open_stream(&svc, &token, &stream_body(&format!("c{i}"))).await;
        lines.until("checkpoint_complete").await;
        readers.push((user, lines));
    }
    let mut uploads = Vec::new();
    for u in 0..UPLOADERS {
        let url = svc.url();
        let token = svc.mint_token(&format!("u{u}"));
        uploads.push(tokio::spawn(async move {
            let client = client();
            for n in 0..UPLOADS_EACH {
                let batch = json!({"batch": [{"op": "PUT", "type": "todos", "id": format!("t{u}-{n}"),
                    "data": {"description": "x", "owner_id": format!("u{u}")}}]});
                let response = client.post(format!("{url}/api/data")).bearer_auth(&token).json(&batch).send().await.expect("upload");
                assert_eq!(response.status(), 200);
            }
        }));
    }
    for upload in uploads {
        upload.await.expect("uploader");
    }
    let mut checks = Vec::new();
    for (user, mut lines) in readers {
        checks.push(tokio::spawn(async move {
            let uploader: usize = user[1..].parse().expect("user index");
            if uploader >= UPLOADERS {
                assert!(
                    lines
                        .next_within(Duration::from_millis(100))
                        .await
                        .is_none()
                );
                return;
            }
            let mut ops = 0;
            while ops < UPLOADS_EACH {
                let line = lines.next().await.expect("diffs for every upload");
                if let Some(data) = line.get("data") {
                    assert_eq!(data["bucket"], json!(format!("1#user_todos[\"{user}\"]")));
                    ops += data["data"].as_array().map_or(0, Vec::len);
                }
            }
            assert_eq!(ops, UPLOADS_EACH);
        }));
    }
    for check in checks {
        check.await.expect("reader");
    }
    assert_eq!(svc.head(), (UPLOADERS * UPLOADS_EACH) as i64);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn change_reaches_a_connected_stream_promptly() {
    let svc = TestService::start().await.expect("start");
    let token = svc.mint_token("u1");
    let mut lines = open_stream(&svc, &token, &stream_body("c1")).await;
    lines.until("checkpoint_complete").await;
    let mut worst = Duration::ZERO;
    for i in 0..20 {
        let started = Instant::now();
        svc.source()
            .execute(
                "INSERT INTO lists(id, owner_id) VALUES (?, 'u1')",
                [format!("l{i}")],
            )
            .expect("insert");
        lines.until("checkpoint_complete").await;
        worst = worst.max(started.elapsed());
    }
    eprintln!("worst change-to-complete latency: {worst:?}");
    assert!(worst < Duration::from_millis(500), "{worst:?}");
}

#[tokio::test]
async fn initial_sync_of_ten_thousand_rows() {
    let svc = TestService::start().await.expect("start");
    {
        let mut src = svc.source();
        let tx = src.transaction().expect("tx");
        for i in 0..10_000 {
            tx.execute(
                "INSERT INTO todos(id, description, owner_id) VALUES (?, 'row', 'u1')",
                [format!("t{i}")],
            )
            .expect("insert");
        }
        tx.commit().expect("commit");
    }
    let token = svc.mint_token("u1");
    let started = Instant::now();
    let mut lines = open_stream(&svc, &token, &stream_body("c1")).await;
    let seen = lines.until("checkpoint_complete").await;
    let ops: usize = seen
        .iter()
        .filter_map(|l| l.get("data"))
        .map(|d| d["data"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(ops, 10_000);
    assert_eq!(
        seen.iter().filter(|l| l.get("data").is_some()).count(),
        10,
        "1000 ops per line"
    );
    eprintln!("initial sync of 10k ops: {:?}", started.elapsed());
}
