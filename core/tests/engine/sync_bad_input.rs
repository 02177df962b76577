// SPDX-License-Identifier: Apache-2.0
//! Hostile and malformed input to the sync engine: every bad line fails cleanly (an error code,
//! never a panic) and leaves nothing half-applied; a proptest fuzzes the line decoders.

use psync_test_support::engine;

use engine::sync::line::{SyncLine, bson_to_value};
use proptest::prelude::*;
use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

struct Db(engine::TestDb);

fn open() -> Db {
    Db(engine::open_items())
}

fn code(e: &rusqlite::Error) -> (i32, String) {
    match e {
        rusqlite::Error::SqliteFailure(f, msg) => {
            (f.extended_code, msg.clone().unwrap_or_default())
        }
        other => panic!("unexpected error {other:?}"),
    }
}

impl Db {
    fn raw(&self, cmd: &str, payload: SqlValue) -> rusqlite::Result<SqlValue> {
        self.0.control_sql(cmd, payload)
    }

    fn line(&self, line: &Value) -> rusqlite::Result<SqlValue> {
        self.raw("line_text", SqlValue::Text(line.to_string()))
    }

    fn start(&self) {
        self.raw("start", SqlValue::Null).expect("start");
    }

    fn count(&self, sql: &str) -> i64 {
        self.0.count(sql)
    }

    fn active(&self) -> bool {
        self.0.state.sync.is_active()
    }
}

fn op(op_id: Value, kind: &str, id: &str, data: Value, checksum: Value) -> Value {
    json!({"op_id": op_id, "op": kind, "object_type": "items", "object_id": id,
           "data": data, "checksum": checksum})
}

fn data_line(ops: Vec<Value>) -> Value {
    json!({"data": {"bucket": "a", "data": ops}})
}

/// Runs a bad line on a fresh iteration and checks it failed with code 4 (protocol error),
/// ended the iteration, and stored nothing.
fn assert_rejected(line: Value, what: &str) {
    let db = open();
    db.start();
    let e = db.line(&line).expect_err(what);
    let (code, message) = code(&e);
    assert_eq!(code, 4, "{what}: {message}");
    assert!(message.contains("Sync protocol error"), "{what}: {message}");
    assert!(!db.active(), "{what}: iteration must end");
    assert_eq!(
        db.count("SELECT count(*) FROM ps_oplog"),
        0,
        "{what}: half-applied"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM ps_buckets"),
        0,
        "{what}: half-applied"
    );
}

#[test]
fn numeric_ids_are_protocol_errors() {
    assert_rejected(
        json!({"checkpoint": {"last_op_id": 1, "buckets": []}}),
        "numeric last_op_id",
    );
    assert_rejected(
        json!({"checkpoint": {"last_op_id": "1", "write_checkpoint": 3, "buckets": []}}),
        "numeric write_checkpoint",
    );
    assert_rejected(
        data_line(vec![op(json!(1), "PUT", "1", json!("{}"), json!(1))]),
        "numeric op_id",
    );
}

#[test]
fn a_bad_op_anywhere_in_a_line_stores_none_of_its_ops() {
    let good = op(json!("1"), "PUT", "1", json!("{}"), json!(1));
    assert_rejected(
        data_line(vec![
            good.clone(),
            op(json!("2"), "PUT", "2", json!({"col": 1}), json!(1)),
        ]),
        "nested data object",
    );
    assert_rejected(
        data_line(vec![
            good.clone(),
            op(json!("2"), "UPSERT", "2", json!("{}"), json!(1)),
        ]),
        "unknown op",
    );
    assert_rejected(
        data_line(vec![
            good.clone(),
            op(json!("2"), "PUT", "2", json!("{}"), json!(1.5)),
        ]),
        "fractional checksum",
    );
    assert_rejected(
        data_line(vec![
            good.clone(),
            op(json!("2"), "PUT", "2", json!("{}"), json!(4294967296_i64)),
        ]),
        "checksum above u32",
    );
    assert_rejected(
        data_line(vec![
            good,
            op(json!("x2"), "PUT", "2", json!("{}"), json!(1)),
        ]),
        "non-decimal op id",
    );
}

#[test]
fn absurd_counts_and_priorities_do_not_panic() {
    // A count beyond i64 is a decoding error; a huge or negative one is carried through.
    assert_rejected(
        json!({"checkpoint": {"last_op_id": "1", "buckets": [
            {"bucket": "a", "checksum": 0, "count": 1e30}]}}),
        "count beyond i64",
    );
    let db = open();
    db.start();
    for count in [i64::MAX, -5] {
        let out = db
            .line(&json!({"checkpoint": {"last_op_id": "1", "buckets": [
                {"bucket": "a", "checksum": 0, "count": count}]}}))
            .expect("checkpoint with odd count");
        assert!(matches!(out, SqlValue::Text(_)));
    }
    assert!(db.active());
}

#[test]
fn data_for_unknown_bucket_is_stored_and_dropped_on_the_next_connection() {
    let db = open();
    db.start();
    db.line(&json!({"checkpoint": {"last_op_id": "1", "buckets": []}}))
        .expect("checkpoint");
    db.line(&json!({"data": {"bucket": "stray", "data": [
        {"op_id": "1", "op": "PUT", "object_type": "items", "object_id": "1", "data": "{}", "checksum": 1}]}}))
        .expect("data for unknown bucket");
    assert_eq!(db.count("SELECT count(*) FROM ps_oplog"), 1);
    // Like the reference: deletions compare with the previous target (which did not list the
    // stray bucket), so it survives until the next connection requests it.
    db.line(&json!({"checkpoint": {"last_op_id": "2", "buckets": []}}))
        .expect("checkpoint");
    assert_eq!(db.count("SELECT count(*) FROM ps_buckets"), 1);
    db.raw("stop", SqlValue::Null).expect("stop");
    let start = db.raw("start", SqlValue::Null).expect("start");
    let SqlValue::Text(start) = start else {
        panic!("instructions")
    };
    // Parse rather than match text: key order depends on serde_json's `preserve_order`, which
    // feature unification turns on in some builds.
    let start: serde_json::Value = serde_json::from_str(&start).expect("instructions JSON");
    assert_eq!(
        start[1]["EstablishSyncStream"]["request"]["buckets"],
        json!([{"name": "stray", "after": "1"}]),
        "{start}"
    );
    db.line(&json!({"checkpoint": {"last_op_id": "2", "buckets": []}}))
        .expect("checkpoint");
    assert_eq!(db.count("SELECT count(*) FROM ps_buckets"), 0);
    assert_eq!(db.count("SELECT count(*) FROM ps_oplog"), 0);
}

#[test]
fn malformed_bson_is_a_protocol_error() {
    let good = engine::bson_line(&json!({"token_expires_in": 100}));
    let mut cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xff; 3],
        vec![0xff; 64],
        good[..good.len() - 1].to_vec(),
    ];
    let mut trailing = good.clone();
    trailing.push(0);
    cases.push(trailing);
    let mut wrong_len = good.clone();
    wrong_len[0] = wrong_len[0].wrapping_add(7);
    cases.push(wrong_len);
    for (i, bytes) in cases.into_iter().enumerate() {
        let db = open();
        db.start();
        let e = db
            .raw("line_binary", SqlValue::Blob(bytes))
            .expect_err("bad bson");
        assert_eq!(code(&e).0, 4, "case {i}: {}", code(&e).1);
        assert!(!db.active());
    }
    let db = open();
    db.start();
    db.raw("line_binary", SqlValue::Blob(good))
        .expect("good bson");
}

#[test]
fn wrong_payload_types_are_argument_errors_and_keep_the_iteration() {
    let db = open();
    db.start();
    assert!(db.raw("line_text", SqlValue::Blob(b"{}".to_vec())).is_err());
    assert!(db.raw("line_binary", SqlValue::Text("{}".into())).is_err());
    assert!(
        db.raw("connection", SqlValue::Text("sideways".into()))
            .is_err()
    );
    assert!(db.raw("no_such_command", SqlValue::Null).is_err());
    assert!(
        db.active(),
        "argument errors are the caller's fault, not the stream's"
    );
}

#[test]
fn a_100_mb_line_fails_cleanly() {
    let db = open();
    db.start();
    // 100 MB of a never-terminated string: rejected as invalid JSON, nothing stored.
    let mut text = String::with_capacity(100 * 1024 * 1024 + 64);
    text.push_str(r#"{"data":{"bucket":"a","data":[{"op_id":"1","op":"PUT","data":""#);
    text.extend(std::iter::repeat_n('x', 100 * 1024 * 1024));
    let e = db
        .raw("line_text", SqlValue::Text(text))
        .expect_err("huge line");
    let (code, message) = code(&e);
    assert_eq!(code, 4);
    assert!(message.len() < 300, "error message must not echo the line");
    assert_eq!(db.count("SELECT count(*) FROM ps_oplog"), 0);
}

// ---- fuzzing the decoders ----------------------------------------------------------------

fn valid_lines() -> Vec<String> {
    vec![
        json!({"checkpoint": {"last_op_id": "10", "write_checkpoint": "3", "buckets": [
            {"bucket": "a", "checksum": -5, "count": 3, "priority": 1,
             "subscriptions": [{"default": 0}]}],
            "streams": [{"name": "s", "is_default": true, "errors": []}]}})
        .to_string(),
        json!({"checkpoint_diff": {"last_op_id": "11", "updated_buckets": [
            {"bucket": "a", "checksum": 4294967295_u32}], "removed_buckets": ["b"]}})
        .to_string(),
        json!({"data": {"bucket": "a", "data": [
            {"op_id": "1", "op": "PUT", "object_type": "t", "object_id": "i", "subkey": "s",
             "data": "{\"x\":\"\\u00e9\"}", "checksum": 7},
            {"op_id": "2", "op": "REMOVE", "object_type": "t", "object_id": "i", "checksum": 8},
            {"op_id": "3", "op": "MOVE", "checksum": 9},
            {"op_id": "4", "op": "CLEAR", "checksum": 10}]}})
        .to_string(),
        json!({"checkpoint_complete": {"last_op_id": "10"}}).to_string(),
        json!({"partial_checkpoint_complete": {"last_op_id": "10", "priority": 1}}).to_string(),
        json!({"token_expires_in": 30}).to_string(),
    ]
}

const CASES: u32 = 2000;

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary text never panics the JSON decoder.
    #[test]
    fn fuzz_json_arbitrary_text(text in ".{0,200}") {
        let _ = SyncLine::from_text(&text);
    }

    /// Valid lines with one byte replaced, inserted or removed never panic the decoder, and a
    /// decoded line re-decodes identically (decoding is deterministic).
    #[test]
    fn fuzz_json_mutated_valid_lines(which in 0usize..6, pos in any::<usize>(), byte in any::<u8>(), mode in 0u8..3) {
        let mut bytes = valid_lines()[which].clone().into_bytes();
        let at = pos % (bytes.len() + 1);
        match mode {
            0 if at < bytes.len() => bytes[at] = byte,
            1 => bytes.insert(at, byte),
            _ if at < bytes.len() => { bytes.remove(at); }
            _ => {}
        }
        if let Ok(text) = String::from_utf8(bytes) {
            let first = SyncLine::from_text(&text).map(|l| format!("{l:?}")).map_err(|e| e.to_string());
            let second = SyncLine::from_text(&text).map(|l| format!("{l:?}")).map_err(|e| e.to_string());
            prop_assert_eq!(first, second);
        }
    }

    /// Arbitrary bytes and mutated valid BSON documents never panic the BSON decoder, and a
    /// valid document decodes to the same line as its JSON form.
    #[test]
    fn fuzz_bson(which in 0usize..6, pos in any::<usize>(), byte in any::<u8>(), noise in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = bson_to_value(&noise);
        let json: Value = serde_json::from_str(&valid_lines()[which]).expect("valid");
        let doc = engine::bson_line(&json);
        let value = bson_to_value(&doc).expect("round trip");
        let from_bson = SyncLine::from_value(&value).map(|l| format!("{l:?}")).map_err(|e| e.to_string());
        let from_json = SyncLine::from_text(&valid_lines()[which]).map(|l| format!("{l:?}")).map_err(|e| e.to_string());
        prop_assert_eq!(&from_bson, &from_json);
        let direct = SyncLine::from_bson(&doc).map(|l| format!("{l:?}")).map_err(|e| e.to_string());
        prop_assert_eq!(&direct, &from_json);
        let mut mutated = doc.clone();
        let at = pos % mutated.len();
        mutated[at] = byte;
        // The direct decoder and the value path agree on whether a mutated document is valid.
        let via_value = bson_to_value(&mutated).and_then(|v| SyncLine::from_value(&v).map(|l| format!("{l:?}")));
        let via_direct = SyncLine::from_bson(&mutated).map(|l| format!("{l:?}"));
        prop_assert_eq!(via_value.is_ok(), via_direct.is_ok());
        if let (Ok(a), Ok(b)) = (via_value, via_direct) {
            prop_assert_eq!(a, b);
        }
        let _ = SyncLine::from_bson(&noise);
    }
}
