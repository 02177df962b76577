// SPDX-License-Identifier: Apache-2.0
//! Differential test of local writes: the same statements on our core and (when available) on
//! the reference core 0.5.3 must leave identical `ps_crud`, `ps_updated_rows`, `ps_kv`, `ps_tx`
//! and data tables.

#[path = "schema_common/mod.rs"]
mod common;

/// Statements run on both our core and the reference core 0.5.3 in the differential test.
const DIFF_SCHEMA: &str = r#"{"tables":[
 {"name":"items","columns":[{"name":"col","type":"text"},{"name":"n","type":"integer"},{"name":"r","type":"real"}]},
 {"name":"loc","columns":[{"name":"col","type":"text"}],"local_only":true},
 {"name":"ins","columns":[{"name":"col","type":"text"}],"insert_only":true},
 {"name":"meta","columns":[{"name":"col","type":"text"}],"include_metadata":true,"include_old":true},
 {"name":"oldc","columns":[{"name":"a","type":"text"},{"name":"b","type":"text"}],"include_old":["a"],"include_old_only_when_changed":true,"ignore_empty_update":true}
]}"#;

const DIFF_STATEMENTS: &[&str] = &[
    "INSERT INTO items(id, col, n, r) VALUES ('i1', 'x', 1, 1.5)",
    "INSERT INTO items(id, col) VALUES ('i2', json_object('a', 1))",
    "INSERT INTO items(id, n) VALUES ('i3', 'not a number')",
    "INSERT INTO items(id, col) VALUES (NULL, 'x')",
    "INSERT INTO items(id, col) VALUES (5, 'x')",
    "UPDATE items SET n = n + 1 WHERE id = 'i1'",
    "UPDATE items SET id = 'other' WHERE id = 'i1'",
    "UPDATE items SET col = col",
    "BEGIN; INSERT INTO items(id) VALUES ('t1'); INSERT INTO ins(id, col) VALUES ('n1', 'v'); DELETE FROM items WHERE id = 't1'; COMMIT;",
    "BEGIN; INSERT INTO items(id) VALUES ('t2'); ROLLBACK;",
    "INSERT INTO loc(id, col) VALUES ('l1', 'x')",
    "UPDATE loc SET col = 'y'",
    "INSERT INTO ins(id, col) VALUES ('n2', NULL)",
    "UPDATE ins SET col = 'z'",
    "INSERT INTO meta(id, col, _metadata) VALUES ('m1', 'a', 'created')",
    "UPDATE meta SET col = 'b', _metadata = 42",
    "UPDATE meta SET _deleted = TRUE, _metadata = 'gone'",
    "INSERT INTO oldc(id, a, b) VALUES ('o1', 'a', 'b')",
    "UPDATE oldc SET b = 'b2'",
    "UPDATE oldc SET a = a",
    "UPDATE oldc SET a = 'a2', b = NULL",
    "DELETE FROM oldc",
    "INSERT INTO powersync_crud(op, id, type, data, options) VALUES ('PATCH', 'v', 'vt', '{}', 16)",
    "INSERT INTO powersync_crud_(data, options) VALUES ('{\"op\":\"PATCH\",\"type\":\"x\",\"id\":\"1\",\"data\":{}}', 16)",
    "INSERT INTO powersync_crud_(data) VALUES ('{\"op\":\"PUT\",\"type\":\"x\",\"id\":\"1\",\"data\":{}}')",
];

fn observable_state(conn: &rusqlite::Connection) -> Vec<String> {
    let mut out = Vec::new();
    for sql in [
        "SELECT id || '|' || ifnull(tx_id, 'null') || '|' || data FROM ps_crud ORDER BY id",
        "SELECT row_type || '|' || row_id FROM ps_updated_rows ORDER BY 1",
        "SELECT key || '|' || ifnull(value, 'null') FROM ps_kv WHERE key != 'client_id' ORDER BY key",
        "SELECT 'tx|' || next_tx FROM ps_tx",
        "SELECT 'items|' || id || '|' || data FROM ps_data__items ORDER BY id",
        "SELECT 'loc|' || id || '|' || data FROM ps_data_local__loc ORDER BY id",
        "SELECT 'meta|' || id || '|' || data FROM ps_data__meta ORDER BY id",
        "SELECT 'untyped|' || count(*) FROM ps_untyped",
    ] {
        let mut stmt = conn.prepare(sql).expect("prepare");
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .expect("query");
        out.extend(rows.map(|r| r.expect("row")));
    }
    out
}

fn run_differential_statements(conn: &rusqlite::Connection) -> Vec<String> {
    conn.execute_batch("BEGIN").expect("begin");
    conn.query_row("SELECT powersync_replace_schema(?)", [DIFF_SCHEMA], |_| {
        Ok(())
    })
    .expect("schema");
    conn.execute_batch("COMMIT").expect("commit");
    let mut log = Vec::new();
    for sql in DIFF_STATEMENTS {
        let outcome = conn.execute_batch(sql);
        if outcome.is_err() && !conn.is_autocommit() {
            conn.execute_batch("ROLLBACK").expect("rollback");
        }
        log.push(format!(
            "{sql} => {}",
            if outcome.is_ok() { "ok" } else { "error" }
        ));
    }
    log.extend(observable_state(conn));
    log
}

/// Runs [`DIFF_STATEMENTS`] on our core and on the reference core 0.5.3 (the library named by
/// `PSYNC_REFERENCE_CORE`, which `cargo xtask test` fetches), and compares every observable table.
#[test]
fn local_writes_match_reference_core() {
    let ours = common::open();
    let our_log = run_differential_statements(&ours.conn);
    assert!(
        our_log
            .iter()
            .any(|l| l.contains(r#""op":"PATCH","id":"m1""#)),
        "{our_log:#?}"
    );
    let path = std::env::var("PSYNC_REFERENCE_CORE").expect(
        "PSYNC_REFERENCE_CORE must name the reference core 0.5.3 library; `cargo xtask test` fetches it and sets it",
    );
    let reference = rusqlite::Connection::open_in_memory().expect("open");
    // SAFETY: loading the trusted reference extension named by the test environment.
    unsafe {
        reference.load_extension_enable().expect("enable");
        reference
            .load_extension(&path, Some("sqlite3_powersync_init"))
            .expect("load reference core");
    }
    reference
        .execute_batch("BEGIN; SELECT powersync_init(); COMMIT;")
        .expect("init");
    let their_log = run_differential_statements(&reference);
    for (a, b) in our_log.iter().zip(their_log.iter()) {
        assert_eq!(a, b);
    }
    assert_eq!(our_log.len(), their_log.len());
}
