// SPDX-License-Identifier: Apache-2.0
//! The test service rejects what the real PowerSync service rejects, with the same status,
//! code and `details` (docs/service-requests.md). The expected validation messages were
//! produced by the real service's validator (its schemas run through its own JSON-schema and
//! error-formatting libraries) for exactly these bodies.

use crate::common;

use common::*;
use psync_test_service::TestService;
use psync_test_service::auth::{self, AUDIENCE, KEY_ID, MAX_LIFETIME_SECS};
use serde_json::{Value, json};

const SECRET: &[u8] = b"psync-test-service-dev-key";

/// (path, body, the `details` list of the 400 answer)
const VALIDATION_CASES: &[(&str, &str, &[&str])] = &[
    (
        "/sync/stream",
        r#"{"parameters":null}"#,
        &["/parameters: type must be object"],
    ),
    (
        "/sync/stream",
        r#"{"parameters":"x","app_metadata":null}"#,
        &[
            "/parameters: type must be object",
            "/app_metadata: type must be object",
        ],
    ),
    (
        "/sync/stream",
        r#"{"client_id":null,"raw_data":"true","include_checksum":1}"#,
        &[
            "/include_checksum: type must be boolean",
            "/raw_data: type must be boolean",
            "/client_id: type must be string",
        ],
    ),
    (
        "/sync/stream",
        r#"{"buckets":[{"name":5}]}"#,
        &["/buckets/0 must have required property 'after'"],
    ),
    (
        "/sync/stream",
        r#"{"buckets":[{"name":"a","after":1},{"after":"1"}]}"#,
        &[
            "/buckets/0/after: type must be string",
            "/buckets/1 must have required property 'name'",
        ],
    ),
    (
        "/sync/stream",
        r#"{"buckets":null}"#,
        &["/buckets: type must be array"],
    ),
    (
        "/sync/stream",
        r#"{"app_metadata":{"a":1,"b":"x"}}"#,
        &["/app_metadata/a: type must be string"],
    ),
    (
        "/sync/stream",
        r#"{"only":[1]}"#,
        &["/only/0: type must be string"],
    ),
    (
        "/sync/stream",
        r#"{"streams":{"subscriptions":[{"stream":"s"}]}}"#,
        &["/streams/subscriptions/0 must have required property 'override_priority'"],
    ),
    (
        "/sync/stream",
        r#"{"streams":{"subscriptions":[{"stream":"s","parameters":5,"override_priority":"x"}]}}"#,
        &[
            "/streams/subscriptions/0/parameters: type must be object",
            "/streams/subscriptions/0/parameters: type must be null",
            "/streams/subscriptions/0/parameters: anyOf must match a schema in anyOf",
            "/streams/subscriptions/0/override_priority: type must be number",
            "/streams/subscriptions/0/override_priority: type must be null",
            "/streams/subscriptions/0/override_priority: anyOf must match a schema in anyOf",
        ],
    ),
    (
        "/sync/stream",
        r#"{"streams":{"include_defaults":null,"subscriptions":null}}"#,
        &[
            "/streams/include_defaults: type must be boolean",
            "/streams/subscriptions: type must be array",
        ],
    ),
    (
        "/sync/stream",
        r#"{"streams":{}}"#,
        &["/streams must have required property 'subscriptions'"],
    ),
    (
        "/sync/stream",
        r#"{"streams":null}"#,
        &["/streams: type must be object"],
    ),
    (
        "/sync/checkpoint-request",
        r#"{}"#,
        &[" must have required property 'checkpoint_request_id'"],
    ),
    (
        "/sync/checkpoint-request",
        r#"{"client_id":5,"checkpoint_request_id":"5"}"#,
        &["/client_id: type must be string"],
    ),
    (
        "/sync/checkpoint-request",
        r#"{"client_id":"c","checkpoint_request_id":"abc"}"#,
        &[
            r#"/checkpoint_request_id: pattern must match pattern "^-?[0-9]+$""#,
            "/checkpoint_request_id: type must be integer",
            "/checkpoint_request_id: oneOf must match exactly one schema in oneOf",
        ],
    ),
    (
        "/sync/checkpoint-request",
        r#"{"client_id":"c","checkpoint_request_id":"1.0"}"#,
        &[
            r#"/checkpoint_request_id: pattern must match pattern "^-?[0-9]+$""#,
            "/checkpoint_request_id: type must be integer",
            "/checkpoint_request_id: oneOf must match exactly one schema in oneOf",
        ],
    ),
    (
        "/sync/checkpoint-request",
        r#"{"client_id":"c","checkpoint_request_id":1.5}"#,
        &[
            "/checkpoint_request_id: type must be string",
            "/checkpoint_request_id: type must be integer",
            "/checkpoint_request_id: oneOf must match exactly one schema in oneOf",
        ],
    ),
    (
        "/sync/checkpoint-request",
        r#"{"client_id":"c","checkpoint_request_id":1e17}"#,
        &[
            "/checkpoint_request_id: type must be string",
            "/checkpoint_request_id: maximum must be <= 9007199254740991",
            "/checkpoint_request_id: oneOf must match exactly one schema in oneOf",
        ],
    ),
    (
        "/sync/checkpoint-request",
        r#"{"client_id":"c","checkpoint_request_id":null}"#,
        &[
            "/checkpoint_request_id: type must be string",
            "/checkpoint_request_id: type must be integer",
            "/checkpoint_request_id: oneOf must match exactly one schema in oneOf",
        ],
    ),
    (
        "/sync/checkpoint-request",
        r#"{"client_id":"c","checkpoint_request_id":-9007199254740992}"#,
        &[
            "/checkpoint_request_id: type must be string",
            "/checkpoint_request_id: minimum must be >= -9007199254740991",
            "/checkpoint_request_id: oneOf must match exactly one schema in oneOf",
        ],
    ),
    (
        "/sync/checkpoint-request",
        r#"{"client_id":null,"checkpoint_request_id":[1]}"#,
        &[
            "/client_id: type must be string",
            "/checkpoint_request_id: type must be string",
            "/checkpoint_request_id: type must be integer",
            "/checkpoint_request_id: oneOf must match exactly one schema in oneOf",
        ],
    ),
];

async fn post_text(
    svc: &TestService,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> (u16, Value) {
    let mut request = client()
        .post(format!("{}{path}", svc.url()))
        .header("Authorization", format!("Token {}", svc.mint_token("u1")))
        .body(body.to_owned());
    if let Some(content_type) = content_type {
        request = request.header("Content-Type", content_type);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (
        status,
        response.json::<Value>().await.unwrap_or(Value::Null),
    )
}

fn validation_error(details: &[&str]) -> Value {
    json!({"error": {
        "name": "ValidationError",
        "code": "PSYNC_S2001",
        "status": 400,
        "description": "Validation failed",
        "details": serde_json::to_string(details).expect("details"),
    }})
}

#[tokio::test]
async fn invalid_bodies_get_the_real_services_400() {
    let svc = TestService::start().await.expect("start");
    for (path, body, details) in VALIDATION_CASES {
        let (status, answer) = post_text(&svc, path, Some("application/json"), body).await;
        assert_eq!(
            (status, answer),
            (400, validation_error(details)),
            "{path} {body}"
        );
    }
}

#[tokio::test]
async fn parameters_null_is_rejected_and_an_object_accepted() {
    let svc = TestService::start().await.expect("start");
    let token = svc.mint_token("u1");
    let mut body = stream_body("c1");
    body["parameters"] = Value::Null;
    let (status, answer) = post(&svc, "/sync/stream", Some(&token), &body).await;
    assert_eq!(
        (status, answer),
        (400, validation_error(&["/parameters: type must be object"]))
    );
    body["parameters"] = json!({});
    let mut lines = open_stream(&svc, &token, &body).await;
    assert!(
        lines
            .next()
            .await
            .is_some_and(|l| l.get("checkpoint").is_some())
    );
}

#[tokio::test]
async fn checkpoint_request_ids_follow_the_real_services_rules() {
    let svc = TestService::start().await.expect("start");
    let token = svc.mint_token("u1");
    let request = |id: Value| json!({"client_id": "c1", "checkpoint_request_id": id});
    let out_of_range =
        validation_error(&["Expected checkpoint_request_id between 1 and 9223372036854775807"]);
    for id in [
        json!("0"),
        json!(0),
        json!("-5"),
        json!("9223372036854775808"),
    ] {
        let (status, answer) = post(
            &svc,
            "/sync/checkpoint-request",
            Some(&token),
            &request(id.clone()),
        )
        .await;
        assert_eq!((status, answer), (400, out_of_range.clone()), "{id}");
    }
    let accepted = |id: &str| json!({"data": {"checkpoint_request_id": id}});
    // A JSON number is accepted like a string; a lower id than the stored one answers the
    // stored one; the largest id is accepted.
    for (sent, answered) in [
        (json!(7), "7"),
        (json!("3"), "7"),
        (json!("9223372036854775807"), "9223372036854775807"),
    ] {
        let (status, answer) = post(
            &svc,
            "/sync/checkpoint-request",
            Some(&token),
            &request(sent.clone()),
        )
        .await;
        assert_eq!((status, answer), (200, accepted(answered)), "{sent}");
    }
    // The client id may come from the query string, as the service merges both.
    let response = client()
        .post(format!(
            "{}/sync/checkpoint-request?client_id=c2",
            svc.url()
        ))
        .header("Authorization", format!("Token {token}"))
        .json(&json!({"checkpoint_request_id": "2"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn write_checkpoint_query_is_validated() {
    let svc = TestService::start().await.expect("start");
    let response = client()
        .get(format!(
            "{}/write-checkpoint2.json?client_id=a&client_id=b",
            svc.url()
        ))
        .header("Authorization", format!("Token {}", svc.mint_token("u1")))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let answer: Value = response.json().await.expect("json");
    assert_eq!(
        answer,
        validation_error(&["/client_id: type must be string"])
    );
}

fn fastify_error(status: u16, code: &str, description: &str) -> Value {
    json!({"error": {"name": "FastifyError", "code": code, "status": status, "description": description}})
}

#[tokio::test]
async fn bodies_that_are_not_json_are_refused_like_the_real_http_layer() {
    let svc = TestService::start().await.expect("start");
    for path in ["/sync/stream", "/sync/checkpoint-request"] {
        let (status, answer) = post_text(&svc, path, Some("application/json"), "{ not json").await;
        assert_eq!(
            (status, answer),
            (
                400,
                fastify_error(
                    400,
                    "FST_ERR_CTP_INVALID_JSON_BODY",
                    "Body is not valid JSON but content-type is set to 'application/json'"
                )
            )
        );
        let (status, answer) = post_text(&svc, path, Some("application/json"), "").await;
        assert_eq!(
            (status, answer),
            (
                400,
                fastify_error(
                    400,
                    "FST_ERR_CTP_EMPTY_JSON_BODY",
                    "Body cannot be empty when content-type is set to 'application/json'"
                )
            )
        );
        let unsupported = fastify_error(
            415,
            "FST_ERR_CTP_INVALID_MEDIA_TYPE",
            "Unsupported Media Type",
        );
        let form = post_text(&svc, path, Some("application/x-www-form-urlencoded"), "a=1").await;
        assert_eq!(form, (415, unsupported.clone()));
        let untyped = post_text(&svc, path, None, r#"{"client_id":"c"}"#).await;
        assert_eq!(untyped, (415, unsupported));
    }
    // A body larger than 1 MiB.
    let big = format!(r#"{{"client_id":"{}"}}"#, "x".repeat(1024 * 1024));
    let (status, answer) = post_text(&svc, "/sync/stream", Some("application/json"), &big).await;
    assert_eq!(
        (status, answer),
        (
            413,
            fastify_error(
                413,
                "FST_ERR_CTP_BODY_TOO_LARGE",
                "Request body is too large"
            )
        )
    );
}

#[tokio::test]
async fn unknown_paths_and_methods_are_404_with_details() {
    let svc = TestService::start().await.expect("start");
    let response = client()
        .get(format!("{}/sync/stream?x=1", svc.url()))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    let answer: Value = response.json().await.expect("json");
    assert_eq!(
        answer,
        json!({"error": {"name": "RouteNotFound", "code": "PSYNC_S2002", "status": 404,
            "description": "The path does not exist on this server",
            "details": "The path GET \"/sync/stream?x=1\" does not exist on this server",
            "severity": "info"}})
    );
}

fn auth_error(code: &str, description: &str) -> Value {
    json!({"error": {"name": "AuthorizationError", "code": code, "status": 401, "description": description}})
}

/// A token with the dev key, given header and claims changes on top of valid ones.
fn token(header_changes: Value, claim_changes: Value) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let mut header = json!({"alg": "HS256", "typ": "JWT", "kid": KEY_ID});
    let mut claims = json!({"sub": "u1", "iat": now, "exp": now + 600, "aud": AUDIENCE});
    for (target, changes) in [(&mut header, header_changes), (&mut claims, claim_changes)] {
        for (key, value) in changes.as_object().cloned().unwrap_or_default() {
            match value {
                Value::Null => target.as_object_mut().map(|m| m.remove(&key)),
                value => target.as_object_mut().map(|m| m.insert(key, value)),
            };
        }
    }
    auth::sign_token(SECRET, &header, &claims)
}

#[tokio::test]
async fn tokens_need_kid_audience_claims_and_a_short_lifetime() {
    let svc = TestService::start().await.expect("start");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let no_key = "Could not find an appropriate key in the keystore. The key is missing or no key matched the token KID";
    let cases = [
        (
            token(json!({"kid": null}), json!({})),
            auth_error("PSYNC_S2101", no_key),
        ),
        (
            token(json!({"kid": "other"}), json!({})),
            auth_error("PSYNC_S2101", no_key),
        ),
        (
            token(json!({"alg": "HS512"}), json!({})),
            auth_error("PSYNC_S2101", "Unexpected token algorithm HS512"),
        ),
        (
            token(json!({"alg": "none"}), json!({})),
            auth_error(
                "PSYNC_S2101",
                "\"alg\" (Algorithm) Header Parameter not allowed",
            ),
        ),
        (
            token(json!({}), json!({"aud": null})),
            auth_error(
                "PSYNC_S2105",
                "JWT payload is missing a required claim \"aud\"",
            ),
        ),
        (
            token(json!({}), json!({"aud": "other"})),
            auth_error("PSYNC_S2105", "Unexpected \"aud\" claim value: \"other\""),
        ),
        (
            token(json!({}), json!({"sub": null})),
            auth_error(
                "PSYNC_S2101",
                "JWT payload is missing a required claim \"sub\"",
            ),
        ),
        (
            token(json!({}), json!({"iat": null})),
            auth_error(
                "PSYNC_S2101",
                "JWT payload is missing a required claim \"iat\"",
            ),
        ),
        (
            token(
                json!({}),
                json!({"iat": now - 10, "exp": now + MAX_LIFETIME_SECS - 9}),
            ),
            auth_error(
                "PSYNC_S2104",
                "Token must expire in a maximum of 86400 seconds, got 86401s",
            ),
        ),
        (
            token(json!({}), json!({"iat": now - 700, "exp": now - 61})),
            auth_error("PSYNC_S2103", "JWT has expired"),
        ),
        (
            token(json!({}), json!({"parameters": [1]})),
            auth_error("PSYNC_S2101", "Payload parameters must be an object"),
        ),
        (
            "a.b".to_owned(),
            auth_error(
                "PSYNC_S2101",
                "Token is not a well-formed JWT. Check the token format.",
            ),
        ),
    ];
    for (token, expected) in cases {
        let (status, answer) = post(&svc, "/sync/stream", Some(&token), &stream_body("c1")).await;
        assert_eq!((status, answer), (401, expected), "{token}");
    }
    // Exactly a day, an audience list, and a token that expired less than a minute ago pass.
    for token in [
        token(
            json!({}),
            json!({"iat": now, "exp": now + MAX_LIFETIME_SECS}),
        ),
        token(json!({}), json!({"aud": ["x", AUDIENCE]})),
        token(json!({}), json!({"iat": now - 600, "exp": now - 30})),
    ] {
        let (status, _) = post(
            &svc,
            "/sync/checkpoint-request",
            Some(&token),
            &json!({"client_id": "c1", "checkpoint_request_id": "1"}),
        )
        .await;
        assert_eq!(status, 200, "{token}");
    }
    // A stream opened with such a just-expired token only says so and ends.
    let expired = token(json!({}), json!({"iat": now - 600, "exp": now - 30}));
    let mut lines = open_stream(&svc, &expired, &stream_body("c1")).await;
    assert_eq!(lines.next().await, Some(json!({"token_expires_in": 0})));
    assert_eq!(lines.next().await, None);
    assert!(lines.ended);
    // The scheme is case sensitive.
    let response = client()
        .post(format!("{}/sync/stream", svc.url()))
        .header("Authorization", format!("token {}", svc.mint_token("u1")))
        .json(&stream_body("c1"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);
    let answer: Value = response.json().await.expect("json");
    assert_eq!(answer, auth_error("PSYNC_S2106", "Authentication required"));
}

#[tokio::test]
async fn row_data_is_an_object_unless_raw_data_is_requested() {
    let svc = TestService::start().await.expect("start");
    svc.source()
        .execute(
            "INSERT INTO lists(id, name, owner_id) VALUES ('l1', 'groceries', 'u1')",
            [],
        )
        .expect("insert");
    let token = svc.mint_token("u1");
    let first_put = |lines: Vec<Value>| -> Value {
        lines
            .iter()
            .find_map(|l| l.get("data").map(|d| d["data"][0]["data"].clone()))
            .expect("a data line")
    };
    let mut body = stream_body("c1");
    let mut lines = open_stream(&svc, &token, &body).await;
    let raw = first_put(lines.until("checkpoint_complete").await);
    assert!(raw.is_string(), "{raw}");
    body.as_object_mut().map(|m| m.remove("raw_data"));
    let mut lines = open_stream(&svc, &token, &body).await;
    let nested = first_put(lines.until("checkpoint_complete").await);
    assert_eq!(nested["name"], json!("groceries"), "{nested}");
    assert_eq!(
        raw.as_str()
            .map(serde_json::from_str::<Value>)
            .map(Result::ok),
        Some(Some(nested))
    );
    // BSON always carries the row as text.
    let response = client()
        .post(format!("{}/sync/stream", svc.url()))
        .header("Authorization", format!("Token {token}"))
        .header("Accept", "application/vnd.powersync.bson-stream")
        .json(&body)
        .send()
        .await
        .expect("request");
    let mut lines = Lines::new(response);
    assert!(lines.bson);
    assert!(first_put(lines.until("checkpoint_complete").await).is_string());
}
