// SPDX-License-Identifier: Apache-2.0
//! The SDK surface of `SyncDatabase` that the bindings also expose, end to end against the
//! embedded test service: logout clearing local-only tables, core log lines reaching the app's
//! logger, and watches re-running only for the tables they read.

use std::sync::Arc;

use psync_core::client::{ClearOptions, LogLevel, SyncDatabase};
use psync_core::schema::{Column, Table};
use psync_core::{Database, Value};
use psync_demo::{ServiceConnector, demo_schema};
use psync_test_service::{Faults, TestService};

use crate::common::*;

/// The demo schema plus a local-only `drafts` table.
fn database_with_drafts() -> SyncDatabase {
    let db = Database::open_in_memory().expect("open");
    let mut schema = demo_schema();
    schema
        .tables
        .push(Table::new("drafts", [Column::text("body")]).local_only(true));
    db.update_schema(schema).expect("schema");
    SyncDatabase::new(db)
}

async fn synced_with_a_draft(service: &TestService) -> (SyncDatabase, Arc<ServiceConnector>) {
    let db = database_with_drafts();
    let connector = Arc::new(ServiceConnector::new(service.url(), "u1"));
    db.connect(connector.clone(), fast_options())
        .await
        .expect("connect");
    first_sync(&db).await;
    eventually(&db, "SELECT count(*) FROM lists", 1).await;
    db.execute(
        "INSERT INTO drafts(id, body) VALUES (uuid(), 'unsent')",
        vec![],
    )
    .await
    .expect("draft");
    (db, connector)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_clears_local_only_rows_unless_asked_to_keep_them() {
    let service = TestService::start().await.expect("service");
    backend_insert_list(&service, "l1", "u1");

    let (db, _) = synced_with_a_draft(&service).await;
    db.disconnect_and_clear(ClearOptions::default())
        .await
        .expect("clear");
    assert_eq!(scalar(&db, "SELECT count(*) FROM lists").await, Some(0));
    assert_eq!(scalar(&db, "SELECT count(*) FROM drafts").await, Some(0));
    db.close().await.expect("close");

    let (db, _) = synced_with_a_draft(&service).await;
    db.disconnect_and_clear(ClearOptions {
        clear_local: false,
        ..ClearOptions::default()
    })
    .await
    .expect("clear keeping local-only rows");
    assert_eq!(scalar(&db, "SELECT count(*) FROM lists").await, Some(0));
    assert_eq!(scalar(&db, "SELECT count(*) FROM drafts").await, Some(1));
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_log_lines_reach_the_apps_logger() {
    let service = TestService::start().await.expect("service");
    service.set_faults(
        None,
        Faults {
            status: Some(503),
            paths: Some(vec!["/sync/stream".into()]),
            times: Some(1),
            ..Faults::default()
        },
    );
    let lines = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let db = database_with_drafts();
    let sink = Arc::clone(&lines);
    db.set_logger(Some(Arc::new(move |level, line: &str| {
        sink.lock().push((level, line.to_owned()))
    })));
    db.connect(
        Arc::new(ServiceConnector::new(service.url(), "u1")),
        fast_options(),
    )
    .await
    .expect("connect");
    first_sync(&db).await;
    let lines = lines.lock().clone();
    assert!(
        lines.iter().any(|(level, line)| *level == LogLevel::Warning
            && line.contains("sync iteration failed")
            && line.contains("503")),
        "{lines:?}"
    );
    db.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_reruns_only_for_the_tables_it_reads() {
    let service = TestService::start().await.expect("service");
    let (db, _) = connected(&service, "u1", fast_options()).await;
    first_sync(&db).await;
    let mut watcher = db
        .watch("SELECT count(*) FROM lists", vec![])
        .expect("watch");
    assert_eq!(
        watcher.tables().iter().collect::<Vec<_>>(),
        ["ps_data__lists"]
    );
    let first = watcher.next().await.expect("rows");
    assert_eq!(first[0].get(0).and_then(Value::as_i64), Some(0));

    // A write to a table the query does not read, then one to `lists`: the next result is the
    // one after the `lists` write (a re-run for `todos` would have come first, still 0).
    db.execute(
        "INSERT INTO todos(id, list_id, description) VALUES ('t1', 'l1', 'x')",
        vec![],
    )
    .await
    .expect("todo");
    local_insert_list(&db, "l1", "u1").await;
    let next = tokio::time::timeout(WAIT, watcher.next())
        .await
        .expect("in time")
        .expect("rows");
    assert_eq!(next[0].get(0).and_then(Value::as_i64), Some(1));
    db.close().await.expect("close");
}
