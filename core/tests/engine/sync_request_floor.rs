// SPDX-License-Identifier: Apache-2.0
//! The migration hazard of fixture `a` (engine-side floor rule) (tests/fixtures/README.md, docs/adr/0001): a v12 database with
//! pending local writes and a legacy write checkpoint 101, continued in requests mode against a
//! service that lost its record and seeds 1. The reference core applies the stale pending
//! checkpoint over the local writes; ours must not.

use psync_test_support::engine;

use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

struct Db {
    db: engine::TestDb,
    _dir: tempfile::TempDir,
}

impl Db {
    fn open_fixture_a() -> Db {
        let (dir, path) = engine::copy_fixture(engine::FIXTURE_A);
        let db = engine::register(Connection::open(&path).expect("open"));
        db.conn
            .execute_batch("BEGIN; SELECT powersync_init(); COMMIT;")
            .expect("migrate");
        Db { db, _dir: dir }
    }

    fn raw(&self, cmd: &str, payload: SqlValue) -> SqlValue {
        self.db.control_sql(cmd, payload).expect(cmd)
    }

    fn control(&self, cmd: &str, payload: Option<String>) -> Vec<Value> {
        self.db.control_json(cmd, payload.as_deref())
    }

    fn int(&self, cmd: &str, payload: SqlValue) -> Option<i64> {
        match self.raw(cmd, payload) {
            SqlValue::Integer(i) => Some(i),
            SqlValue::Null => None,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn kv(&self, key: &str) -> Option<i64> {
        engine::kv::get_i64(&self.db.conn, key).expect("kv")
    }

    fn todo_ids(&self) -> Vec<String> {
        self.db
            .rows("SELECT id FROM ps_data__todos ORDER BY id", |r| r.get(0))
    }

    /// The cp3 checkpoint line (last_op 9, write_checkpoint 101) with the stored checksums.
    fn cp3(&self) -> String {
        let buckets: Vec<Value> = self.db.rows(
            "SELECT name, (add_checksum + op_checksum) & 0xffffffff FROM ps_buckets ORDER BY name",
            |r| Ok(json!({"bucket": r.get::<_, String>(0)?, "checksum": r.get::<_, i64>(1)?})),
        );
        json!({"checkpoint": {"last_op_id": "9", "write_checkpoint": "101", "buckets": buckets}})
            .to_string()
    }
}

fn has_log(instr: &[Value], text: &str) -> bool {
    instr.iter().any(|i| {
        i["LogLine"]["line"]
            .as_str()
            .is_some_and(|l| l.contains(text))
    })
}

#[test]
fn service_seeding_1_after_legacy_migration_never_applies_a_stale_checkpoint() {
    let db = Db::open_fixture_a();
    assert_eq!(db.kv("last_seen_checkpoint_request_id"), Some(101));
    assert_eq!(db.kv("last_requested_checkpoint_request_id"), None);
    let local_view = db.todo_ids();
    assert!(local_view.contains(&"T-local-2".to_string()));

    // The proposal already respects the floor (reference proposes "1").
    let start = db.control("start", Some(r#"{"checkpoint_mode":"requests"}"#.into()));
    let establish = start
        .iter()
        .find_map(|i| i.get("EstablishSyncStream"))
        .expect("establish");
    assert_eq!(
        establish["checkpoint_request"]["checkpoint_request_id"],
        "101"
    );

    // The service lost its record and answers 1: we store the floor instead.
    assert_eq!(
        db.int("seed_checkpoint_request_id", SqlValue::Integer(1)),
        Some(101)
    );
    assert_eq!(db.kv("last_requested_checkpoint_request_id"), Some(101));

    // cp3 validates but is blocked by the pending local writes.
    db.control("line_text", Some(db.cp3()));
    let blocked = db.control(
        "line_text",
        Some(r#"{"checkpoint_complete":{"last_op_id":"9"}}"#.into()),
    );
    assert!(
        has_log(&blocked, "Could not apply checkpoint due to local data"),
        "{blocked:?}"
    );

    // Upload finishes: allocate, set the target, report completion.
    db.db
        .conn
        .execute_batch("DELETE FROM ps_crud")
        .expect("upload");
    let id = db
        .int("next_checkpoint_request_id", SqlValue::Null)
        .expect("id");
    assert_eq!(id, 102, "never at or below the acknowledged legacy id 101");
    db.int("target_checkpoint_request_id", SqlValue::Integer(id));
    let after_upload = db.control("completed_upload", None);
    assert_eq!(
        after_upload,
        Vec::<Value>::new(),
        "stale pending checkpoint must be skipped"
    );
    assert_eq!(db.todo_ids(), local_view, "local edits stay visible");
    assert_eq!(db.kv("last_applied_checkpoint_request_id"), None);

    // The same stale checkpoint again: ps_crud is empty now, but target 102 > seen 101.
    db.control("line_text", Some(db.cp3()));
    let again = db.control(
        "line_text",
        Some(r#"{"checkpoint_complete":{"last_op_id":"9"}}"#.into()),
    );
    assert!(
        has_log(&again, "Could not apply checkpoint due to local data"),
        "{again:?}"
    );
    assert_eq!(db.todo_ids(), local_view);
}

#[test]
fn seed_above_the_floor_is_stored_verbatim() {
    let db = Db::open_fixture_a();
    db.control("start", Some(r#"{"checkpoint_mode":"requests"}"#.into()));
    // A service that knows the legacy checkpoint answers >= 101: stored as given.
    assert_eq!(
        db.int("seed_checkpoint_request_id", SqlValue::Integer(150)),
        Some(150)
    );
    assert_eq!(
        db.int("next_checkpoint_request_id", SqlValue::Null),
        Some(151)
    );
}
