// SPDX-License-Identifier: Apache-2.0
//! A database written by core 0.4.12 with pending local writes (fixture a, target MAX, legacy
//! write checkpoint 101) migrates and syncs in requests mode without the stale-apply hazard:
//! the service has no record for this client and answers 1, yet every id the client then uses
//! lies above the migrated legacy position (fixtures README, "Hazard").

use std::sync::Arc;

use psync_core::client::SyncDatabase;
use psync_core::{Database, Value};
use psync_demo::ServiceConnector;
use psync_test_service::TestService;
use psync_test_support::paths::{FIXTURE_A, fixture_db};

use crate::common::*;

fn kv(db: &Database, key: &str) -> Option<i64> {
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

fn crud_rows(db: &Database) -> i64 {
    db.get("SELECT count(*) FROM ps_crud", &[])
        .expect("count")
        .get(0)
        .and_then(Value::as_i64)
        .expect("integer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrated_legacy_database_never_applies_a_stale_checkpoint() {
    let service = TestService::start().await.expect("service");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("a.db");
    std::fs::copy(fixture_db(FIXTURE_A), &path).expect("copy fixture");
    let db = Database::open(&path).expect("open and migrate");
    assert_eq!(kv(&db, "last_seen_checkpoint_request_id"), Some(101));
    assert_eq!(kv(&db, "target_checkpoint_request_id"), Some(i64::MAX));
    assert_eq!(crud_rows(&db), 3);

    let sync = SyncDatabase::new(db.clone());
    // Uploads are accepted and dropped: the service does not know the fixture's columns, and
    // the gate logic is all that matters here.
    let connector = Arc::new(DiscardingUploads(ServiceConnector::new(
        service.url(),
        "u1",
    )));
    sync.connect(connector, fast_options())
        .await
        .expect("connect");

    let target = until_some("the upload sets a concrete target", || {
        let target = kv(&db, "target_checkpoint_request_id");
        target.filter(|t| crud_rows(&db) == 0 && *t != i64::MAX)
    })
    .await;
    assert!(
        target > 101,
        "target {target} must lie above the migrated write checkpoint 101"
    );
    let request = sync.request_checkpoint().await.expect("request");
    assert!(request.id() > target);
    request.wait_for_sync(Some(WAIT)).await.expect("synced");
    sync.close().await.expect("close");
}
