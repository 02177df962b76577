// SPDX-License-Identifier: Apache-2.0
//! `shutdown()`, the process-exit path the wrappers call (Python `atexit`, a JVM shutdown
//! hook). Its own test binary: shutdown is for good, for the whole process.

// Tests: a failing unwrap is a failing test (the workspace denies unwrap outside tests).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use psync_ffi::{Database, SyncError, shutdown};

mod common;
use common::{ChannelListener, schema, text, wait};

#[test]
fn shutdown_closes_open_databases_stops_listeners_and_releases_nothing_on_psync_threads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("open-at-exit.db");
    let db = Database::open(path.to_string_lossy().into_owned(), schema()).unwrap();
    let (listener, updates) = ChannelListener::new();
    let handle = db.add_table_listener(vec![], listener.clone()).unwrap();
    wait(db.execute(
        "INSERT INTO todos (id, title) VALUES ('t1', ?)".into(),
        vec![text("kept")],
    ))
    .unwrap();
    updates.recv_timeout(Duration::from_secs(5)).unwrap();

    shutdown();

    assert!(db.is_closed());
    assert!(matches!(
        wait(db.execute("SELECT 1".into(), vec![])),
        Err(SyncError::Closed)
    ));
    assert!(handle.is_finished());
    // The listener task was dropped on a psync thread after shutdown began: the host object
    // it held was leaked, not released (releasing is a call into a host that may be gone).
    drop(handle);
    assert_eq!(Arc::strong_count(&listener), 2);
    // Closed, not abandoned: the last connection folded the WAL into the file.
    assert!(!std::path::Path::new(&format!("{}-wal", path.display())).exists());

    // Databases still open; nothing can start psync threads again; closing still works.
    let late = Database::open(path.to_string_lossy().into_owned(), schema()).unwrap();
    let row = wait(late.get("SELECT title FROM todos WHERE id = 't1'".into(), vec![])).unwrap();
    assert_eq!(row.values, vec![text("kept")]);
    let (late_listener, _late_updates) = ChannelListener::new();
    let refused = late.add_table_listener(vec![], late_listener).unwrap_err();
    assert!(refused.to_string().contains("shut down"), "{refused}");
    late.close().unwrap();
    shutdown(); // idempotent
}
