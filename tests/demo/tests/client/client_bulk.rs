// SPDX-License-Identifier: Apache-2.0
//! A large initial sync over loopback: the client handles the lines that have already arrived
//! in batches (one write transaction each). Local writes made while it downloads are neither
//! lost nor overwritten, and everything converges.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use psync_test_service::TestService;

use crate::common;
use common::*;

const ROWS: i64 = 30_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_initial_sync_with_local_writes_converges() {
    let service = TestService::start().await.expect("service");
    service
        .source()
        .execute_batch(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS})
             INSERT INTO lists(id, name, owner_id) SELECT 'bulk-' || i, 'n', 'u1' FROM n"
        ))
        .expect("backend rows");

    let (db, _connector) = connected(&service, "u1", fast_options()).await;
    let progress_seen = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&progress_seen);
    let _listener = db.add_status_listener(Box::new(move |status| {
        if let Some(progress) = &status.download_progress {
            seen.lock().push((progress.downloaded, progress.total));
        }
    }));

    // Local writes while the download runs: they must survive, upload, and the downloaded
    // rows must not overwrite them before the service acknowledged them.
    until("the download starts", || !progress_seen.lock().is_empty()).await;
    for i in 0..20 {
        local_insert_list(&db, &format!("local-{i}"), "u1").await;
    }
    let request = db.request_checkpoint().await.expect("checkpoint request");
    request
        .wait_for_sync(Some(Duration::from_secs(60)))
        .await
        .expect("synced");

    assert_eq!(
        scalar(&db, "SELECT count(*) FROM lists WHERE id LIKE 'bulk-%'").await,
        Some(ROWS)
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM lists WHERE id LIKE 'local-%' AND name = 'local'"
        )
        .await,
        Some(20)
    );
    assert_eq!(scalar(&db, "SELECT count(*) FROM ps_crud").await, Some(0));
    let uploaded: i64 = service
        .source()
        .query_row(
            "SELECT count(*) FROM lists WHERE id LIKE 'local-%'",
            [],
            |r| r.get(0),
        )
        .expect("backend count");
    assert_eq!(uploaded, 20, "every local write reached the backend");
    let steps = progress_seen.lock().clone();
    assert!(
        steps.iter().any(|&(_, total)| total >= ROWS),
        "the status reported download progress for the bulk checkpoint: {steps:?}"
    );
    assert!(
        steps.iter().all(|&(downloaded, total)| downloaded <= total),
        "progress stays within its total: {steps:?}"
    );

    // A change on the backend after the bulk sync still arrives promptly.
    let started = Instant::now();
    backend_insert_list(&service, "after-bulk", "u1");
    eventually(&db, "SELECT count(*) FROM lists WHERE id = 'after-bulk'", 1).await;
    assert!(started.elapsed() < WAIT);
    db.close().await.expect("close");
}
