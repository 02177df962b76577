// SPDX-License-Identifier: Apache-2.0
//! Runs the built `psync-shell` binary.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value as Json, json};

fn shell() -> Command {
    Command::new(env!("CARGO_BIN_EXE_psync-shell"))
}

/// Feeds `input` on stdin; returns the parsed output lines and whether the exit was success.
fn run_stdin(db: &std::path::Path, input: &str) -> (Vec<Json>, bool) {
    let mut child = shell()
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("wait");
    let lines = String::from_utf8(output.stdout)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    (lines, output.status.success())
}

#[test]
fn prints_one_json_line_per_statement() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("shell.db");
    let input = "CREATE TABLE t(a, b)\n\n\
                 INSERT INTO t VALUES (1, 'x'), (2.5, x'00ff'), (NULL, 'y')\n\
                 SELECT a, b FROM t ORDER BY rowid\n\
                 SELECT max(id) FROM ps_migration\n";
    let (lines, ok) = run_stdin(&db, input);
    assert!(ok);
    assert_eq!(
        lines,
        vec![
            json!({"rows": []}),
            json!({"rows": []}),
            json!({"rows": [[1, "x"], [2.5, {"blob": "00ff"}], [null, "y"]]}),
            json!({"rows": [[14]]}),
        ]
    );
}

#[test]
fn keeps_going_after_errors_and_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("shell.db");
    let (lines, ok) = run_stdin(&db, "SELECT * FROM missing\nSELECT 7\n");
    assert!(!ok);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], json!({"error": "no such table: missing"}));
    assert_eq!(lines[1], json!({"rows": [[7]]}));
}

#[test]
fn transactions_are_what_the_input_says() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("shell.db");
    let input = "SELECT powersync_init()\n\
                 BEGIN\n\
                 SELECT powersync_init()\n\
                 CREATE TABLE t(x)\n\
                 INSERT INTO t VALUES (1)\n\
                 ROLLBACK\n\
                 SELECT count(*) FROM sqlite_master WHERE name = 't'\n";
    let (lines, ok) = run_stdin(&db, input);
    assert!(!ok, "the autocommit powersync_init fails");
    assert_eq!(
        lines[0],
        json!({"error": "powersync_init: This function may only be called in transactions."})
    );
    assert_eq!(lines[2], json!({"rows": [[""]]}));
    assert_eq!(lines[6], json!({"rows": [[0]]}), "rolled back");
}

#[test]
fn single_statement_argument() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("shell.db");
    let output = shell()
        .arg(&db)
        .arg("SELECT key FROM ps_kv")
        .output()
        .expect("run");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).expect("utf8"),
        "{\"rows\":[[\"client_id\"]]}\n"
    );

    let failed = shell().arg(&db).arg("SELEC 1").output().expect("run");
    assert_eq!(failed.status.code(), Some(1));
    let line: Json = serde_json::from_slice(&failed.stdout).expect("json");
    assert!(
        line["error"]
            .as_str()
            .is_some_and(|m| m.contains("syntax error"))
    );
}

#[test]
fn unusable_file_reports_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("not.db");
    std::fs::write(&db, "plain text, not a database").expect("write");
    let output = shell().arg(&db).arg("SELECT 1").output().expect("run");
    assert_eq!(output.status.code(), Some(1));
    let line: Json = serde_json::from_slice(&output.stdout).expect("json");
    assert!(
        line["error"]
            .as_str()
            .is_some_and(|m| m.contains("not a SQLite database"))
    );
}
