// SPDX-License-Identifier: Apache-2.0
//! Unit tests for the migration runner.

use super::*;
use crate::Database;

#[test]
fn down_json_matches_reference_encoding() {
    assert_eq!(
        down_json(&["A", "B \"q\"\nC"], false),
        r#"[{"sql":"A"},{"sql":"B \"q\"\nC"}]"#
    );
    assert_eq!(down_json(&["A"], true), r#"[{"sql":"A","params":[]}]"#);
}

#[test]
fn management_functions_refuse_autocommit() {
    let db = Database::open_in_memory().expect("open");
    for sql in [
        "SELECT powersync_init()",
        "SELECT powersync_test_migration(13)",
    ] {
        let err = db.execute(sql, &[]).expect_err("autocommit must fail");
        assert_eq!(
            err.sqlite_code(),
            Some(rusqlite::ErrorCode::ApiMisuse),
            "{sql}"
        );
        assert!(
            err.to_string()
                .contains("This function may only be called in transactions."),
            "{err}"
        );
    }
}

#[test]
fn client_id_is_a_v4_uuid() {
    let db = Database::open_in_memory().expect("open");
    let row = db
        .get("SELECT value FROM ps_kv WHERE key = 'client_id'", &[])
        .expect("client id");
    let id = row.get(0).and_then(Value::as_str).expect("text").to_owned();
    assert_eq!(id.len(), 36);
    assert_eq!(&id[14..15], "4");
    assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
}
