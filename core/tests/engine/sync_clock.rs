// SPDX-License-Identifier: Apache-2.0
//! What the scenario sequences (`tests/sequences/`, checked on both cores by
//! `tests/reference`) cannot express: exact sync timestamps. The engine's typed API takes the
//! time as an argument; through SQL both cores read the wall clock and recordings normalise it.
//! Sync state per priority over repeated syncs (C.29) and across a restart (C.30).

use psync_test_support::engine;

use engine::sync::{Instruction, StartSyncStream, SyncCommand};
use serde_json::{Value, json};

const HOUR: i64 = 3_600_000_000;
const T0: i64 = 1_740_823_200_000_000;

struct Db(engine::TestDb);

fn open() -> Db {
    Db(engine::open_items())
}

impl Db {
    fn control(&self, cmd: SyncCommand, now: i64) -> Vec<Instruction> {
        self.0.control_at(cmd, now).expect("control")
    }
    fn start(&self, now: i64) -> Vec<Instruction> {
        self.control(SyncCommand::Start(StartSyncStream::default()), now)
    }
    fn line(&self, line: Value, now: i64) -> Vec<Instruction> {
        self.control(SyncCommand::LineText(line.to_string()), now)
    }
    fn sync_state(&self) -> Vec<(i64, i64)> {
        self.0.rows(
            "SELECT priority, last_synced_at FROM ps_sync_state ORDER BY priority",
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }
}

fn status(out: &[Instruction]) -> Option<&engine::sync::CoreSyncStatus> {
    out.iter().rev().find_map(|i| match i {
        Instruction::UpdateSyncStatus { status } => Some(status),
        _ => None,
    })
}

fn cp(last: i64, buckets: Value) -> Value {
    json!({"checkpoint": {"last_op_id": last.to_string(), "buckets": buckets}})
}

fn complete(last: i64) -> Value {
    json!({"checkpoint_complete": {"last_op_id": last.to_string()}})
}

#[test]
fn c29_repeated_syncs_keep_one_row_per_priority() {
    let db = open();
    db.start(T0);
    let buckets = json!([
        {"bucket": "p1", "checksum": 0, "priority": 1},
        {"bucket": "p2", "checksum": 0, "priority": 2},
        {"bucket": "p3", "checksum": 0, "priority": 3}]);
    for step in 0..10 {
        let now = T0 + step * HOUR;
        db.line(cp(1, buckets.clone()), now);
        for p in 1..=3 {
            db.line(
                json!({"partial_checkpoint_complete": {"last_op_id": "1", "priority": p}}),
                now,
            );
            let state = db.sync_state();
            assert_eq!(
                state.iter().filter(|(q, _)| *q == p).collect::<Vec<_>>(),
                [&(p, now)]
            );
            assert!(state.iter().all(|(q, _)| *q >= p), "{state:?}");
        }
        db.line(complete(1), now);
        assert_eq!(db.sync_state(), vec![(2_147_483_647, now)]);
    }
}

#[test]
fn c30_sync_state_survives_restart() {
    let db = open();
    db.start(T0);
    db.line(
        json!({"checkpoint": {"last_op_id": "1", "write_checkpoint": "1", "buckets": [
            {"bucket": "p2", "checksum": 0, "priority": 2}]}}),
        T0,
    );
    let out = db.line(complete(1), T0);
    assert!(out.contains(&Instruction::DidCompleteSync {
        applied_checkpoint_request_id: Some(1)
    }));
    let later = T0 + 600_000_000;
    db.line(
        cp(2, json!([{"bucket": "p2", "checksum": 0, "priority": 2}])),
        later,
    );
    db.line(
        json!({"partial_checkpoint_complete": {"last_op_id": "2", "priority": 2}}),
        later,
    );
    db.control(SyncCommand::Stop, later);
    let out = db.start(later);
    let st = status(&out).expect("status");
    assert_eq!(st.internal_last_applied_checkpoint_request_id, None);
    let expected = json!([
        {"priority": 2, "last_synced_at": later, "has_synced": true},
        {"priority": 2147483647, "last_synced_at": T0, "has_synced": true}]);
    assert_eq!(
        serde_json::to_value(&st.priority_status).expect("json"),
        expected
    );
    db.control(SyncCommand::Stop, later);
    let offline: String =
        db.0.conn
            .query_row("SELECT powersync_offline_sync_status()", [], |r| r.get(0))
            .expect("offline");
    assert_eq!(
        serde_json::from_str::<Value>(&offline).expect("json"),
        json!({"connected": false, "connecting": false, "priority_status": expected,
               "downloading": null, "streams": []})
    );
}
