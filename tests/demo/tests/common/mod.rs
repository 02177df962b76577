// SPDX-License-Identifier: Apache-2.0
//! Helpers for the end-to-end tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use psync_core::client::{SyncClient, SyncOptions};
use psync_core::{Database, Value};
use psync_demo::{ServiceConnector, open_app_db};
use psync_test_service::TestService;

pub struct Client {
    pub dir: tempfile::TempDir,
    pub db: Database,
    pub client: SyncClient,
    pub connector: Arc<ServiceConnector>,
}

pub fn fast_options() -> SyncOptions {
    SyncOptions {
        retry_delay: Duration::from_millis(100),
        crud_throttle: Duration::from_millis(10),
        ..SyncOptions::default()
    }
}

pub fn new_client(service: &TestService, user: &str) -> Client {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = open_app_db(&dir.path().join("app.db")).expect("open db");
    let client = SyncClient::new(db.clone()).expect("client");
    let connector = ServiceConnector::new(&service.url(), user);
    Client {
        dir,
        db,
        client,
        connector,
    }
}

pub async fn connected(service: &TestService, user: &str) -> Client {
    let c = new_client(service, user);
    c.client
        .connect(c.connector.clone(), fast_options())
        .await
        .expect("connect");
    tokio::time::timeout(Duration::from_secs(10), c.client.wait_for_first_sync(None))
        .await
        .expect("first sync in time")
        .expect("first sync");
    c
}

pub fn count(db: &Database, sql: &str) -> i64 {
    db.get(sql, &[])
        .expect("query")
        .get(0)
        .and_then(Value::as_i64)
        .expect("integer")
}

pub fn text_rows(db: &Database, sql: &str) -> Vec<String> {
    db.get_all(sql, &[])
        .expect("query")
        .into_iter()
        .map(|r| r.get(0).and_then(Value::as_str).unwrap_or("").to_string())
        .collect()
}

pub fn kv(db: &Database, key: &str) -> Option<i64> {
    db.get_optional(
        "SELECT value FROM ps_kv WHERE key = ?",
        &[Value::Text(key.into())],
    )
    .expect("kv")
    .and_then(|r| r.get(0).cloned())
    .and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    })
}

pub async fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn server_count(service: &TestService, sql: &str) -> i64 {
    service
        .source()
        .query_row(sql, [], |r| r.get(0))
        .expect("server query")
}
