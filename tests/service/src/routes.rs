// SPDX-License-Identifier: Apache-2.0
//! HTTP routes: the sync protocol endpoints, the dev token and upload backend, and `/admin`.

use crate::auth::{self, Claims};
use crate::encode::Format;
use crate::error::ApiError;
use crate::faults::Faults;
use crate::service::Inner;
use crate::stream::{self, StreamRequest};
use crate::subscriptions::{self, RequestContext};
use crate::{admin, source, validate};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
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
        // Like the real service, an unknown path or a known path with another method is 404.
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .with_state(inner)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::route_not_found(method.as_str(), &uri.to_string())
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

/// Parses a JSON body; an empty body counts as `{}` (app backend and admin endpoints, which
/// the real service does not have).
pub fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::validation(vec![format!("Body is not valid JSON: {e}")]))
}

fn client_id_of(params: &Value) -> Option<&str> {
    params.get("client_id").and_then(Value::as_str)
}

/// The real service's request body limit (Fastify's default).
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Parses the body of a protocol request as the real service's HTTP layer does: JSON when
/// `Content-Type` is `application/json` (empty or invalid → 400), a string for `text/plain`,
/// nothing when there is no body; any other type, or a body without a type → 415.
fn protocol_body(headers: &HeaderMap, body: &[u8]) -> Result<Option<Value>, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::body_too_large());
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or_default().to_ascii_lowercase());
    let Some(content_type) = content_type else {
        return if body.is_empty() {
            Ok(None)
        } else {
            Err(ApiError::unsupported_media_type())
        };
    };
    let media = content_type.split(';').next().unwrap_or_default().trim();
    match media {
        "application/json" if body.is_empty() => Err(ApiError::empty_json_body()),
        "application/json" => serde_json::from_slice(body)
            .map(Some)
            .map_err(|_| ApiError::invalid_json_body()),
        "text/plain" => Ok(Some(Value::String(
            String::from_utf8_lossy(body).into_owned(),
        ))),
        _ => Err(ApiError::unsupported_media_type()),
    }
}

/// Query parameters as the real service sees them: a repeated key becomes an array.
fn query_params(pairs: Vec<(String, String)>) -> Map<String, Value> {
    let mut map = Map::new();
    for (key, value) in pairs {
        match map.get_mut(&key) {
            None => {
                map.insert(key, Value::String(value));
            }
            Some(Value::Array(list)) => list.push(Value::String(value)),
            Some(first) => *first = Value::Array(vec![first.take(), Value::String(value)]),
        }
    }
    map
}

/// A protocol request's parameters (query and JSON body), or the body error to answer after
/// faults were applied.
fn protocol_params(
    headers: &HeaderMap,
    query: Vec<(String, String)>,
    body: &[u8],
) -> (Value, Result<(), ApiError>) {
    match protocol_body(headers, body) {
        Ok(parsed) => (
            validate::route_params(query_params(query), parsed.as_ref()),
            Ok(()),
        ),
        Err(e) => (Value::Object(query_params(query)), Err(e)),
    }
}

/// `buckets[].after` of a validated stream request (`after` is a decimal string; one that is
/// not a number counts as 0, as the service would fail on it later).
fn bucket_positions(params: &Value) -> HashMap<String, i64> {
    params
        .get("buckets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|b| {
            let name = b.get("name")?.as_str()?.to_owned();
            let after = b.get("after")?.as_str()?.parse::<i64>().unwrap_or(0);
            Some((name, after))
        })
        .collect()
}

async fn sync_stream(
    State(inner): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Response {
    match sync_stream_inner(inner, headers, query, body).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn sync_stream_inner(
    inner: AppState,
    headers: HeaderMap,
    query: Vec<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (params, body_error) = protocol_params(&headers, query, &body);
    let client_id = client_id_of(&params).map(str::to_owned);
    let faults = fault_prelude(&inner, client_id.as_deref(), "/sync/stream").await?;
    let faults_generation = inner.faults.lock().generation;
    body_error?;
    validate::stream_request(&params).map_err(ApiError::validation)?;
    let after = bucket_positions(&params);
    let claims = authenticate(&inner, &headers)?;
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    let context = RequestContext::from_request(&claims.user_id, &claims.payload, &params);
    let resolution = subscriptions::resolve(&inner.options.sync, &context);
    let request = StreamRequest {
        resolution,
        user_id: claims.user_id,
        token_exp: claims.exp,
        client_id: client_id.unwrap_or_default(),
        after,
        raw_data: params.get("raw_data") == Some(&Value::Bool(true)),
        body: params,
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

async fn checkpoint_request(
    State(inner): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(query): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (params, body_error) = protocol_params(&headers, query, &body);
    let client_id = client_id_of(&params).map(str::to_owned);
    let faults = fault_prelude(&inner, client_id.as_deref(), "/sync/checkpoint-request").await?;
    if faults.checkpoint_request_not_found {
        return Err(ApiError::route_not_found("POST", &uri.to_string()));
    }
    body_error?;
    let (client_id, requested) =
        validate::checkpoint_request(&params).map_err(ApiError::validation)?;
    let claims = authenticate(&inner, &headers)?;
    let stored = inner
        .update_store(|store, position| {
            store.checkpoint_request(&claims.user_id, &client_id, requested, position)
        })
        .map_err(|e| ApiError::internal(&e.to_string()))?;
    inner.notify();
    Ok(axum::Json(json!({"data": {"checkpoint_request_id": stored.to_string()}})).into_response())
}

async fn write_checkpoint2(
    State(inner): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let params = Value::Object(query_params(query));
    let client_id = client_id_of(&params).map(str::to_owned);
    fault_prelude(&inner, client_id.as_deref(), "/write-checkpoint2.json").await?;
    validate::write_checkpoint_request(&params).map_err(ApiError::validation)?;
    let claims = authenticate(&inner, &headers)?;
    let id = inner
        .update_store(|store, position| {
            store.legacy_write_checkpoint(
                &claims.user_id,
                client_id.as_deref().unwrap_or(""),
                position,
            )
        })
        .map_err(|e| ApiError::internal(&e.to_string()))?;
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
