// SPDX-License-Identifier: Apache-2.0
//! Sync-client tests against the embedded test service: setup, queries and waits on a
//! [`SyncDatabase`], and connector doubles.

mod connectors;

pub use connectors::{DiscardingUploads, EndpointConnector, FixedCredentials};

use std::sync::Arc;
use std::time::Duration;

use psync_core::Value;
use psync_core::client::{SyncDatabase, SyncOptions};
use psync_demo::{ServiceConnector, open_demo_database};
use psync_test_service::TestService;

use crate::wait::{WAIT, until_async, until_some};

/// Short retry and upload delays, so that tests recover from faults quickly.
pub fn fast_options() -> SyncOptions {
    SyncOptions {
        retry_delay: Duration::from_millis(100),
        crud_throttle: Duration::from_millis(10),
        ..SyncOptions::default()
    }
}

/// An in-memory demo database connected to `service` as `user`.
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

/// Waits for the first complete sync.
pub async fn first_sync(db: &SyncDatabase) {
    db.wait_for_first_sync(None, Some(WAIT))
        .await
        .expect("first sync in time");
}

/// The first column of the first row of `sql`, as an integer.
pub async fn scalar(db: &SyncDatabase, sql: &str) -> Option<i64> {
    db.get_all(sql, vec![])
        .await
        .expect("query")
        .first()
        .and_then(|r| r.get(0))
        .and_then(Value::as_i64)
}

/// Waits until `sql` returns `expected`.
pub async fn eventually(db: &SyncDatabase, sql: &str, expected: i64) {
    until_async(format_args!("{sql} = {expected}"), async || {
        scalar(db, sql).await == Some(expected)
    })
    .await;
}

/// The database's client id.
pub async fn client_id(db: &SyncDatabase) -> String {
    db.get_all("SELECT powersync_client_id()", vec![])
        .await
        .expect("client id")[0]
        .get(0)
        .and_then(Value::as_str)
        .expect("text")
        .to_owned()
}

/// Inserts a `lists` row into the service's source database.
pub fn backend_insert_list(service: &TestService, id: &str, owner: &str) {
    service
        .source()
        .execute(
            "INSERT INTO lists(id, name, owner_id) VALUES (?1, 'n', ?2)",
            [id, owner],
        )
        .expect("backend insert");
}

/// Inserts a `lists` row locally (queued for upload).
pub async fn local_insert_list(db: &SyncDatabase, id: &str, owner: &str) {
    db.execute(
        "INSERT INTO lists(id, name, owner_id) VALUES (?, 'local', ?)",
        vec![Value::Text(id.into()), Value::Text(owner.into())],
    )
    .await
    .expect("local insert");
}

/// Waits for the first download error in the status, and returns it.
pub async fn download_error(db: &SyncDatabase) -> String {
    until_some("a download error", || db.status().download_error).await
}
