// SPDX-License-Identifier: Apache-2.0
//! A database written by core 0.4.12 with pending local writes (fixture a, target MAX, legacy
//! write checkpoint 101) migrates and syncs in requests mode without the stale-apply hazard:
//! the service has no record for this client and answers 1, yet every id the client then uses
//! lies above the migrated legacy position (fixtures README, "Hazard").

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use psync_core::client::{BackendConnector, Credentials, SyncDatabase, SyncOptions};
use psync_core::{Database, Result, Value};
use psync_demo::ServiceConnector;
use psync_test_service::TestService;

/// Fixture a, written by core 0.4.12 (`tests/fixtures/`).
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fixtures/a-legacy-0.4.12-pending-max.db"
);
const WAIT: Duration = Duration::from_secs(10);

/// Credentials from the service; uploads are "accepted and dropped" (the service does not
/// know the fixture's columns), which is all the gate logic needs.
struct DiscardingConnector {
    service: ServiceConnector,
}

#[async_trait]
impl BackendConnector for DiscardingConnector {
    async fn fetch_credentials(&self) -> Result<Option<Credentials>> {
        self.service.fetch_credentials().await
    }

    async fn upload_data(&self, database: &SyncDatabase) -> Result<()> {
        while let Some(transaction) = database.get_next_crud_transaction().await? {
            database.complete_transaction(transaction, None).await?;
        }
        Ok(())
    }
}

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
    std::fs::copy(FIXTURE, &path).expect("copy fixture");
    let db = Database::open(&path).expect("open and migrate");
    assert_eq!(kv(&db, "last_seen_checkpoint_request_id"), Some(101));
    assert_eq!(kv(&db, "target_checkpoint_request_id"), Some(i64::MAX));
    assert_eq!(crud_rows(&db), 3);

    let sync = SyncDatabase::new(db.clone());
    let connector = Arc::new(DiscardingConnector {
        service: ServiceConnector::new(service.url(), "u1"),
    });
    let options = SyncOptions {
        retry_delay: Duration::from_millis(100),
        crud_throttle: Duration::from_millis(10),
        ..SyncOptions::default()
    };
    sync.connect(connector, options).await.expect("connect");

    let deadline = Instant::now() + WAIT;
    loop {
        let target = kv(&db, "target_checkpoint_request_id");
        if crud_rows(&db) == 0 && target.is_some_and(|t| t != i64::MAX) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "upload never set a concrete target"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let target = kv(&db, "target_checkpoint_request_id").expect("target");
    assert!(
        target > 101,
        "target {target} must lie above the migrated write checkpoint 101"
    );
    let request = sync.request_checkpoint().await.expect("request");
    assert!(request.id() > target);
    request.wait_for_sync(Some(WAIT)).await.expect("synced");
    sync.close().await.expect("close");
}
