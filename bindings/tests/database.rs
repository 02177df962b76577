// SPDX-License-Identifier: Apache-2.0
//! The exported API driven from Rust, with the foreign traits implemented in Rust: thread
//! hops of listeners, cancellation, close semantics and error mapping.

// Tests: a failing unwrap is a failing test (the workspace denies unwrap outside tests).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::mpsc::{Sender, channel};
use std::thread::ThreadId;
use std::time::Duration;

use parking_lot::Mutex;
use psync_ffi::{Database, Statement, SyncError, Value};

mod common;
use common::{ChannelListener, schema, text, wait};

#[test]
fn table_listener_is_called_on_a_psync_thread_with_changed_tables() {
    let db = Database::open_in_memory(schema()).unwrap();
    let (listener, updates) = ChannelListener::new();
    let handle = db.add_table_listener(vec![], listener).unwrap();

    wait(db.execute(
        "INSERT INTO todos (id, title) VALUES (uuid(), ?)".into(),
        vec![text("a")],
    ))
    .unwrap();

    let (thread, tables) = updates.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_ne!(thread, std::thread::current().id());
    assert!(tables.contains(&"todos".to_string()), "{tables:?}");
    assert!(
        !tables.iter().any(|t| t.starts_with("ps_data")),
        "{tables:?}"
    );
    handle.cancel();
}

#[test]
fn table_listener_with_tables_reports_only_those() {
    let db = Database::open_in_memory(schema()).unwrap();
    wait(db.execute("CREATE TABLE notes (body TEXT)".into(), vec![])).unwrap();
    let (listener, updates) = ChannelListener::new();
    let handle = db
        .add_table_listener(vec!["todos".into()], listener)
        .unwrap();

    wait(db.execute("INSERT INTO notes VALUES ('ignored')".into(), vec![])).unwrap();
    wait(db.execute(
        "INSERT INTO todos (id, title) VALUES (uuid(), 'a')".into(),
        vec![],
    ))
    .unwrap();

    let (_, tables) = updates.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(tables, vec!["todos".to_string()]);
    assert!(updates.recv_timeout(Duration::from_millis(200)).is_err());
    handle.cancel();
}

#[test]
fn cancelled_table_listener_is_not_called_again() {
    let db = Database::open_in_memory(schema()).unwrap();
    let (listener, updates) = ChannelListener::new();
    let handle = db.add_table_listener(vec![], listener).unwrap();
    handle.cancel();
    assert!(handle.is_finished());

    wait(db.execute(
        "INSERT INTO todos (id, title) VALUES (uuid(), 'a')".into(),
        vec![],
    ))
    .unwrap();

    assert!(updates.recv_timeout(Duration::from_millis(300)).is_err());
}

#[test]
fn write_batch_rolls_back_every_statement_when_one_fails() {
    let db = Database::open_in_memory(schema()).unwrap();
    let insert = Statement {
        sql: "INSERT INTO todos (id, title) VALUES ('1', 'a')".into(),
        params: vec![],
    };
    let broken = Statement {
        sql: "INSERT INTO no_such_table VALUES (1)".into(),
        params: vec![],
    };

    let result = wait(db.write_batch(vec![insert, broken]));

    assert!(matches!(result, Err(SyncError::Sql { .. })));
    let count = wait(db.get("SELECT count(*) AS n FROM todos".into(), vec![])).unwrap();
    assert_eq!(count.values, vec![Value::Integer { value: 0 }]);
}

#[test]
fn close_is_idempotent_and_later_calls_fail_with_closed() {
    let db = Database::open_in_memory(schema()).unwrap();

    db.close().unwrap();
    db.close().unwrap();

    assert!(matches!(
        wait(db.get_all("SELECT 1".into(), vec![])),
        Err(SyncError::Closed)
    ));
    let (listener, _updates) = ChannelListener::new();
    assert!(matches!(
        db.add_table_listener(vec![], listener),
        Err(SyncError::Closed)
    ));
}

#[test]
fn local_writes_reach_the_upload_queue_and_complete_removes_them() {
    let db = Database::open_in_memory(schema()).unwrap();
    wait(db.execute(
        "INSERT INTO todos (id, title) VALUES ('t1', ?)".into(),
        vec![text("milk")],
    ))
    .unwrap();

    let batch = wait(db.get_crud_batch(10)).unwrap().unwrap();
    let entries = batch.entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].id, "t1");
    assert_eq!(entries[0].data_json.as_deref(), Some(r#"{"title":"milk"}"#));
    wait(batch.complete(None)).unwrap();

    assert!(wait(db.get_crud_batch(10)).unwrap().is_none());
}

#[test]
fn invalid_schema_is_an_invalid_argument() {
    let mut bad = schema();
    bad.tables.push(bad.tables[0].clone());

    let result = Database::open_in_memory(bad);

    assert!(matches!(result, Err(SyncError::InvalidArgument { .. })));
}

#[derive(Debug)]
struct StatusChannel {
    updates: Mutex<Sender<(ThreadId, psync_ffi::SyncStatus)>>,
}

impl psync_ffi::StatusListener for StatusChannel {
    fn on_status(&self, status: psync_ffi::SyncStatus) {
        let _ = self
            .updates
            .lock()
            .send((std::thread::current().id(), status));
    }
}

#[test]
fn status_listener_gets_the_current_status_at_once_on_a_psync_thread() {
    let db = Database::open_in_memory(schema()).unwrap();
    let (sender, updates) = channel();
    let listener = Arc::new(StatusChannel {
        updates: Mutex::new(sender),
    });

    let handle = db.add_status_listener(listener).unwrap();

    let (thread, status) = updates.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_ne!(thread, std::thread::current().id());
    assert_eq!(status, db.current_status());
    assert!(!status.connected);
    handle.cancel();
}

#[test]
fn request_checkpoint_without_connect_is_not_connected() {
    let db = Database::open_in_memory(schema()).unwrap();

    let result = wait(db.request_checkpoint());

    assert!(
        matches!(result, Err(SyncError::NotConnected)),
        "{:?}",
        result.as_ref().err()
    );
}

#[derive(Debug)]
struct RowsChannel {
    updates: Mutex<Sender<Vec<psync_ffi::Row>>>,
}

impl psync_ffi::QueryListener for RowsChannel {
    fn on_update(&self, rows: Vec<psync_ffi::Row>) {
        let _ = self.updates.lock().send(rows);
    }
}

#[test]
fn watch_emits_rows_now_and_after_a_relevant_commit() {
    let db = Database::open_in_memory(schema()).unwrap();
    let (sender, updates) = channel();
    let listener = Arc::new(RowsChannel {
        updates: Mutex::new(sender),
    });
    let handle = db
        .watch("SELECT title FROM todos".into(), vec![], 0, listener)
        .unwrap();
    assert!(
        updates
            .recv_timeout(Duration::from_secs(5))
            .unwrap()
            .is_empty()
    );

    wait(db.execute(
        "INSERT INTO todos (id, title) VALUES (uuid(), ?)".into(),
        vec![text("a")],
    ))
    .unwrap();

    let rows = updates.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].values, vec![text("a")]);
    handle.cancel();
}

#[test]
fn dropped_transaction_rolls_back_and_frees_the_writer() {
    let db = Database::open_in_memory(schema()).unwrap();
    let tx = wait(db.write_transaction()).unwrap();
    wait(tx.execute(
        "INSERT INTO todos (id, title) VALUES ('t1', 'dropped')".into(),
        vec![],
    ))
    .unwrap();

    drop(tx);

    // Would wait forever if the dropped transaction still held the writer.
    wait(db.execute(
        "INSERT INTO todos (id, title) VALUES ('t2', 'kept')".into(),
        vec![],
    ))
    .unwrap();
    let rows = wait(db.get_all("SELECT id FROM todos".into(), vec![])).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].values, vec![text("t2")]);
}

#[test]
fn committed_transaction_is_visible_and_ended() {
    let db = Database::open_in_memory(schema()).unwrap();
    let tx = wait(db.write_transaction()).unwrap();
    wait(tx.execute(
        "INSERT INTO todos (id, title) VALUES ('t1', 'a')".into(),
        vec![],
    ))
    .unwrap();
    let inside = wait(tx.get("SELECT title FROM todos".into(), vec![])).unwrap();
    assert_eq!(inside.values, vec![text("a")]);

    wait(tx.commit()).unwrap();

    assert!(matches!(
        wait(tx.execute("SELECT 1".into(), vec![])),
        Err(SyncError::InvalidArgument { .. })
    ));
    let row = wait(db.get("SELECT title FROM todos".into(), vec![])).unwrap();
    assert_eq!(row.values, vec![text("a")]);
}
