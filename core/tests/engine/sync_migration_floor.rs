// SPDX-License-Identifier: Apache-2.0
//! The migration hazard of fixture a (docs/adr/0001-checkpoint-request-floor.md): a legacy
//! database whose service seeds 1 must not apply a stale checkpoint over local writes.

use psync_test_support::engine;

use engine::sync::{CheckpointMode, Instruction, StartSyncStream, SyncCommand};
use psync_core::Database;
use serde_json::json;

fn control(db: &Database, command: SyncCommand) -> Vec<Instruction> {
    db.write(|tx| db.state().sync.control(tx.connection(), command, 1_000_000))
        .expect("control")
}

fn todo_ids(db: &Database) -> Vec<String> {
    db.get_all("SELECT id FROM todos ORDER BY id", &[])
        .expect("todos")
        .into_iter()
        .filter_map(|r| r.get(0).and_then(|v| v.as_str().map(str::to_string)))
        .collect()
}

#[test]
fn legacy_migration_service_seeds_1_keeps_local_writes() {
    let (_dir, path) = engine::copy_fixture(engine::FIXTURE_A);
    let db = Database::open(&path).expect("open migrates");
    let kv = |key: &str| {
        db.read(|tx| engine::kv::get_i64(tx.connection(), key))
            .expect("kv")
    };
    assert_eq!(kv("last_seen_checkpoint_request_id"), Some(101));
    assert_eq!(kv("last_requested_checkpoint_request_id"), None);

    let out = control(
        &db,
        SyncCommand::Start(StartSyncStream {
            checkpoint_mode: CheckpointMode::Requests,
            ..StartSyncStream::default()
        }),
    );
    let proposed = out.iter().find_map(|i| match i {
        Instruction::EstablishSyncStream {
            checkpoint_request, ..
        } => checkpoint_request.clone(),
        _ => None,
    });
    assert_eq!(
        proposed.map(|p| p.checkpoint_request_id),
        Some(101),
        "the floor is the migrated last_seen id"
    );

    // The service has no record and answers 1.
    let seeded = db
        .write(|tx| {
            db.state()
                .sync
                .seed_checkpoint_request_id(tx.connection(), 1)
        })
        .expect("seed");
    assert_eq!(seeded, 101);

    // The stale checkpoint (write checkpoint 101) validates but local writes block it.
    let buckets: Vec<serde_json::Value> = db
        .get_all(
            "SELECT name, (add_checksum + op_checksum) & 0xffffffff FROM ps_buckets ORDER BY name",
            &[],
        )
        .expect("buckets")
        .into_iter()
        .map(|r| {
            json!({"bucket": r.get(0).and_then(|v| v.as_str()).unwrap_or_default(),
                   "checksum": r.get(1).and_then(|v| v.as_i64()).unwrap_or_default()})
        })
        .collect();
    let cp =
        json!({"checkpoint": {"last_op_id": "9", "write_checkpoint": "101", "buckets": buckets}});
    control(&db, SyncCommand::LineText(cp.to_string()));
    let out = control(
        &db,
        SyncCommand::LineText(json!({"checkpoint_complete": {"last_op_id": "9"}}).to_string()),
    );
    assert!(format!("{out:?}").contains("Could not apply checkpoint due to local data"));
    let before = todo_ids(&db);
    assert!(before.contains(&"T-local-2".to_string()));

    // Upload: allocate, set the target, complete. The stale checkpoint must not be applied.
    let id = db
        .write(|tx| {
            let id = db
                .state()
                .sync
                .next_checkpoint_request_id(tx.connection())?;
            db.state()
                .sync
                .target_checkpoint_request_id(tx.connection(), Some(id))?;
            tx.execute("DELETE FROM ps_crud", &[])?;
            Ok(id)
        })
        .expect("upload");
    assert_eq!(id, 102);
    let out = control(&db, SyncCommand::CompletedUpload);
    assert!(
        !out.iter()
            .any(|i| matches!(i, Instruction::DidCompleteSync { .. })),
        "stale checkpoint applied: {out:?}"
    );
    assert_eq!(todo_ids(&db), before, "local writes stay visible");

    // The echo acknowledging 102 opens the gate.
    let cp = json!({"checkpoint": {"last_op_id": "9", "write_checkpoint": "102", "buckets": cp["checkpoint"]["buckets"]}});
    control(&db, SyncCommand::LineText(cp.to_string()));
    let out = control(
        &db,
        SyncCommand::LineText(json!({"checkpoint_complete": {"last_op_id": "9"}}).to_string()),
    );
    assert!(out.contains(&Instruction::DidCompleteSync {
        applied_checkpoint_request_id: Some(102)
    }));
}
