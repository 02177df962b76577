// SPDX-License-Identifier: Apache-2.0
//! Schema management scenarios (scenarios.md B.17–B.20), byte-equality of the generated SQL with
//! what core 0.5.3 wrote into the fixture databases, and rejection of bad schemas.

use psync_test_support::{engine, reference};

use psync_core::schema::{Column, Schema, Table, replace_schema};
use rusqlite::Connection;
use serde_json::Value;

/// `(type, name, tbl_name, sql)` of the schema-driven objects.
fn user_objects(
    rows: impl IntoIterator<Item = (String, String, String, Option<String>)>,
) -> Vec<(String, String, String, Option<String>)> {
    let mut rows: Vec<_> = rows
        .into_iter()
        .filter(|(ty, name, _, _)| {
            name.starts_with("ps_data_") || name.starts_with("ps_view_") || ty == "view"
        })
        .collect();
    rows.sort();
    rows
}

fn master(conn: &Connection) -> Vec<(String, String, String, Option<String>)> {
    engine::rows(
        conn,
        "SELECT type, name, tbl_name, sql FROM sqlite_master",
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
}

fn expected_master(fixture: &Value) -> Vec<(String, String, String, Option<String>)> {
    fixture["as_written"]["sqlite_master"]
        .as_array()
        .expect("array")
        .iter()
        .map(|row| {
            let s = |i: usize| row[i].as_str().map(str::to_string);
            (
                s(0).expect("type"),
                s(1).expect("name"),
                s(2).expect("tbl"),
                s(3),
            )
        })
        .collect()
}

#[test]
fn generated_sql_equals_core_053_sqlite_master() {
    let fixture = engine::expected(engine::FIXTURE_C);
    let schema = Schema::from_json(&fixture["schema"].to_string()).expect("fixture schema");
    let db = engine::open();
    db.apply(&schema);
    let ours = user_objects(master(&db.conn));
    let theirs = user_objects(expected_master(&fixture));
    assert!(!theirs.is_empty());
    // Exact text, no whitespace normalisation.
    assert_eq!(ours, theirs);
}

#[test]
fn replacing_the_fixture_schema_on_real_core_files_changes_nothing() {
    for name in [engine::FIXTURE_C, engine::FIXTURE_A] {
        let fixture = engine::expected(name);
        let (_dir, path) = engine::copy_fixture(name);
        let db = engine::register(Connection::open(&path).expect("open copy"));
        // Migrate first (the legacy file is at version 12); the fixtures record that replacing
        // the schema after `powersync_init` changes nothing.
        db.conn
            .execute_batch("BEGIN; SELECT powersync_init(); COMMIT;")
            .expect("migrate");
        let before = master(&db.conn);
        let version = db.schema_version();
        db.apply_schema(&fixture["schema"].to_string());
        assert_eq!(
            db.schema_version(),
            version,
            "{name}: schema_version must not change"
        );
        assert_eq!(master(&db.conn), before, "{name}");
    }
}

const USERS: &str = r#"{"tables":[{"name":"users","columns":[{"name":"name","type":"text"}]}]}"#;
const USERS_LOCAL: &str =
    r#"{"tables":[{"name":"users","columns":[{"name":"name","type":"text"}],"local_only":true}]}"#;

#[test]
fn b17_idempotent_schema() {
    let db = engine::open();
    db.apply_schema(USERS);
    let v1 = db.schema_version();
    db.apply_schema(USERS);
    assert_eq!(db.schema_version(), v1, "same schema: no DDL");
    db.apply_schema(r#"{"tables":[{"name":"users","columns":[{"name":"name","type":"text"},{"name":"age","type":"integer"}]}]}"#);
    let v2 = db.schema_version();
    assert!(v2 > v1, "changed table");
    db.apply_schema(
        r#"{"tables":[{"name":"users","columns":[{"name":"name","type":"text"},{"name":"age","type":"integer"}],
            "indexes":[{"name":"by_age","columns":[{"name":"age","ascending":false,"type":"integer"}]}]}]}"#,
    );
    assert!(db.schema_version() > v2, "added index");
    assert_eq!(
        db.count("SELECT count(*) FROM sqlite_master WHERE name = 'ps_data__users__by_age'"),
        1
    );
    let v3 = db.schema_version();
    db.apply_schema(r#"{"tables":[{"name":"users","columns":[{"name":"name","type":"text"},{"name":"age","type":"integer"}]}]}"#);
    assert!(db.schema_version() > v3);
    assert_eq!(
        db.count(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name GLOB 'ps_data_*'"
        ),
        0,
        "stale index dropped"
    );
}

#[test]
fn b18_synced_to_local_only() {
    let db = engine::open();
    db.apply_schema(USERS);
    db.conn
        .execute(
            r#"INSERT INTO ps_data__users(id, data) VALUES ('synced-id', '{"name":"x"}')"#,
            [],
        )
        .expect("row");
    db.apply_schema(USERS_LOCAL);
    assert_eq!(
        db.count("SELECT count(*) FROM sqlite_master WHERE name = 'ps_data__users'"),
        0
    );
    assert_eq!(
        db.count("SELECT count(*) FROM ps_untyped WHERE type = 'users' AND id = 'synced-id'"),
        1
    );
    assert_eq!(db.count("SELECT count(*) FROM users"), 0);
    db.conn
        .execute("INSERT INTO users(id, name) VALUES ('l', 'y')", [])
        .expect("insert");
    assert_eq!(db.count("SELECT count(*) FROM ps_crud"), 0);
    assert_eq!(db.count("SELECT count(*) FROM users"), 1);
}

#[test]
fn b19_local_only_to_synced_discards_local_rows() {
    let db = engine::open();
    db.apply_schema(USERS_LOCAL);
    db.conn
        .execute("INSERT INTO users(id, name) VALUES ('l', 'y')", [])
        .expect("insert");
    db.apply_schema(USERS);
    assert_eq!(db.count("SELECT count(*) FROM users"), 0);
    assert_eq!(
        db.count("SELECT count(*) FROM sqlite_master WHERE name = 'ps_data_local__users'"),
        0
    );
    assert_eq!(db.count("SELECT count(*) FROM ps_untyped"), 0);
}

#[test]
fn b20_untyped_rows_move_in_and_out() {
    let db = engine::open();
    db.apply_schema(USERS);
    db.conn
        .execute(
            r#"INSERT INTO ps_untyped(type, id, data) VALUES ('other', 'o1', '{"name":"n"}')"#,
            [],
        )
        .expect("row");
    db.apply_schema(
        r#"{"tables":[{"name":"users","columns":[{"name":"name","type":"text"}]},{"name":"other","columns":[{"name":"name","type":"text"}]}]}"#,
    );
    assert_eq!(db.count("SELECT count(*) FROM ps_untyped"), 0);
    assert_eq!(
        db.conn
            .query_row("SELECT name FROM other WHERE id = 'o1'", [], |r| r
                .get::<_, String>(0))
            .expect("moved"),
        "n"
    );
    // Removing the table moves its rows back.
    db.apply_schema(USERS);
    assert_eq!(
        db.count("SELECT count(*) FROM ps_untyped WHERE type = 'other'"),
        1
    );
    assert_eq!(
        db.count("SELECT count(*) FROM sqlite_master WHERE name IN ('other', 'ps_data__other')"),
        0
    );
}

#[test]
fn view_name_override_and_schema_state() {
    let db = engine::open();
    db.apply_schema(r#"{"tables":[{"name":"users","view_name":"people","columns":[{"name":"name","type":"text"}]}]}"#);
    db.conn
        .execute("INSERT INTO people(id, name) VALUES ('a', 'b')", [])
        .expect("insert");
    assert_eq!(db.crud_json()[0]["type"], "users");
    let current = db.state.schema.current().expect("remembered");
    assert_eq!(current.tables[0].view_name(), "people");
}

fn assert_rejected(db: &engine::TestDb, json: &str, needle: &str) {
    let before = master(&db.conn);
    let version = db.schema_version();
    db.conn.execute_batch("BEGIN").expect("begin");
    let err = db
        .conn
        .query_row("SELECT powersync_replace_schema(?)", [json], |_| Ok(()))
        .expect_err("must be rejected");
    db.conn
        .execute_batch("COMMIT")
        .expect("commit what is left (must be nothing)");
    assert!(err.to_string().contains(needle), "{json}: {err}");
    assert_eq!(master(&db.conn), before, "{json}: nothing half-applied");
    assert_eq!(db.schema_version(), version);
}

#[test]
fn bad_schemas_are_rejected_with_clear_errors_and_change_nothing() {
    let db = engine::open();
    db.apply_schema(USERS);
    let t = |cols: &str, opts: &str| {
        format!(r#"{{"tables":[{{"name":"t","columns":[{cols}]{opts}}}]}}"#)
    };
    let cases: Vec<(String, &str)> = vec![
        ("{not json".into(), "invalid schema JSON"),
        (
            r#"{"tables":[{"name":"","columns":[]}]}"#.into(),
            "must not be empty",
        ),
        (
            r#"{"tables":[{"name":"a\"b","columns":[]}]}"#.into(),
            "contains '\"'",
        ),
        (
            r#"{"tables":[{"name":"a'b","columns":[]}]}"#.into(),
            "contains '''",
        ),
        (
            format!(
                r#"{{"tables":[{{"name":"{}","columns":[]}}]}}"#,
                "x".repeat(300)
            ),
            "longer than 255",
        ),
        (
            t(r#"{"name":"id","type":"text"}"#, ""),
            "\"id\" is not allowed",
        ),
        (
            t(
                r#"{"name":"a","type":"text"},{"name":"a","type":"text"}"#,
                "",
            ),
            "duplicate column",
        ),
        (
            r#"{"tables":[{"name":"t","columns":[]},{"name":"t","columns":[]}]}"#.into(),
            "duplicate table",
        ),
        (t(r#"{"name":"a","type":"blob"}"#, ""), "unsupported type"),
        (
            t(
                r#"{"name":"a","type":"text"}"#,
                r#","local_only":true,"include_metadata":true"#,
            ),
            "include_metadata",
        ),
        (
            t(
                r#"{"name":"a","type":"text"}"#,
                r#","local_only":true,"include_old":true"#,
            ),
            "include_old",
        ),
        (
            t(
                r#"{"name":"a","type":"text"}"#,
                r#","indexes":[{"name":"i","columns":[{"name":"b","type":"text"}]}]"#,
            ),
            "unknown column",
        ),
        (r#"{"tables":[{"name":"t"}]}"#.into(), "invalid schema JSON"),
    ];
    for (json, needle) in cases {
        assert_rejected(&db, &json, needle);
    }
    let too_many: Vec<String> = (0..2000)
        .map(|i| format!(r#"{{"name":"c{i}","type":"text"}}"#))
        .collect();
    assert_rejected(&db, &t(&too_many.join(","), ""), "maximum of 1999");
}

#[test]
fn ddl_failure_midway_is_rolled_back() {
    let db = engine::open();
    db.apply_schema(USERS);
    // An app-owned table with the name the new view needs makes CREATE VIEW fail after the
    // storage table was already created.
    db.conn
        .execute_batch("CREATE TABLE clash(x)")
        .expect("app table");
    let json = r#"{"tables":[{"name":"users","columns":[{"name":"name","type":"text"}]},{"name":"clash","columns":[{"name":"a","type":"text"}]}]}"#;
    let before = master(&db.conn);
    db.conn.execute_batch("BEGIN").expect("begin");
    assert!(
        db.conn
            .query_row("SELECT powersync_replace_schema(?)", [json], |_| Ok(()))
            .is_err()
    );
    db.conn.execute_batch("COMMIT").expect("commit");
    assert_eq!(master(&db.conn), before);

    // The Rust API behaves the same.
    let schema = Schema::from_json(json).expect("valid");
    let tx = db.conn.unchecked_transaction().expect("tx");
    assert!(replace_schema(&tx, &schema).is_err());
    tx.commit().expect("commit");
    assert_eq!(master(&db.conn), before);
}

#[test]
fn replace_schema_requires_a_transaction() {
    let db = engine::open();
    let schema = Schema::new([Table::new("t", [Column::text("a")])]);
    let err = replace_schema(&db.conn, &schema).expect_err("autocommit");
    assert!(err.to_string().contains("transaction"));
    let err = db
        .conn
        .query_row(
            "SELECT powersync_replace_schema(?)",
            [schema.to_json().expect("json")],
            |_| Ok(()),
        )
        .expect_err("autocommit");
    assert_eq!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ApiMisuse)
    );
    assert_eq!(
        db.count("SELECT count(*) FROM sqlite_master WHERE name = 't'"),
        0
    );
}

/// Every option combination the trigger generator distinguishes.
const VARIANTS_SCHEMA: &str = r#"{"tables":[
 {"name":"plain","columns":[{"name":"a","type":"TEXT"},{"name":"b","type":"integer"},{"name":"c","type":"REAL"}],
  "indexes":[{"name":"ab","columns":[{"name":"a","ascending":true,"type":"text"},{"name":"b","ascending":false,"type":"integer"}]}]},
 {"name":"local","columns":[{"name":"a","type":"text"}],"local_only":true,
  "indexes":[{"name":"a","columns":[{"name":"a","ascending":true,"type":"text"}]}]},
 {"name":"ins","columns":[{"name":"a","type":"text"}],"insert_only":true},
 {"name":"ins_local","columns":[{"name":"a","type":"text"}],"insert_only":true,"local_only":true},
 {"name":"meta","columns":[{"name":"a","type":"text"}],"include_metadata":true},
 {"name":"old_all","columns":[{"name":"a","type":"text"},{"name":"b","type":"text"}],"include_old":true},
 {"name":"old_some","columns":[{"name":"a","type":"text"},{"name":"b","type":"text"}],"include_old":["b"]},
 {"name":"old_changed","columns":[{"name":"a","type":"text"},{"name":"b","type":"text"}],"include_old":["a"],"include_old_only_when_changed":true},
 {"name":"everything","view_name":"every view","columns":[{"name":"we ird","type":"text"},{"name":"b","type":"integer"}],
  "include_metadata":true,"include_old":true,"include_old_only_when_changed":true,"ignore_empty_update":true},
 {"name":"empty_upd","columns":[{"name":"a","type":"text"}],"ignore_empty_update":true},
 {"name":"nocols","columns":[]},
 WIDE
],"raw_tables":[]}"#;

fn variants_schema() -> String {
    let cols: Vec<String> = (0..120)
        .map(|i| format!(r#"{{"name":"c{i}","type":"text"}}"#))
        .collect();
    VARIANTS_SCHEMA.replace(
        "WIDE",
        &format!(r#"{{"name":"wide","columns":[{}],"include_old":true,"include_old_only_when_changed":true}}"#, cols.join(",")),
    )
}

#[test]
fn variants_apply_and_reapply_without_changes() {
    let db = engine::open();
    db.apply_schema(&variants_schema());
    let version = db.schema_version();
    db.apply_schema(&variants_schema());
    assert_eq!(db.schema_version(), version);
    db.conn
        .execute(
            r#"INSERT INTO "every view"(id, "we ird", b, _metadata) VALUES ('x', 'y', 1, 'm')"#,
            [],
        )
        .expect("insert");
    db.conn
        .execute(r#"UPDATE "every view" SET b = 1"#, [])
        .expect("empty update ignored");
    assert_eq!(db.crud_rows().len(), 1);
}

/// Differential check against the real core 0.5.3 (`cargo xtask test` fetches it).
#[test]
fn variants_match_reference_core() {
    let ours = engine::open();
    ours.apply_schema(&variants_schema());
    let our_objects = user_objects(master(&ours.conn));
    assert!(our_objects.len() > 30);
    let theirs = user_objects(
        reference::reference_sqlite_master_for_schema(&variants_schema())
            .expect("the reference core applies the schema"),
    );
    for (a, b) in our_objects.iter().zip(theirs.iter()) {
        assert_eq!(a, b);
    }
    assert_eq!(our_objects.len(), theirs.len());
}
