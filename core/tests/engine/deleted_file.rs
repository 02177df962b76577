// SPDX-License-Identifier: Apache-2.0
//! A database file deleted while open: SQLite would keep writing to the unlinked file (lost at
//! close); the next write fails with an error naming the file instead.

use psync_core::Database;

#[test]
fn writes_to_a_deleted_database_file_fail_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.db");
    let db = Database::open(&path).expect("open");
    db.execute("CREATE TABLE t(x)", &[]).expect("create");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let error = db
        .execute("INSERT INTO t VALUES (1)", &[])
        .expect_err("the write is refused");
    assert!(error.to_string().contains("was deleted"), "{error}");
    assert!(error.to_string().contains("app.db"), "{error}");
    db.close().expect("close");
}

#[test]
fn a_replaced_database_file_is_noticed_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("app.db");
    let db = Database::open(&path).expect("open");
    let other = dir.path().join("other.db");
    Database::open(&other)
        .expect("other")
        .close()
        .expect("close");
    std::fs::rename(&other, &path).expect("replace");
    assert!(db.execute("CREATE TABLE t(x)", &[]).is_err());
}
