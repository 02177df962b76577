// SPDX-License-Identifier: Apache-2.0
//! A source database file: existing rows replicate at start, other writers are picked up.

use crate::common;

use common::*;
use psync_test_service::{SyncConfig, TestService};
use serde_json::json;

#[tokio::test]
async fn existing_rows_replicate_on_start_and_external_writes_stream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("source.sqlite");
    {
        let svc = TestService::builder()
            .db_path(&path)
            .start()
            .await
            .expect("first start");
        let token = svc.mint_token("u1");
        let (status, _) = upload(&svc, &token, json!([
            {"op": "PUT", "type": "lists", "id": "l1", "data": {"name": "kept", "owner_id": "u1"}}
        ]))
        .await;
        assert_eq!(status, 200);
    }
    let svc = TestService::builder()
        .db_path(&path)
        .start()
        .await
        .expect("restart");
    let token = svc.mint_token("u1");
    let mut lines = open_stream(&svc, &token, &stream_body("c1")).await;
    let seen = lines.until("checkpoint_complete").await;
    let data: Vec<_> = seen.iter().filter_map(|l| l.get("data")).collect();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["data"][0]["object_id"], json!("l1"));

    // Another process (here: another connection) writes to the file.
    let other = rusqlite::Connection::open(&path).expect("open");
    other
        .busy_timeout(std::time::Duration::from_secs(5))
        .expect("timeout");
    other
        .execute(
            "INSERT INTO lists(id, name, owner_id) VALUES ('l2', 'ext', 'u1')",
            [],
        )
        .expect("insert");
    let seen = lines.until("checkpoint_complete").await;
    assert_eq!(seen[1]["data"]["data"][0]["object_id"], json!("l2"));
}

/// A service restarted on the same file keeps its bucket storage, as the real service does:
/// op ids continue (a client resumes from its `after` positions), and write-checkpoint records
/// stored before the restart are still reported.
#[tokio::test]
async fn restart_keeps_op_ids_and_write_checkpoints() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("source.sqlite");
    let start = || TestService::builder().db_path(&path).start();
    let head_before = {
        let svc = start().await.expect("first start");
        let token = svc.mint_token("u1");
        for id in ["l1", "l2"] {
            let (status, _) = upload(&svc, &token, json!([
                {"op": "PUT", "type": "lists", "id": id, "data": {"name": "v1", "owner_id": "u1"}}
            ]))
            .await;
            assert_eq!(status, 200);
        }
        let (status, _) = upload(
            &svc,
            &token,
            json!([
                {"op": "PATCH", "type": "lists", "id": "l1", "data": {"name": "v2"}}
            ]),
        )
        .await;
        assert_eq!(status, 200);
        let stored = svc
            .inner()
            .update_store(|store, position| store.checkpoint_request("u1", "c1", 7, position));
        assert_eq!(stored.expect("stored"), 7);
        svc.head()
    };
    assert_eq!(head_before, 3);
    let svc = start().await.expect("restart");
    assert_eq!(svc.head(), head_before, "op ids survive the restart");
    assert_eq!(svc.write_checkpoint("u1", "c1").map(|w| w.id), Some(7));
    svc.source()
        .execute("DELETE FROM lists WHERE id = 'l2'", [])
        .expect("delete");
    assert_eq!(svc.head(), 4, "new ops continue after the kept ones");
    let token = svc.mint_token("u1");
    let mut lines = open_stream(&svc, &token, &stream_body("c1")).await;
    let seen = lines.until("checkpoint_complete").await;
    assert_eq!(seen[0]["checkpoint"]["last_op_id"], json!("4"));
    assert_eq!(seen[0]["checkpoint"]["write_checkpoint"], json!("7"));
}

#[tokio::test]
async fn custom_config_with_global_bucket() {
    let config = SyncConfig::from_json(
        r#"{"tables":[{"name":"notes","columns":["body","author"]}],
            "buckets":[{"name":"all_notes","table":"notes","priority":2},
                       {"name":"my_notes","table":"notes","owner_column":"author"}]}"#,
    )
    .expect("config");
    let svc = TestService::builder()
        .config(config)
        .start()
        .await
        .expect("start");
    svc.source()
        .execute(
            "INSERT INTO notes(id, body, author) VALUES ('n1', 'x', 'u2')",
            [],
        )
        .expect("insert");
    let token = svc.mint_token("u1");
    let mut lines = open_stream(&svc, &token, &stream_body("c1")).await;
    let seen = lines.until("checkpoint_complete").await;
    let buckets = &seen[0]["checkpoint"]["buckets"];
    assert_eq!(buckets[0]["bucket"], json!("1#all_notes[]"));
    assert_eq!(buckets[0]["count"], json!(1));
    assert_eq!(buckets[1]["bucket"], json!("1#my_notes[\"u1\"]"));
    assert_eq!(buckets[1]["count"], json!(0));
    assert_eq!(buckets[1]["checksum"], json!(0));
}
