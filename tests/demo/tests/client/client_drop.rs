// SPDX-License-Identifier: Apache-2.0
//! Dropping every `SyncDatabase` handle without `close()` stops the client: its background
//! tasks end, their connections close and nothing talks to the service any more.

use std::sync::Arc;

use psync_core::client::{BackendConnector, CheckpointError, Credentials, SyncDatabase};
use psync_demo::{ServiceConnector, open_demo_database};
use psync_test_service::TestService;

use crate::common;
use common::proxy::Proxy;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_handle_stops_every_task() {
    let service = TestService::start().await.expect("service");
    backend_insert_list(&service, "l1", "u1");
    // Plain TCP proxy: it counts the client's open connections.
    let proxy = Proxy::start(service.addr()).await.expect("proxy");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dropped.db");
    let db = open_demo_database(Some(&path)).expect("open");
    let service_connector = Arc::new(ServiceConnector::new(service.url(), "u1"));
    let connector = Arc::new(EndpointConnector {
        inner: Arc::clone(&service_connector),
        endpoint: proxy.url("http", "127.0.0.1"),
    });
    db.connect(connector.clone(), fast_options())
        .await
        .expect("connect");
    first_sync(&db).await;

    // A clone keeps the client running after the original handle is dropped.
    let clone = db.clone();
    drop(db);
    backend_insert_list(&service, "l2", "u1");
    eventually(&clone, "SELECT count(*) FROM lists WHERE id = 'l2'", 1).await;
    local_insert_list(&clone, "mine", "u1").await;
    eventually(&clone, "SELECT count(*) FROM ps_crud", 0).await;
    assert!(proxy.open_connections() >= 1);

    // A checkpoint that cannot complete (replication paused) is pending when the last handle
    // goes away.
    service.set_replication_paused(true);
    backend_insert_list(&service, "lagging", "u1");
    let request = clone.request_checkpoint().await.expect("request");
    let waiter = pending("the lagging checkpoint", request.wait_for_sync(Some(WAIT)));
    let status = clone.status_stream();

    drop(clone);

    assert_eq!(waiter.await, Err(CheckpointError::Closed));
    drop(request); // it refers to the client
    assert!(!status.borrow().connected);
    // The tasks ended: the session (which owns the connector and the HTTP client) is gone,
    // so the connector is referenced only here and the stream's connection is closed.
    until("the session still holds the connector", || {
        Arc::strong_count(&connector) == 1
    })
    .await;
    proxy.until_idle().await;
    let accepted = proxy.accepted();
    // And the client itself was freed: its database connections closed, which removes the
    // WAL file.
    let wal = dir.path().join("dropped.db-wal");
    until("the database connections close", || !wal.exists()).await;
    // No retries either: nothing connected again while the client went away, and once it is
    // gone nothing can (a retry needs the session's connector, referenced only here now).
    assert_eq!(proxy.accepted(), accepted);
}

/// Keeps the handle lent to `upload_data`.
struct KeepsLentHandle {
    inner: EndpointConnector,
    kept: parking_lot::Mutex<Option<SyncDatabase>>,
}

#[async_trait::async_trait]
impl BackendConnector for KeepsLentHandle {
    async fn fetch_credentials(&self) -> psync_core::Result<Option<Credentials>> {
        self.inner.fetch_credentials().await
    }

    async fn upload_data(&self, database: &SyncDatabase) -> psync_core::Result<()> {
        *self.kept.lock() = Some(database.clone());
        self.inner.upload_data(database).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_keeping_the_lent_handle_does_not_keep_syncing_alive() {
    let service = TestService::start().await.expect("service");
    let proxy = Proxy::start(service.addr()).await.expect("proxy");
    let db = open_demo_database(None).expect("open");
    let connector = Arc::new(KeepsLentHandle {
        inner: EndpointConnector {
            inner: Arc::new(ServiceConnector::new(service.url(), "u1")),
            endpoint: proxy.url("http", "127.0.0.1"),
        },
        kept: parking_lot::Mutex::new(None),
    });
    db.connect(connector.clone(), fast_options())
        .await
        .expect("connect");
    first_sync(&db).await;
    local_insert_list(&db, "l1", "u1").await;
    eventually(&db, "SELECT count(*) FROM ps_crud", 0).await;
    assert!(connector.kept.lock().is_some());

    drop(db);
    until("the session still holds the connector", || {
        Arc::strong_count(&connector) == 1
    })
    .await;
    proxy.until_idle().await;
    // The kept handle still reads the database but cannot restart syncing.
    let kept = connector.kept.lock().take().expect("kept handle");
    assert_eq!(scalar(&kept, "SELECT count(*) FROM lists").await, Some(1));
    let error = kept
        .connect(connector.clone(), fast_options())
        .await
        .expect_err("released client");
    assert!(
        matches!(error.kind(), psync_core::ErrorKind::Closed),
        "{error}"
    );
}
