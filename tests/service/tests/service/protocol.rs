// SPDX-License-Identifier: Apache-2.0
//! Protocol conformance against a raw HTTP client.

use crate::common;

use common::*;
use psync_test_service::TestService;
use psync_test_service::checksum::{js_signed, put_checksum};
use serde_json::{Value, json};

#[tokio::test]
async fn initial_sync_sends_checkpoint_data_per_priority_then_complete() {
    let svc = TestService::start().await.expect("start");
    {
        let src = svc.source();
        src.execute(
            "INSERT INTO announcements(id, title) VALUES ('a1', 'hello')",
            [],
        )
        .expect("a1");
        src.execute(
            "INSERT INTO lists(id, name, owner_id) VALUES ('l1', 'groceries', 'u1')",
            [],
        )
        .expect("l1");
        src.execute(
            "INSERT INTO lists(id, name, owner_id) VALUES ('l2', 'other', 'u2')",
            [],
        )
        .expect("l2");
        src.execute(
            "INSERT INTO todos(id, description, owner_id) VALUES ('t1', 'milk', 'u1')",
            [],
        )
        .expect("t1");
    }
    let token = svc.mint_token("u1");
    let mut lines = open_stream(&svc, &token, &stream_body("c1")).await;
    let seen = lines.until("checkpoint_complete").await;
    let keys: Vec<String> = seen.iter().map(key).collect();
    assert_eq!(
        keys,
        [
            "checkpoint",
            "data",
            "partial_checkpoint_complete",
            "data",
            "partial_checkpoint_complete",
            "data",
            "checkpoint_complete"
        ]
    );
    let checkpoint = &seen[0]["checkpoint"];
    assert_eq!(checkpoint["last_op_id"], json!("4"));
    assert!(checkpoint.get("write_checkpoint").is_none());
    let names: Vec<&str> = checkpoint["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| b["bucket"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "1#global_announcements[]",
            "1#user_lists[\"u1\"]",
            "1#user_todos[\"u1\"]"
        ]
    );
    assert_eq!(
        seen[2]["partial_checkpoint_complete"],
        json!({"last_op_id": "4", "priority": 0})
    );
    assert_eq!(
        seen[4]["partial_checkpoint_complete"],
        json!({"last_op_id": "4", "priority": 1})
    );
    let list_data = &seen[3]["data"];
    assert_eq!(list_data["bucket"], json!("1#user_lists[\"u1\"]"));
    let op = &list_data["data"][0];
    assert_eq!(op["op"], json!("PUT"));
    assert_eq!(op["op_id"], json!("2"));
    assert_eq!(op["object_type"], json!("lists"));
    assert_eq!(op["object_id"], json!("l1"));
    let data = op["data"].as_str().expect("data is a string");
    assert_eq!(
        data,
        r#"{"id":"l1","name":"groceries","owner_id":"u1","created_at":null}"#
    );
    assert_eq!(op["checksum"], json!(put_checksum("lists", "l1", data)));
    assert_eq!(
        checkpoint["buckets"][1]["checksum"],
        json!(js_signed(put_checksum("lists", "l1", data)))
    );
    assert_eq!(checkpoint["buckets"][1]["count"], json!(1));
    assert_eq!(checkpoint["buckets"][1]["priority"], json!(1));
    assert_eq!(
        checkpoint["buckets"][1]["subscriptions"],
        json!([{"default": 1}])
    );
    assert_eq!(
        checkpoint["streams"][1],
        json!({"name": "user_lists", "is_default": true, "errors": []})
    );
    assert_eq!(checkpoint["streams"].as_array().map(Vec::len), Some(3));
    assert_eq!(seen[6]["checkpoint_complete"], json!({"last_op_id": "4"}));
}

#[tokio::test]
async fn known_sha256_checksum_values() {
    // sha256("put.lists.l1.{}") computed independently with coreutils sha256sum.
    let expected = u32::from_str_radix(&reorder_le(SHA_PUT_LISTS_L1_EMPTY), 16).expect("hex");
    assert_eq!(put_checksum("lists", "l1", "{}"), expected);
}

const SHA_PUT_LISTS_L1_EMPTY: &str = include_str!("sha_prefix.txt");

fn reorder_le(hex_prefix: &str) -> String {
    let hex = hex_prefix.trim();
    format!("{}{}{}{}", &hex[6..8], &hex[4..6], &hex[2..4], &hex[0..2])
}

#[tokio::test]
async fn changes_stream_as_diffs_with_data_and_remove() {
    let svc = TestService::start().await.expect("start");
    let token = svc.mint_token("u1");
    let mut lines = open_stream(&svc, &token, &stream_body("c1")).await;
    lines.until("checkpoint_complete").await;
    let (status, body) = upload(&svc, &token, json!([
        {"op": "PUT", "type": "todos", "id": "t1", "data": {"description": "a", "owner_id": "u1"}}
    ])).await;
    assert_eq!(status, 200, "{body}");
    let seen = lines.until("checkpoint_complete").await;
    assert_eq!(
        seen.iter().map(key).collect::<Vec<_>>(),
        ["checkpoint_diff", "data", "checkpoint_complete"]
    );
    let diff = &seen[0]["checkpoint_diff"];
    assert_eq!(diff["last_op_id"], json!("1"));
    assert_eq!(diff["removed_buckets"], json!([]));
    assert_eq!(
        diff["updated_buckets"][0]["bucket"],
        json!("1#user_todos[\"u1\"]")
    );
    upload(
        &svc,
        &token,
        json!([{"op": "DELETE", "type": "todos", "id": "t1"}]),
    )
    .await;
    let seen = lines.until("checkpoint_complete").await;
    let op = &seen[1]["data"]["data"][0];
    assert_eq!(op["op"], json!("REMOVE"));
    assert!(op.get("data").is_none());
    let put = u32::try_from(
        seen[1]["data"]["data"][0]["checksum"]
            .as_u64()
            .expect("u32"),
    )
    .expect("u32");
    let total = seen[0]["checkpoint_diff"]["updated_buckets"][0]["checksum"]
        .as_i64()
        .expect("checksum");
    assert_eq!(
        seen[0]["checkpoint_diff"]["updated_buckets"][0]["count"],
        json!(2)
    );
    // Bucket checksum covers the PUT and the REMOVE.
    assert_ne!(total, i64::from(put));
}

#[tokio::test]
async fn resume_with_after_sends_only_newer_ops() {
    let svc = TestService::start().await.expect("start");
    {
        let src = svc.source();
        for i in 0..3 {
            src.execute(
                "INSERT INTO lists(id, owner_id) VALUES (?, 'u1')",
                [format!("l{i}")],
            )
            .expect("insert");
        }
    }
    let token = svc.mint_token("u1");
    let mut body = stream_body("c1");
    body["buckets"] = json!([{"name": "1#user_lists[\"u1\"]", "after": "2"}]);
    let mut lines = open_stream(&svc, &token, &body).await;
    let seen = lines.until("checkpoint_complete").await;
    let data: Vec<&Value> = seen.iter().filter_map(|l| l.get("data")).collect();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["after"], json!("2"));
    assert_eq!(data[0]["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(data[0]["data"][0]["op_id"], json!("3"));
}

#[tokio::test]
async fn auth_errors_have_codes_and_validation_comes_first() {
    let svc = TestService::start().await.expect("start");
    let (status, body) = post(&svc, "/sync/stream", None, &stream_body("c")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("PSYNC_S2106"))
    );
    assert_eq!(body["error"]["status"], json!(401));
    assert!(body["error"]["description"].is_string());
    assert!(body["error"]["name"].is_string());
    let (status, body) = post(&svc, "/sync/stream", Some("not.a.token"), &stream_body("c")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("PSYNC_S2101"))
    );
    let expired = psync_test_service::auth::mint(b"psync-test-service-dev-key", "u1", 1, 2);
    let (status, body) = post(&svc, "/sync/stream", Some(&expired), &stream_body("c")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("PSYNC_S2103"))
    );
    let forged = psync_test_service::auth::mint(b"wrong", "u1", 1, i64::from(i32::MAX));
    let (status, body) = post(&svc, "/sync/stream", Some(&forged), &stream_body("c")).await;
    assert_eq!(
        (status, &body["error"]),
        (
            401,
            &json!({"name": "AuthorizationError", "code": "PSYNC_S2101", "status": 401,
                    "description": "signature verification failed"})
        )
    );
    // Bad body with a bad token: 400, not 401.
    let (status, body) = post(
        &svc,
        "/sync/stream",
        Some("x"),
        &json!({"app_metadata": {"v": 1}}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("PSYNC_S2001"))
    );
    let (status, body) = post(
        &svc,
        "/sync/checkpoint-request",
        None,
        &json!({"checkpoint_request_id": "1"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("PSYNC_S2001"))
    );
}

#[tokio::test]
async fn token_endpoint_mints_usable_tokens() {
    let svc = TestService::start().await.expect("start");
    let (status, body) = post(
        &svc,
        "/api/auth/token",
        None,
        &json!({"user_id": "u9", "expires_in": 60}),
    )
    .await;
    assert_eq!(status, 200);
    let token = body["token"].as_str().expect("token");
    let claims =
        psync_test_service::auth::verify(b"psync-test-service-dev-key", token, 0).expect("valid");
    assert_eq!(claims.user_id, "u9");
    assert_eq!(body["endpoint"], json!(svc.url()));
    let mut lines = open_stream(&svc, token, &stream_body("c")).await;
    assert!(
        lines
            .next()
            .await
            .expect("line")
            .get("checkpoint")
            .is_some()
    );
    let (status, _) = post(&svc, "/api/auth/token", None, &json!({})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn checkpoint_request_validation() {
    let svc = TestService::start().await.expect("start");
    let token = svc.mint_token("u1");
    let bad = [
        json!({"client_id": "c", "checkpoint_request_id": 0}),
        json!({"client_id": "c", "checkpoint_request_id": "0"}),
        json!({"client_id": "c", "checkpoint_request_id": -3}),
        json!({"client_id": "c", "checkpoint_request_id": "-3"}),
        json!({"client_id": "c", "checkpoint_request_id": "9223372036854775808"}),
        json!({"client_id": "c", "checkpoint_request_id": 9007199254740993u64}),
        json!({"client_id": "c", "checkpoint_request_id": 1.5}),
        json!({"client_id": "c", "checkpoint_request_id": "12a"}),
        json!({"client_id": "c"}),
        json!({"checkpoint_request_id": "5"}),
        json!({"client_id": 5, "checkpoint_request_id": "5"}),
    ];
    for body in bad {
        let (status, response) = post(&svc, "/sync/checkpoint-request", Some(&token), &body).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(response["error"]["code"], json!("PSYNC_S2001"), "{body}");
    }
    // Raw text bodies: unsafe integer literal and invalid JSON.
    for raw in [
        r#"{"client_id":"c","checkpoint_request_id":99999999999999999999}"#,
        "{nope",
    ] {
        let response = client()
            .post(format!("{}/sync/checkpoint-request", svc.url()))
            .header("Authorization", format!("Token {token}"))
            .header("Content-Type", "application/json")
            .body(raw)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 400, "{raw}");
    }
    let ok = [
        ("5", "5"),
        ("3", "5"),
        ("5", "5"),
        ("9223372036854775807", "9223372036854775807"),
    ];
    for (sent, expected) in ok {
        let body = json!({"client_id": "c", "checkpoint_request_id": sent, "extra": true});
        let (status, response) = post(&svc, "/sync/checkpoint-request", Some(&token), &body).await;
        assert_eq!(status, 200);
        assert_eq!(
            response,
            json!({"data": {"checkpoint_request_id": expected}})
        );
    }
    let (status, response) = post(
        &svc,
        "/sync/checkpoint-request",
        Some(&token),
        &json!({"client_id": "d", "checkpoint_request_id": 7}),
    )
    .await;
    assert_eq!(
        (status, response["data"]["checkpoint_request_id"].as_str()),
        (200, Some("7"))
    );
}

#[tokio::test]
async fn legacy_write_checkpoint_shares_the_counter() {
    let svc = TestService::start().await.expect("start");
    let token = svc.mint_token("u1");
    post(
        &svc,
        "/sync/checkpoint-request",
        Some(&token),
        &json!({"client_id": "c", "checkpoint_request_id": "43"}),
    )
    .await;
    let response = client()
        .get(format!("{}/write-checkpoint2.json?client_id=c", svc.url()))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"data": {"write_checkpoint": "44"}})
    );
    let response = client()
        .get(format!("{}/write-checkpoint2.json?client_id=c", svc.url()))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn upload_rejects_whole_batch_and_names_entry() {
    let svc = TestService::start().await.expect("start");
    let token = svc.mint_token("u1");
    let (status, body) = upload(
        &svc,
        &token,
        json!([
            {"op": "PUT", "type": "lists", "id": "l1", "data": {"name": "ok"}},
            {"op": "PUT", "type": "lists", "id": "l2", "data": {"bogus": 1}}
        ]),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["details"]["index"], json!(1));
    assert!(
        body["error"]["details"]["reason"]
            .as_str()
            .expect("reason")
            .contains("bogus")
    );
    let count: i64 = svc
        .source()
        .query_row("SELECT count(*) FROM lists", [], |r| r.get(0))
        .expect("count");
    assert_eq!(count, 0);
    let (status, _) = post(&svc, "/api/data", None, &json!({"batch": []})).await;
    assert_eq!(status, 401);
    let (status, _) = post(&svc, "/api/data", Some(&token), &json!({"nope": []})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn unknown_route_is_404_with_service_code() {
    let svc = TestService::start().await.expect("start");
    let (status, body) = post(&svc, "/nope", None, &json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("PSYNC_S2002"))
    );
}

#[tokio::test]
async fn bson_stream_is_length_prefixed_documents() {
    let svc = TestService::start().await.expect("start");
    svc.source()
        .execute(
            "INSERT INTO announcements(id, title) VALUES ('a1', 'x')",
            [],
        )
        .expect("insert");
    let token = svc.mint_token("u1");
    let response = client()
        .post(format!("{}/sync/stream", svc.url()))
        .header("Authorization", format!("Token {token}"))
        .header(
            "Accept",
            "application/vnd.powersync.bson-stream;q=0.9,application/x-ndjson;q=0.8",
        )
        .json(&stream_body("c"))
        .send()
        .await
        .expect("send");
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.powersync.bson-stream"
    );
    let mut lines = Lines::new(response);
    let seen = lines.until("checkpoint_complete").await;
    assert_eq!(key(&seen[0]), "checkpoint");
    let op = &seen[1]["data"]["data"][0];
    assert_eq!(op["op_id"], json!("1"), "op ids stay strings");
    let expected = put_checksum("announcements", "a1", op["data"].as_str().expect("data"));
    // Relaxed extended JSON renders int32 as integers and doubles as floats.
    if expected > i32::MAX as u32 {
        assert_eq!(op["checksum"].as_f64(), Some(f64::from(expected)));
    } else {
        assert_eq!(op["checksum"].as_i64(), Some(i64::from(expected)));
    }
}

#[tokio::test]
async fn bucket_checksums_above_2_31_go_negative_op_checksums_stay_unsigned() {
    let svc = TestService::start().await.expect("start");
    // Pick a row whose op checksum has the top bit set (deterministic search).
    let (id, data, op_checksum) = (0..1000)
        .map(|i| {
            let id = format!("a{i}");
            let data = format!(r#"{{"id":"{id}","title":null,"body":null,"created_at":null}}"#);
            let checksum = put_checksum("announcements", &id, &data);
            (id, data, checksum)
        })
        .find(|(_, _, checksum)| *checksum >= 1 << 31)
        .expect("some checksum has the top bit set");
    svc.source()
        .execute("INSERT INTO announcements(id) VALUES (?)", [&id])
        .expect("insert");
    let token = svc.mint_token("u1");
    let mut lines = open_stream(&svc, &token, &stream_body("c")).await;
    let seen = lines.until("checkpoint_complete").await;
    let bucket = &seen[0]["checkpoint"]["buckets"][0];
    assert_eq!(
        bucket["checksum"],
        json!(i64::from(op_checksum) - (1i64 << 32))
    );
    assert!(bucket["checksum"].as_i64().expect("int") < 0);
    let op = &seen[1]["data"]["data"][0];
    assert_eq!(op["data"], json!(data));
    assert_eq!(op["checksum"], json!(op_checksum));
}

#[test]
fn delete_checksum_hashes_the_source_key() {
    // sha256("delete.lists/l1"), first four bytes little-endian, computed with sha256sum.
    let hex = include_str!("sha_delete_prefix.txt").trim();
    let le = format!("{}{}{}{}", &hex[6..8], &hex[4..6], &hex[2..4], &hex[0..2]);
    assert_eq!(
        psync_test_service::checksum::delete_checksum("lists", "l1"),
        u32::from_str_radix(&le, 16).expect("hex")
    );
}

#[tokio::test]
async fn compaction_sends_moves_to_new_clients_with_unchanged_checksums() {
    let svc = TestService::start().await.expect("start");
    let token = svc.mint_token("u1");
    for name in ["a", "b"] {
        let (status, _) = upload(
            &svc,
            &token,
            json!([
                {"op": "PUT", "type": "lists", "id": "l1", "data": {"name": name, "owner_id": "u1"}}
            ]),
        )
        .await;
        assert_eq!(status, 200);
    }
    let mut before = open_stream(&svc, &token, &stream_body("c1")).await;
    let before = before.until("checkpoint_complete").await;
    let (status, body) = post(&svc, "/admin/compact", None, &json!({})).await;
    assert_eq!((status, body), (200, json!({"converted": 1})));
    let mut after = open_stream(&svc, &token, &stream_body("c2")).await;
    let after = after.until("checkpoint_complete").await;
    assert_eq!(
        before[0], after[0],
        "checkpoint (checksums, counts) unchanged"
    );
    let data_of = |lines: &[Value]| {
        lines.iter().find_map(|l| l.get("data")).expect("data line")["data"].clone()
    };
    let ops = data_of(&after);
    let first_checksum = data_of(&before)[0]["checksum"].clone();
    assert_eq!(
        ops[0],
        json!({"op_id": "1", "op": "MOVE", "checksum": first_checksum})
    );
    assert_eq!(ops[1]["op"], json!("PUT"));
}
