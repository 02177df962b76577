// SPDX-License-Identifier: Apache-2.0
//! `ps_kv` accessors and SQL functions (scenarios.md E.52, storage.md §1.8).

use psync_test_support::engine;

use engine::gate::{self, MAX_OP_ID};
use rusqlite::Connection;

fn probe(db: &engine::TestDb, arg: &str) -> rusqlite::Result<Option<i64>> {
    db.conn.query_row(
        &format!("SELECT powersync_probe_local_target_op({arg})"),
        [],
        |r| r.get(0),
    )
}

fn code(e: rusqlite::Error) -> (i32, String) {
    match e {
        rusqlite::Error::SqliteFailure(f, msg) => (f.extended_code, msg.unwrap_or_default()),
        other => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn e52_target_probing() {
    let db = engine::open();
    assert_eq!(probe(&db, "NULL").expect("probe"), None);
    assert_eq!(probe(&db, "").expect("probe without argument"), None);
    assert_eq!(
        probe(&db, "1").expect("set"),
        None,
        "returns the previous target"
    );
    assert_eq!(gate::last_requested(&db.conn).expect("counter"), None);
    assert_eq!(probe(&db, "NULL").expect("probe"), Some(1));
    assert_eq!(probe(&db, "2").expect("set"), Some(1));
    assert_eq!(probe(&db, "NULL").expect("probe"), Some(2));
    assert_eq!(probe(&db, "'1'").expect("decimal string"), Some(2));
    assert_eq!(probe(&db, "NULL").expect("probe"), Some(1));

    let (c, msg) = code(probe(&db, "-1").expect_err("negative"));
    assert_eq!(c, 3091);
    assert_eq!(
        msg,
        "target checkpoint request id must be a non-negative integer"
    );
    let (c, msg) = code(probe(&db, "1.5").expect_err("real"));
    assert_eq!(c, 3091);
    assert_eq!(
        msg,
        "checkpoint request id must be an integer or integer string"
    );
    let (c, _) = code(probe(&db, "'abc'").expect_err("text"));
    assert_eq!(c, 3091);
    assert_eq!(probe(&db, "NULL").expect("unchanged by errors"), Some(1));

    assert_eq!(probe(&db, "0").expect("clear"), Some(1));
    assert_eq!(
        db.count("SELECT count(*) FROM ps_kv WHERE key = 'target_checkpoint_request_id'"),
        0
    );
    assert_eq!(probe(&db, &MAX_OP_ID.to_string()).expect("max"), None);
    assert_eq!(gate::target(&db.conn).expect("target"), Some(MAX_OP_ID));
    assert_eq!(
        gate::last_requested(&db.conn).expect("counter"),
        None,
        "MAX never becomes a counter"
    );

    gate::set_last_requested(&db.conn, Some(10)).expect("seed");
    assert_eq!(probe(&db, "7").expect("set"), Some(MAX_OP_ID));
    assert_eq!(gate::last_requested(&db.conn).expect("counter"), Some(10));
}

#[test]
fn client_id_and_uuid_functions() {
    let db = engine::open();
    let id: String = db
        .conn
        .query_row("SELECT powersync_client_id()", [], |r| r.get(0))
        .expect("id");
    assert_eq!(id, "test-test-test-test");
    db.conn
        .execute("DELETE FROM ps_kv WHERE key = 'client_id'", [])
        .expect("delete");
    let err = db
        .conn
        .query_row("SELECT powersync_client_id()", [], |r| {
            r.get::<_, String>(0)
        })
        .expect_err("missing");
    assert!(
        err.to_string().contains("No client_id found in ps_kv"),
        "{err}"
    );
    assert_eq!(
        err.sqlite_error().map(|e| e.extended_code),
        Some(4),
        "missing client id aborts like the reference core"
    );
    let uuid: String = db
        .conn
        .query_row("SELECT uuid()", [], |r| r.get(0))
        .expect("uuid");
    assert_eq!(uuid.len(), 36);
    assert_eq!(&uuid[14..15], "4");
}

#[test]
fn typed_accessors_round_trip() {
    let db = engine::open();
    let c = &db.conn;
    gate::set_last_seen(c, Some(4)).expect("seen");
    gate::set_last_applied(c, Some(3)).expect("applied");
    gate::set_target(c, Some(5)).expect("target");
    assert_eq!(gate::last_seen(c).expect("read"), Some(4));
    assert_eq!(gate::last_applied(c).expect("read"), Some(3));
    assert_eq!(gate::target(c).expect("read"), Some(5));
    gate::set_target(c, Some(0)).expect("zero clears");
    assert_eq!(gate::target(c).expect("read"), None);
    gate::set_last_seen(c, None).expect("delete");
    assert_eq!(gate::last_seen(c).expect("read"), None);
    // Values written as text by other SDKs still read as integers.
    c.execute(
        "INSERT OR REPLACE INTO ps_kv VALUES ('last_requested_checkpoint_request_id', '41')",
        [],
    )
    .expect("text");
    assert_eq!(gate::next_checkpoint_request_id(c).expect("next"), 42);
}

#[test]
fn next_id_rollback_hands_the_id_out_again() {
    let db = engine::open();
    let next = |c: &Connection| -> i64 {
        c.query_row("SELECT powersync_next_checkpoint_request_id()", [], |r| {
            r.get(0)
        })
        .expect("next")
    };
    assert_eq!(next(&db.conn), 1, "unseeded raw allocator starts at 1");
    gate::set_last_requested(&db.conn, Some(41)).expect("seed");
    db.conn.execute_batch("BEGIN").expect("begin");
    assert_eq!(next(&db.conn), 42);
    db.conn.execute_batch("ROLLBACK").expect("rollback");
    assert_eq!(next(&db.conn), 42);
    assert_eq!(next(&db.conn), 43);
}

#[test]
fn concurrent_allocations_are_unique_and_increasing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("alloc.db");
    {
        let db = engine::register(Connection::open(&path).expect("open"));
        db.conn
            .execute_batch("PRAGMA journal_mode = WAL; BEGIN; SELECT powersync_init(); COMMIT;")
            .expect("migrate");
    }
    const THREADS: usize = 4;
    const PER_THREAD: usize = 250;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let db = engine::register(Connection::open(&path).expect("open"));
                db.conn
                    .busy_timeout(std::time::Duration::from_secs(30))
                    .expect("busy timeout");
                let mut ids = Vec::with_capacity(PER_THREAD);
                let mut attempt = 0usize;
                while ids.len() < PER_THREAD {
                    attempt += 1;
                    db.conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
                    let id: i64 = db
                        .conn
                        .query_row("SELECT powersync_next_checkpoint_request_id()", [], |r| {
                            r.get(0)
                        })
                        .expect("allocate");
                    if (attempt + t).is_multiple_of(10) {
                        // A rolled-back allocation is handed out again.
                        db.conn.execute_batch("ROLLBACK").expect("rollback");
                        continue;
                    }
                    db.conn.execute_batch("COMMIT").expect("commit");
                    ids.push(id);
                }
                ids
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        let ids = h.join().expect("thread");
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "increasing within a thread"
        );
        all.extend(ids);
    }
    all.sort_unstable();
    let n = all.len();
    all.dedup();
    assert_eq!(all.len(), n, "unique");
    assert_eq!(
        all,
        (1..=n as i64).collect::<Vec<_>>(),
        "no gaps: rolled-back ids were reused"
    );
    assert_eq!(n, THREADS * PER_THREAD);
}

#[test]
fn allocations_through_the_database_api_from_many_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = std::sync::Arc::new(
        psync_core::Database::open(dir.path().join("db.sqlite")).expect("open"),
    );
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                (0..50)
                    .map(|_| {
                        db.write(|tx| gate::next_checkpoint_request_id(tx.connection()))
                            .expect("allocate")
                    })
                    .collect::<Vec<i64>>()
            })
        })
        .collect();
    let mut all: Vec<i64> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("thread"))
        .collect();
    all.sort_unstable();
    assert_eq!(all, (1..=200).collect::<Vec<_>>());
    // A failed write transaction gives its id back.
    let failed = db.write(|tx| {
        gate::next_checkpoint_request_id(tx.connection())?;
        Err::<(), _>(psync_core::Error::state("abort"))
    });
    assert!(failed.is_err());
    assert_eq!(
        db.write(|tx| gate::next_checkpoint_request_id(tx.connection()))
            .expect("next"),
        201
    );
}
