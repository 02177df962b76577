// SPDX-License-Identifier: Apache-2.0
//! Scenarios K.99/K.100: what the stream request looks like on the wire, captured by a bare
//! TCP listener.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use psync_core::client::{CheckpointMode, SyncDatabase, SyncOptions};
use psync_demo::open_demo_database;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::common;
use common::{FixedCredentials, WAIT, download_error, eventually, local_insert_list};

/// Reads one HTTP request (headers + content-length body).
async fn read_request(socket: &mut tokio::net::TcpStream) -> (String, String) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await.expect("read");
        assert!(n > 0, "connection closed early");
        buffer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buffer).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = text[..end].to_owned();
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                let body = String::from_utf8_lossy(&buffer[end + 4..end + 4 + length]).to_string();
                return (head, body);
            }
        }
    }
}

/// Connects with `options` to a bare listener and returns the head and body of the first
/// request, answering it with a 503; `db` is left connected.
async fn capture_stream_request(
    db: &SyncDatabase,
    options: SyncOptions,
) -> (String, String, tokio::net::TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    db.connect(Arc::new(FixedCredentials(endpoint)), options)
        .await
        .expect("connect");
    let (mut socket, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("request in time")
        .expect("accept");
    let (head, body) = read_request(&mut socket).await;
    (head, body, socket)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_request_carries_token_user_agent_parameters_and_metadata() {
    let db = open_demo_database(None).expect("open");
    let options = SyncOptions {
        checkpoint_mode: CheckpointMode::Legacy,
        params: Some(serde_json::json!({"foo": "bar"})),
        app_metadata: Some(BTreeMap::from([(
            "app_version".to_owned(),
            "1.0.0".to_owned(),
        )])),
        retry_delay: Duration::from_secs(60),
        ..SyncOptions::default()
    };
    let (head, body, mut socket) = capture_stream_request(&db, options).await;
    assert!(head.starts_with("POST /sync/stream "), "{head}");
    assert_eq!(header(&head, "authorization"), Some("Token test-token"));
    assert_eq!(header(&head, "content-type"), Some("application/json"));
    assert_eq!(header(&head, "accept"), Some("application/x-ndjson"));
    let user_agent = header(&head, "user-agent").unwrap_or_default();
    assert!(
        user_agent.starts_with("psync/") && user_agent.ends_with(" (rust)"),
        "{head}"
    );
    let json: serde_json::Value = serde_json::from_str(&body).expect("json body");
    assert_eq!(json["parameters"], serde_json::json!({"foo": "bar"}));
    assert_eq!(
        json["app_metadata"],
        serde_json::json!({"app_version": "1.0.0"})
    );
    assert!(json["client_id"].is_string(), "{json}");
    socket
        .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
        .await
        .expect("answer");
    let error = download_error(&db).await;
    assert!(
        error.contains("503") && !error.contains("test-token"),
        "{error}"
    );
    db.close().await.expect("close");
}

/// Issue 10: without client parameters the request carried `"parameters": null`, which the
/// real service refuses (400 `/parameters: type must be object`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_parameters_the_request_sends_an_empty_object_and_asks_for_bson_first() {
    let db = open_demo_database(None).expect("open");
    let options = SyncOptions {
        // Legacy: the first request is the stream (in requests mode it may be the seed POST).
        checkpoint_mode: CheckpointMode::Legacy,
        use_bson: true,
        client_language: "kotlin".into(),
        retry_delay: Duration::from_secs(60),
        ..SyncOptions::default()
    };
    let (head, body, _socket) = capture_stream_request(&db, options).await;
    let json: serde_json::Value = serde_json::from_str(&body).expect("json body");
    assert_eq!(json["parameters"], serde_json::json!({}), "{json}");
    assert_eq!(
        header(&head, "accept"),
        Some("application/vnd.powersync.bson-stream;q=0.9,application/x-ndjson;q=0.8")
    );
    assert!(
        header(&head, "user-agent").is_some_and(|ua| ua.ends_with(" (kotlin)")),
        "{head}"
    );
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_the_service_would_refuse_fail_connect() {
    let db = open_demo_database(None).expect("open");
    for options in [
        SyncOptions {
            params: Some(serde_json::json!(["not", "an", "object"])),
            ..SyncOptions::default()
        },
        SyncOptions {
            client_language: "rust\r\nX-Injected: 1".into(),
            ..SyncOptions::default()
        },
        SyncOptions {
            client_language: String::new(),
            ..SyncOptions::default()
        },
    ] {
        let connector = Arc::new(FixedCredentials("http://127.0.0.1:9".into()));
        let error = db.connect(connector, options).await.expect_err("refused");
        assert!(
            matches!(error.kind(), psync_core::ErrorKind::InvalidArgument(_)),
            "{error:?}"
        );
    }
    db.close().await.expect("close");
}

/// Every request the client makes, in both checkpoint modes and both formats, is accepted by
/// the test service, which validates bodies, headers and tokens like the real service (a 400
/// or 415 would surface as a download or upload error).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_requests_pass_the_validating_service_in_every_mode() {
    let service = psync_test_service::TestService::start()
        .await
        .expect("service");
    for (mode, use_bson) in [
        (CheckpointMode::Requests, false),
        (CheckpointMode::Legacy, false),
        (CheckpointMode::Requests, true),
        (CheckpointMode::Legacy, true),
    ] {
        let db = open_demo_database(None).expect("open");
        let connector = Arc::new(psync_demo::ServiceConnector::new(service.url(), "u1"));
        let options = SyncOptions {
            checkpoint_mode: mode,
            use_bson,
            retry_delay: Duration::from_millis(100),
            crud_throttle: Duration::from_millis(10),
            ..SyncOptions::default()
        };
        db.connect(connector, options).await.expect("connect");
        db.wait_for_first_sync(None, Some(Duration::from_secs(10)))
            .await
            .expect("first sync in time");
        let id = format!("shape-{mode:?}-{use_bson}");
        local_insert_list(&db, &id, "u1").await;
        if mode == CheckpointMode::Requests {
            let request = db.request_checkpoint().await.expect("request checkpoint");
            request
                .wait_for_sync(Some(Duration::from_secs(10)))
                .await
                .expect("synced");
        }
        // Uploaded, acknowledged by a write checkpoint and downloaded again.
        eventually(&db, "SELECT count(*) FROM ps_crud", 0).await;
        let synced_back = format!("SELECT count(*) FROM ps_oplog WHERE row_id = '{id}'");
        eventually(&db, &synced_back, 1).await;
        let status = db.status();
        assert!(
            status.download_error.is_none() && status.upload_error.is_none(),
            "{mode:?} bson={use_bson}: {status:?}"
        );
        db.close().await.expect("close");
    }
}
