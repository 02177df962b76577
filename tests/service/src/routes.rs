// SPDX-License-Identifier: Apache-2.0
//! HTTP routes: the sync protocol endpoints, the dev token and upload backend, and `/admin`.

use crate::auth::{self, Claims};
use crate::encode::Format;
use crate::error::ApiError;
use crate::faults::Faults;
use crate::service::Inner;
use crate::stream::{self, StreamRequest};
use crate::{admin, source};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Shared state type of all handlers.
pub type AppState = Arc<Inner>;

/// Builds the router of a service.
pub fn router(inner: AppState) -> Router {
    Router::new()
        .route("/sync/stream", post(sync_stream))
        .route("/sync/checkpoint-request", post(checkpoint_request))
        .route("/write-checkpoint2.json", get(write_checkpoint2))
        .route("/api/auth/token", post(mint_token))
        .route("/api/data", post(upload))
        .merge(admin::router())
        .fallback(|| async { ApiError::not_found() })
        .with_state(inner)
}

/// Applies request-level faults (delay, forced status) for `path`.
pub async fn fault_prelude(
    inner: &Inner,
    client_id: Option<&str>,
    path: &str,
) -> Result<Faults, ApiError> {
    let faults = inner
        .faults
        .lock()
        .take(client_id.filter(|c| !c.is_empty()), path);
    if faults.applies_to(path) {
        if faults.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(faults.delay_ms)).await;
        }
        if let Some(status) = faults.status {
            return Err(match status {
                401 => ApiError::auth_generic("Authorization failed (injected fault)"),
                503 => ApiError::unavailable(),
                500 => ApiError::internal("injected fault"),
                other => {
                    let mut e = ApiError::internal("injected fault");
                    e.status = other;
                    e
                }
            });
        }
    }
    Ok(faults)
}

fn authenticate(inner: &Inner, headers: &HeaderMap) -> Result<Claims, ApiError> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token = auth::token_from_header(header)?;
    auth::verify(&inner.options.jwt_secret, token, Inner::now_secs())
}

/// Parses a JSON body; an empty body counts as `{}`.
pub fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::invalid_json(&e.to_string()))
}

fn client_id_of(body: &Value) -> Option<&str> {
    body.get("client_id").and_then(Value::as_str)
}

fn validate_stream_body(body: &Value) -> Result<HashMap<String, i64>, ApiError> {
    let mut problems = Vec::new();
    let mut after = HashMap::new();
    let Some(obj) = body.as_object() else {
        return Err(ApiError::validation(vec![
            "body: expected an object".to_owned(),
        ]));
    };
    match obj.get("buckets") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let name = item.get("name").and_then(Value::as_str);
                let position = item
                    .get("after")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<i64>().ok());
                match (name, position) {
                    (Some(name), Some(position)) => {
                        after.insert(name.to_owned(), position);
                    }
                    _ => problems.push(format!(
                        "buckets[{i}]: expected {{name: string, after: string}}"
                    )),
                }
            }
        }
        Some(_) => problems.push("buckets: expected an array".to_owned()),
    }
    if obj
        .get("client_id")
        .is_some_and(|c| !c.is_string() && !c.is_null())
    {
        problems.push("client_id: expected a string".to_owned());
    }
    for flag in ["include_checksum", "raw_data", "binary_data"] {
        if obj
            .get(flag)
            .is_some_and(|v| !v.is_boolean() && !v.is_null())
        {
            problems.push(format!("{flag}: expected a boolean"));
        }
    }
    if obj
        .get("parameters")
        .is_some_and(|v| !v.is_object() && !v.is_null())
    {
        problems.push("parameters: expected an object".to_owned());
    }
    match obj.get("app_metadata") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (k, v) in map {
                if !v.is_string() {
                    problems.push(format!("app_metadata.{k}: expected a string"));
                }
            }
        }
        Some(_) => problems.push("app_metadata: expected an object".to_owned()),
    }
    if problems.is_empty() {
        Ok(after)
    } else {
        Err(ApiError::validation(problems))
    }
}

async fn sync_stream(State(inner): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match sync_stream_inner(inner, headers, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn sync_stream_inner(
    inner: AppState,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let parsed = parse_body(&body);
    let client_id = parsed
        .as_ref()
        .ok()
        .and_then(client_id_of)
        .map(str::to_owned);
    let faults = fault_prelude(&inner, client_id.as_deref(), "/sync/stream").await?;
    let faults_generation = inner.faults.lock().generation;
    let body = parsed?;
    let after = validate_stream_body(&body)?;
    let claims = authenticate(&inner, &headers)?;
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    let request = StreamRequest {
        user_id: claims.user_id,
        token_exp: claims.exp,
        client_id: client_id.unwrap_or_default(),
        after,
        body,
        format,
        faults,
        faults_generation,
    };
    tokio::spawn(stream::run(inner.clone(), request, sender));
    let mut response = Response::new(Body::from_stream(
        tokio_stream::wrappers::ReceiverStream::new(receiver),
    ));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Validates a checkpoint request id per §9.2: a safe JSON integer or a decimal string, in
/// `1..=i64::MAX`.
pub fn parse_checkpoint_request_id(value: Option<&Value>) -> Result<i64, String> {
    let value = value.ok_or("checkpoint_request_id: required")?;
    let parsed: i128 = match value {
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) if u <= MAX_SAFE_INTEGER => i128::from(u),
            (None, Some(i)) if i.unsigned_abs() <= MAX_SAFE_INTEGER => i128::from(i),
            // JSON has one number type: `5.0` is the safe integer 5 to the real service.
            (None, None) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() <= MAX_SAFE_INTEGER as f64 => f as i128,
                _ => return Err("checkpoint_request_id: not a safe integer".to_owned()),
            },
            _ => return Err("checkpoint_request_id: not a safe integer".to_owned()),
        },
        Value::String(s) => {
            let digits = s.strip_prefix('-').unwrap_or(s);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err("checkpoint_request_id: not an integer string".to_owned());
            }
            s.parse::<i128>()
                .map_err(|_| "checkpoint_request_id: out of range".to_owned())?
        }
        _ => return Err("checkpoint_request_id: expected a string or integer".to_owned()),
    };
    if parsed < 1 || parsed > i128::from(i64::MAX) {
        return Err("checkpoint_request_id: must be in 1..=9223372036854775807".to_owned());
    }
    i64::try_from(parsed).map_err(|_| "checkpoint_request_id: out of range".to_owned())
}

async fn checkpoint_request(
    State(inner): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let parsed = parse_body(&body);
    let client_id = parsed
        .as_ref()
        .ok()
        .and_then(client_id_of)
        .map(str::to_owned);
    let faults = fault_prelude(&inner, client_id.as_deref(), "/sync/checkpoint-request").await?;
    if faults.checkpoint_request_not_found {
        return Err(ApiError::not_found());
    }
    let body = parsed?;
    let mut problems = Vec::new();
    if !body.is_object() {
        problems.push("body: expected an object".to_owned());
    }
    if client_id.is_none() {
        problems.push("client_id: required string".to_owned());
    }
    let requested = parse_checkpoint_request_id(body.get("checkpoint_request_id"));
    if let Err(why) = &requested {
        problems.push(why.clone());
    }
    let (Some(client_id), Ok(requested), true) = (client_id, requested, problems.is_empty()) else {
        return Err(ApiError::validation(problems));
    };
    let claims = authenticate(&inner, &headers)?;
    let stored = {
        let conn = inner.source.lock();
        let position =
            source::source_position(&conn).map_err(|e| ApiError::internal(&e.to_string()))?;
        inner
            .store
            .lock()
            .checkpoint_request(&claims.user_id, &client_id, requested, position)
    };
    inner.notify();
    Ok(axum::Json(json!({"data": {"checkpoint_request_id": stored.to_string()}})).into_response())
}

async fn write_checkpoint2(
    State(inner): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let client_id = query.get("client_id").cloned();
    fault_prelude(&inner, client_id.as_deref(), "/write-checkpoint2.json").await?;
    let claims = authenticate(&inner, &headers)?;
    let id = {
        let conn = inner.source.lock();
        let position =
            source::source_position(&conn).map_err(|e| ApiError::internal(&e.to_string()))?;
        inner.store.lock().legacy_write_checkpoint(
            &claims.user_id,
            client_id.as_deref().unwrap_or(""),
            position,
        )
    };
    inner.notify();
    Ok(axum::Json(json!({"data": {"write_checkpoint": id.to_string()}})).into_response())
}

async fn mint_token(
    State(inner): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let user_id = body
        .get("user_id")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::validation(vec!["user_id: required string".to_owned()]))?;
    let lifetime = match body.get("expires_in") {
        None | Some(Value::Null) => inner.options.default_token_lifetime,
        Some(v) => Duration::from_secs(v.as_u64().ok_or_else(|| {
            ApiError::validation(vec!["expires_in: expected seconds".to_owned()])
        })?),
    };
    let token = inner.mint_token(user_id, lifetime);
    let expires_at =
        Inner::now_secs().saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(0));
    // Like a real backend's token endpoint, also say where the sync service is.
    let endpoint = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|host| format!("http://{host}"));
    let body =
        json!({"token": token, "user_id": user_id, "expires_at": expires_at, "endpoint": endpoint});
    Ok(axum::Json(body).into_response())
}

async fn upload(
    State(inner): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let parsed = parse_body(&body);
    let client_id = query.get("client_id").cloned().or_else(|| {
        parsed
            .as_ref()
            .ok()
            .and_then(client_id_of)
            .map(str::to_owned)
    });
    fault_prelude(&inner, client_id.as_deref(), "/api/data").await?;
    let body = parsed?;
    if !body.get("batch").is_some_and(Value::is_array) {
        return Err(ApiError::validation(vec![
            "batch: expected an array".to_owned(),
        ]));
    }
    authenticate(&inner, &headers)?;
    let applied = {
        let mut conn = inner.source.lock();
        let applied = source::apply_batch(&mut conn, &inner.options.sync, &body)?;
        inner
            .replicate_locked(&conn)
            .map_err(|e| ApiError::internal(&e.to_string()))?;
        applied
    };
    Ok((
        StatusCode::OK,
        axum::Json(json!({"data": {"applied": applied}})),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_request_id_rules() {
        let ok = |v: Value| parse_checkpoint_request_id(Some(&v));
        assert_eq!(ok(json!("42")), Ok(42));
        assert_eq!(ok(json!(42)), Ok(42));
        assert_eq!(ok(json!("9223372036854775807")), Ok(i64::MAX));
        assert!(ok(json!("9223372036854775808")).is_err());
        assert!(ok(json!(0)).is_err());
        assert!(ok(json!("0")).is_err());
        assert!(ok(json!(-1)).is_err());
        assert!(ok(json!("-5")).is_err());
        assert!(ok(json!(9007199254740992u64)).is_err());
        assert_eq!(ok(json!(9007199254740991u64)), Ok(9007199254740991));
        assert!(ok(json!(1.5)).is_err());
        assert_eq!(ok(json!(5.0)), Ok(5));
        assert!(ok(json!(1e17)).is_err());
        assert!(ok(json!("1e3")).is_err());
        assert!(ok(json!(null)).is_err());
        assert!(parse_checkpoint_request_id(None).is_err());
    }
}
