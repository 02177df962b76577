// SPDX-License-Identifier: Apache-2.0
//! Helpers shared by the end-to-end test files.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use psync_core::Value;
use psync_core::client::{SyncDatabase, SyncOptions};
use psync_demo::{ServiceConnector, open_demo_database};
use psync_test_service::TestService;

pub const WAIT: Duration = Duration::from_secs(10);

pub fn fast_options() -> SyncOptions {
    SyncOptions {
        retry_delay: Duration::from_millis(100),
        crud_throttle: Duration::from_millis(10),
        ..SyncOptions::default()
    }
}

pub async fn connected(
    service: &TestService,
    user: &str,
    options: SyncOptions,
) -> (SyncDatabase, Arc<ServiceConnector>) {
    let db = open_demo_database(None).expect("open");
    let connector = Arc::new(ServiceConnector::new(service.url(), user));
    db.connect(connector.clone(), options)
        .await
        .expect("connect");
    (db, connector)
}

pub async fn first_sync(db: &SyncDatabase) {
    db.wait_for_first_sync(None, Some(WAIT))
        .await
        .expect("first sync in time");
}

pub async fn scalar(db: &SyncDatabase, sql: &str) -> Option<i64> {
    db.get_all(sql, vec![])
        .await
        .expect("query")
        .first()
        .and_then(|r| r.get(0))
        .and_then(Value::as_i64)
}

/// Waits until `condition` holds, failing after [`WAIT`] with `what` in the message.
pub async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn eventually(db: &SyncDatabase, sql: &str, expected: i64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let value = scalar(db, sql).await;
        if value == Some(expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{sql} stayed {value:?}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn client_id(db: &SyncDatabase) -> String {
    db.get_all("SELECT powersync_client_id()", vec![])
        .await
        .expect("client id")[0]
        .get(0)
        .and_then(Value::as_str)
        .expect("text")
        .to_owned()
}

pub fn backend_insert_list(service: &TestService, id: &str, owner: &str) {
    service
        .source()
        .execute(
            "INSERT INTO lists(id, name, owner_id) VALUES (?1, 'n', ?2)",
            [id, owner],
        )
        .expect("backend insert");
}

pub async fn local_insert_list(db: &SyncDatabase, id: &str, owner: &str) {
    db.execute(
        "INSERT INTO lists(id, name, owner_id) VALUES (?, 'local', ?)",
        vec![Value::Text(id.into()), Value::Text(owner.into())],
    )
    .await
    .expect("local insert");
}
pub mod proxy;
