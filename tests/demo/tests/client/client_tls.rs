// SPDX-License-Identifier: Apache-2.0
//! End-to-end tests of TLS: the client syncs over `https://` with a throwaway CA (a
//! TLS-terminating proxy on loopback in front of the test service), and rejects certificates
//! from an untrusted CA or for another host with a network error that names only the host.

use std::sync::Arc;

use psync_core::client::{SyncDatabase, SyncOptions};
use psync_core::{ErrorKind, Value};
use psync_demo::{ServiceConnector, open_demo_database};
use psync_test_service::TestService;

use crate::common;
use common::proxy::{Proxy, TestCa};
use common::*;

/// Connects a fresh in-memory database to `endpoint` (tokens still come from `service`).
async fn connect_to(service: &TestService, endpoint: String, options: SyncOptions) -> SyncDatabase {
    let db = open_demo_database(None).expect("open");
    let connector = Arc::new(EndpointConnector {
        inner: Arc::new(ServiceConnector::new(service.url(), "u1")),
        endpoint,
    });
    db.connect(connector, options).await.expect("connect");
    db
}

fn trusting(ca: &TestCa) -> SyncOptions {
    SyncOptions {
        extra_root_certificates_pem: vec![ca.pem.clone()],
        ..fast_options()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_over_https_when_the_ca_is_trusted() {
    let service = TestService::start().await.expect("service");
    backend_insert_list(&service, "from-backend", "u1");
    let ca = TestCa::new("psync test CA");
    let proxy = Proxy::start_tls(
        service.addr(),
        ca.server_config(&["localhost", "127.0.0.1"]),
    )
    .await
    .expect("proxy");

    let db = connect_to(&service, proxy.url("https", "localhost"), trusting(&ca)).await;
    first_sync(&db).await;
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM lists WHERE id = 'from-backend'").await,
        Some(1)
    );
    local_insert_list(&db, "from-client", "u1").await;
    let request = db.request_checkpoint().await.expect("request over TLS");
    request
        .wait_for_sync(Some(WAIT))
        .await
        .expect("checkpoint synced over TLS");
    eventually(&db, "SELECT count(*) FROM ps_crud", 0).await;
    let status = db.status();
    assert!(status.connected && status.download_error.is_none());
    assert!(proxy.accepted() >= 1);
    db.close().await.expect("close");

    // The certificate's IP address entry works too.
    let db = connect_to(&service, proxy.url("https", "127.0.0.1"), trusting(&ca)).await;
    first_sync(&db).await;
    db.close().await.expect("close");
    // The client passed its crypto provider explicitly; nobody installed a process default.
    assert!(common::proxy::rustls::crypto::CryptoProvider::get_default().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_a_certificate_from_an_untrusted_ca() {
    let service = TestService::start().await.expect("service");
    backend_insert_list(&service, "secret-row", "u1");
    let ca = TestCa::new("psync test CA");
    let proxy = Proxy::start_tls(service.addr(), ca.server_config(&["localhost"]))
        .await
        .expect("proxy");

    // Not trusted: neither Mozilla's roots nor the system's know this CA.
    let db = connect_to(&service, proxy.url("https", "localhost"), fast_options()).await;
    let error = download_error(&db).await;
    let port = proxy.port();
    assert_eq!(
        error,
        format!(
            "network error: TLS certificate verification failed: unknown issuer (not signed by \
             a trusted CA) (localhost:{port})"
        )
    );
    let status = db.status();
    assert!(!status.connected);
    assert_ne!(status.has_synced, Some(true));
    assert_eq!(scalar(&db, "SELECT count(*) FROM lists").await, Some(0));
    assert_eq!(scalar(&db, "SELECT count(*) FROM ps_oplog").await, Some(0));
    db.close().await.expect("close");

    // A different CA passed as extra root does not help either.
    let other = TestCa::new("another CA");
    let db = connect_to(&service, proxy.url("https", "localhost"), trusting(&other)).await;
    assert!(download_error(&db).await.contains("unknown issuer"));
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_a_certificate_for_another_host_even_from_a_trusted_ca() {
    let service = TestService::start().await.expect("service");
    backend_insert_list(&service, "secret-row", "u1");
    let ca = TestCa::new("psync test CA");
    let proxy = Proxy::start_tls(service.addr(), ca.server_config(&["sync.example.com"]))
        .await
        .expect("proxy");

    let db = connect_to(&service, proxy.url("https", "localhost"), trusting(&ca)).await;
    let error = download_error(&db).await;
    let port = proxy.port();
    assert_eq!(
        error,
        format!(
            "network error: TLS certificate verification failed: the certificate is not valid \
             for this host (localhost:{port})"
        )
    );
    assert!(!db.status().connected);
    assert_eq!(scalar(&db, "SELECT count(*) FROM lists").await, Some(0));
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_extra_roots_fail_connect_and_plain_http_still_works() {
    let service = TestService::start().await.expect("service");
    let db = open_demo_database(None).expect("open");
    let connector = Arc::new(ServiceConnector::new(service.url(), "u1"));
    let options = SyncOptions {
        extra_root_certificates_pem: vec!["not a certificate".into()],
        ..fast_options()
    };
    let error = db
        .connect(connector.clone(), options)
        .await
        .expect_err("invalid PEM");
    assert!(
        matches!(error.kind(), ErrorKind::InvalidArgument(m) if m.contains("extra_root_certificates_pem[0]")),
        "{error}"
    );
    // http:// ignores the extra roots and keeps working.
    let ca = TestCa::new("psync test CA");
    db.connect(connector, trusting(&ca)).await.expect("connect");
    first_sync(&db).await;
    db.execute(
        "INSERT INTO lists(id, name, owner_id) VALUES ('x', 'n', 'u1')",
        Vec::<Value>::new(),
    )
    .await
    .expect("insert");
    let request = db.request_checkpoint().await.expect("request");
    request.wait_for_sync(Some(WAIT)).await.expect("synced");
    db.close().await.expect("close");
}
