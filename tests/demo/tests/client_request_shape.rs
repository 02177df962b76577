// SPDX-License-Identifier: Apache-2.0
//! Scenarios K.99/K.100: what the stream request looks like on the wire, captured by a bare
//! TCP listener.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use psync_core::Result;
use psync_core::client::{
    BackendConnector, CheckpointMode, Credentials, SyncDatabase, SyncOptions,
};
use psync_demo::open_demo_database;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

struct FixedToken(String);

#[async_trait]
impl BackendConnector for FixedToken {
    async fn fetch_credentials(&self) -> Result<Option<Credentials>> {
        Ok(Some(Credentials {
            endpoint: self.0.clone(),
            token: "test-token".into(),
        }))
    }

    async fn upload_data(&self, _database: &SyncDatabase) -> Result<()> {
        Ok(())
    }
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_request_carries_token_user_agent_parameters_and_metadata() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
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
    db.connect(Arc::new(FixedToken(endpoint)), options)
        .await
        .expect("connect");
    let (mut socket, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .expect("request in time")
        .expect("accept");
    let (head, body) = read_request(&mut socket).await;
    let lower = head.to_ascii_lowercase();
    assert!(head.starts_with("POST /sync/stream "), "{head}");
    assert!(lower.contains("authorization: token test-token"), "{head}");
    assert!(lower.contains("user-agent: psync/"), "{head}");
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
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while db.status().download_error.is_none() {
        assert!(std::time::Instant::now() < deadline, "no download error");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let error = db.status().download_error.unwrap_or_default();
    assert!(
        error.contains("503") && !error.contains("test-token"),
        "{error}"
    );
    db.close().await.expect("close");
}
