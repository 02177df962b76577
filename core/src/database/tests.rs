// SPDX-License-Identifier: Apache-2.0
//! Unit tests for the database handle.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::mpsc;

use parking_lot::Mutex;

use super::*;
use crate::{Error, Value, param_sets_from_json};
use std::time::Duration;

fn memory_db() -> Database {
    Database::open_in_memory().expect("open in-memory database")
}

fn count(db: &Database, table: &str) -> i64 {
    db.get(&format!("SELECT count(*) FROM {table}"), &[])
        .expect("count")
        .get(0)
        .and_then(Value::as_i64)
        .expect("integer count")
}

#[test]
fn write_commits_on_ok() {
    let db = memory_db();
    db.execute("CREATE TABLE t(x)", &[]).expect("create");
    let rowid = db
        .write(|tx| {
            Ok(tx
                .execute("INSERT INTO t VALUES (?1)", &[Value::from(1)])?
                .last_insert_rowid)
        })
        .expect("write");
    assert_eq!(rowid, 1);
    assert_eq!(count(&db, "t"), 1);
}

#[test]
fn execute_batch_runs_every_parameter_set_or_none() {
    let db = memory_db();
    db.execute("CREATE TABLE t(k INTEGER PRIMARY KEY, v)", &[])
        .expect("create");
    let sets: Vec<Vec<Value>> = (1..=100)
        .map(|k| vec![Value::from(k), Value::from(format!("v{k}"))])
        .collect();
    let result = db
        .execute_batch("INSERT INTO t VALUES (?, ?)", &sets)
        .expect("batch");
    assert_eq!(result.rows_affected, 100);
    assert_eq!(result.last_insert_rowid, 100);

    let clashing = vec![
        vec![Value::from(101), Value::Null],
        vec![Value::from(1), Value::Null],
    ];
    assert!(
        db.execute_batch("INSERT INTO t VALUES (?, ?)", &clashing)
            .is_err()
    );
    assert_eq!(
        count(&db, "t"),
        100,
        "the failing batch left nothing behind"
    );
}

#[test]
fn parameter_sets_from_json_keep_sqlite_types() {
    let text = r#"[[null, true, 7, 1.5, "x"], [], [ -2 , 1e3, "a\"b" , false]]"#;
    let sets = param_sets_from_json(text).expect("parse");
    let expected = vec![
        vec![
            Value::Null,
            Value::Integer(1),
            Value::Integer(7),
            Value::Real(1.5),
            Value::Text("x".into()),
        ],
        vec![],
        vec![
            Value::Integer(-2),
            Value::Real(1000.0),
            Value::Text("a\"b".into()),
            Value::Integer(0),
        ],
    ];
    assert_eq!(sets, expected);
    for bad in [
        r#"[[{"a": 1}]]"#,
        "[[[1]]]",
        "[[9223372036854775808]]",
        "[[18446744073709551616]]",
        "[1]",
        "not json",
    ] {
        let error = param_sets_from_json(bad).expect_err(bad);
        assert!(error.to_string().contains("parameter sets"), "{error}");
    }
}

#[test]
fn write_rolls_back_on_err() {
    let db = memory_db();
    db.execute("CREATE TABLE t(x)", &[]).expect("create");
    let result: Result<()> = db.write(|tx| {
        tx.execute("INSERT INTO t VALUES (1)", &[])?;
        Err(Error::state("abort"))
    });
    assert!(result.is_err());
    assert_eq!(count(&db, "t"), 0);
}

#[test]
fn panic_in_write_rolls_back_and_writer_stays_usable() {
    let db = memory_db();
    db.execute("CREATE TABLE t(x)", &[]).expect("create");
    let db2 = db.clone();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _: Result<()> = db2.write(|tx| {
            tx.execute("INSERT INTO t VALUES (1)", &[])?;
            panic!("boom");
        });
    }));
    assert!(outcome.is_err());
    assert_eq!(count(&db, "t"), 0);
    db.write(|tx| tx.execute("INSERT INTO t VALUES (2)", &[]))
        .expect("writer usable after panic");
    assert_eq!(count(&db, "t"), 1);
}

#[test]
fn typed_values_roundtrip() {
    let db = memory_db();
    db.execute("CREATE TABLE t(a, b, c, d, e)", &[])
        .expect("create");
    let values = vec![
        Value::Null,
        Value::Integer(i64::MIN),
        Value::Real(1.25),
        Value::Text("héllo".into()),
        Value::Blob(vec![0, 255, 7]),
    ];
    db.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?)", &values)
        .expect("insert");
    let row = db.get("SELECT a, b, c, d, e FROM t", &[]).expect("select");
    assert_eq!(row.values(), values.as_slice());
    assert_eq!(row.columns(), ["a", "b", "c", "d", "e"]);
    assert_eq!(row.get_by_name("e"), Some(&Value::Blob(vec![0, 255, 7])));
}

#[test]
fn get_without_rows_errors_and_optional_is_none() {
    let db = memory_db();
    assert!(db.get("SELECT 1 WHERE 0", &[]).is_err());
    assert_eq!(
        db.get_optional("SELECT 1 WHERE 0", &[]).expect("query"),
        None
    );
    assert!(
        db.get_all("SELECT 1 WHERE 0", &[])
            .expect("query")
            .is_empty()
    );
}

#[test]
fn calls_after_close_fail_with_closed() {
    let db = memory_db();
    db.close().expect("close");
    db.close().expect("second close is a no-op");
    assert!(db.is_closed());
    let closed = |e: Error| matches!(e.kind(), crate::ErrorKind::Closed);
    assert!(closed(db.execute("SELECT 1", &[]).expect_err("execute")));
    assert!(closed(db.get("SELECT 1", &[]).expect_err("get")));
    assert!(closed(db.get_all("SELECT 1", &[]).expect_err("get_all")));
    assert!(closed(
        db.get_optional("SELECT 1", &[]).expect_err("get_optional")
    ));
    assert!(closed(db.write(|_| Ok(())).expect_err("write")));
    assert!(closed(db.read(|_| Ok(())).expect_err("read")));
}

#[test]
fn readers_see_committed_snapshot_during_a_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path().join("wal.db")).expect("open");
    let mode = db.get("PRAGMA journal_mode", &[]).expect("mode");
    assert_eq!(mode.get(0), Some(&Value::from("wal")));
    assert_reads_during_write(&db);
}

/// In-memory databases have no WAL: a read waits for an open write transaction to finish
/// (up to the busy timeout) and then sees its commit.
#[test]
fn in_memory_reads_wait_for_an_open_write() {
    let db = memory_db();
    db.execute("CREATE TABLE t(x)", &[]).expect("create");
    let (inside_tx, wait_inside) = mpsc::channel();
    let (release, wait_release) = mpsc::channel::<()>();
    let writer_db = db.clone();
    let writer = std::thread::spawn(move || {
        writer_db.write(|tx| {
            tx.execute("INSERT INTO t VALUES (1)", &[])?;
            inside_tx.send(()).map_err(|_| Error::state("send"))?;
            wait_release.recv().map_err(|_| Error::state("recv"))?;
            Ok(())
        })
    });
    wait_inside.recv().expect("writer started");
    let reader_db = db.clone();
    let reader = std::thread::spawn(move || count(&reader_db, "t"));
    std::thread::sleep(std::time::Duration::from_millis(100));
    release.send(()).expect("release");
    writer.join().expect("join").expect("write");
    assert_eq!(reader.join().expect("join reader"), 1);
}

/// While a write transaction is open on another thread, readers are not blocked and see
/// the last committed state; afterwards they see the commit.
fn assert_reads_during_write(db: &Database) {
    db.execute("CREATE TABLE t(x)", &[]).expect("create");
    db.execute("INSERT INTO t VALUES (1)", &[]).expect("insert");

    let (inside_tx, wait_inside) = mpsc::channel();
    let (release, wait_release) = mpsc::channel::<()>();
    let writer_db = db.clone();
    let writer = std::thread::spawn(move || {
        writer_db.write(|tx| {
            tx.execute("INSERT INTO t VALUES (2)", &[])?;
            inside_tx.send(()).map_err(|_| Error::state("send"))?;
            wait_release.recv().map_err(|_| Error::state("recv"))?;
            Ok(())
        })
    });
    wait_inside.recv().expect("writer started");
    assert_eq!(count(db, "t"), 1);
    let seen = db
        .read(|tx| Ok(tx.get("SELECT count(*) FROM t", &[])?.get(0).cloned()))
        .expect("read");
    assert_eq!(seen, Some(Value::Integer(1)));
    release.send(()).expect("release");
    writer.join().expect("join").expect("write");
    assert_eq!(count(db, "t"), 2);
}

#[test]
fn database_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + Clone>(_: &T) {}
    let db = memory_db();
    assert_send_sync(&db);
    // And usable from another thread.
    let other = db.clone();
    let version =
        std::thread::spawn(move || other.get("SELECT 14", &[]).map(|r| r.get(0).cloned()))
            .join()
            .expect("join")
            .expect("get");
    assert_eq!(version, Some(Value::Integer(14)));
}

#[test]
fn readers_refuse_writes() {
    let db = memory_db();
    db.execute("CREATE TABLE t(x)", &[]).expect("create");
    assert!(
        db.read(|tx| tx.execute("INSERT INTO t VALUES (1)", &[]))
            .is_err()
    );
}

#[test]
fn listeners_hear_about_commits_only() {
    let db = memory_db();
    db.execute("CREATE TABLE a(x)", &[]).expect("create");
    db.execute("CREATE TABLE b(x)", &[]).expect("create");
    let seen: Arc<Mutex<Vec<BTreeSet<String>>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let handle = db.add_table_listener(Box::new(move |tables| sink.lock().push(tables.clone())));

    let _ = db.write(|tx| {
        tx.execute("INSERT INTO a VALUES (1)", &[])?;
        Err::<(), _>(Error::state("roll back"))
    });
    assert!(
        seen.lock().is_empty(),
        "rolled back writes are not reported"
    );

    db.write(|tx| {
        tx.execute("INSERT INTO a VALUES (1)", &[])?;
        tx.execute("INSERT INTO b VALUES (1)", &[])?;
        // Not yet committed: nothing delivered.
        assert!(sink_is_empty(&seen));
        Ok(())
    })
    .expect("write");
    let expected: BTreeSet<String> = ["a".to_owned(), "b".to_owned()].into();
    assert_eq!(seen.lock().as_slice(), [expected]);

    // (An unconditional DELETE uses the truncate optimization, which SQLite does not report.)
    db.execute("DELETE FROM a WHERE x = 1", &[])
        .expect("autocommit delete");
    assert_eq!(seen.lock().len(), 2);

    drop(handle);
    db.execute("INSERT INTO a VALUES (2)", &[]).expect("insert");
    assert_eq!(seen.lock().len(), 2, "dropped handle unregisters");
}

fn sink_is_empty(seen: &Arc<Mutex<Vec<BTreeSet<String>>>>) -> bool {
    seen.lock().is_empty()
}

#[test]
fn listener_may_use_the_database() {
    let db = memory_db();
    db.execute("CREATE TABLE a(x)", &[]).expect("create");
    let reader = db.clone();
    let counts: Arc<Mutex<Vec<i64>>> = Arc::default();
    let sink = Arc::clone(&counts);
    let _handle = db.add_table_listener(Box::new(move |_| {
        // Called without locks: re-entering the database must not deadlock.
        let n = reader
            .get("SELECT count(*) FROM a", &[])
            .ok()
            .and_then(|r| r.get(0).and_then(Value::as_i64));
        sink.lock().extend(n);
    }));
    db.execute("INSERT INTO a VALUES (1)", &[]).expect("insert");
    assert_eq!(counts.lock().as_slice(), [1]);
}

#[test]
fn in_memory_databases_are_separate() {
    let a = memory_db();
    let b = memory_db();
    a.execute("CREATE TABLE only_in_a(x)", &[]).expect("create");
    assert!(b.get("SELECT * FROM only_in_a", &[]).is_err());
    // The readers of `a` see the writer's table.
    assert!(a.get_all("SELECT * FROM only_in_a", &[]).is_ok());
}

#[test]
fn open_runs_migrations() {
    let db = memory_db();
    let version = db
        .get("SELECT max(id) FROM ps_migration", &[])
        .expect("version");
    assert_eq!(version.get(0), Some(&Value::Integer(14)));
}

#[test]
fn nested_write_on_the_same_thread_fails_instead_of_deadlocking() {
    let db = memory_db();
    let inner = db.clone();
    let nested = db
        .write(|_| Ok(inner.write(|_| Ok(())).is_err()))
        .expect("outer write");
    assert!(nested);
    let inner = db.clone();
    let nested_execute = db
        .write(|_| Ok(inner.execute("SELECT 1", &[]).is_err()))
        .expect("outer write");
    assert!(nested_execute);
    // The outer write released the writer properly.
    db.execute("CREATE TABLE t(x)", &[])
        .expect("writer free again");
}

#[test]
fn concurrent_writers_are_serialized() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path().join("writers.db")).expect("open");
    db.execute("CREATE TABLE counter(n INTEGER)", &[])
        .expect("create");
    db.execute("INSERT INTO counter VALUES (0)", &[])
        .expect("seed");
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    db.write(|tx| {
                        let n = tx
                            .get("SELECT n FROM counter", &[])?
                            .get(0)
                            .and_then(Value::as_i64);
                        tx.execute(
                            "UPDATE counter SET n = ?1",
                            &[Value::from(n.unwrap_or(0) + 1)],
                        )?;
                        Ok(())
                    })
                    .expect("increment");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("join");
    }
    assert_eq!(count(&db, "counter"), 1);
    let n = db.get("SELECT n FROM counter", &[]).expect("n");
    assert_eq!(n.get(0), Some(&Value::Integer(100)));
}

#[test]
fn close_during_a_read_lets_the_read_finish() {
    let db = memory_db();
    let closer = db.clone();
    let value = db
        .read(|tx| {
            closer.close()?;
            Ok(tx.get("SELECT 42", &[])?.get(0).cloned())
        })
        .expect("read finishes");
    assert_eq!(value, Some(Value::Integer(42)));
    assert!(matches!(
        db.get("SELECT 1", &[]).expect_err("closed").kind(),
        crate::ErrorKind::Closed
    ));
}

#[test]
fn close_inside_a_write_is_refused() {
    let db = memory_db();
    let closer = db.clone();
    let refused = db.write(|_| Ok(closer.close().is_err())).expect("write");
    assert!(refused);
    assert!(!db.is_closed());
    db.close().expect("close afterwards");
}

/// Size of the main database file in pages of 4 KiB.
fn file_pages(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len() / 4096).unwrap_or(0)
}

#[test]
fn large_commits_are_checkpointed_in_the_background_and_close_removes_the_wal() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("ckpt.db");
    let db = Database::open(&path).expect("open");
    db.execute("CREATE TABLE t(x BLOB)", &[]).expect("create");
    let before = file_pages(&path);
    // ~2400 pages in one commit: past the 1000-page threshold, so the WAL hook wakes the
    // checkpointer, which copies the pages into the main file without another write.
    db.write(|tx| {
        for _ in 0..600 {
            tx.execute("INSERT INTO t VALUES (randomblob(16000))", &[])?;
        }
        Ok(())
    })
    .expect("large write");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while file_pages(&path) < before + 2000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the background checkpoint did not copy the WAL into the database file"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(count(&db, "t"), 600);
    db.close().expect("close");
    assert!(
        !dir.path().join("ckpt.db-wal").exists(),
        "closing checkpoints and removes the WAL"
    );
    let reopened = Database::open(&path).expect("reopen");
    assert_eq!(count(&reopened, "t"), 600);
}

#[test]
fn opening_and_dropping_repeatedly_keeps_every_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("idle.db");
    for _ in 0..20 {
        // Each open starts a checkpoint thread and each drop stops it (joining it).
        let db = Database::open(&path).expect("open");
        db.execute("CREATE TABLE IF NOT EXISTS t(x)", &[])
            .expect("create");
        db.execute("INSERT INTO t VALUES (1)", &[]).expect("insert");
    }
    let db = Database::open(&path).expect("open");
    assert_eq!(count(&db, "t"), 20);
}
