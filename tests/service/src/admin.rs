// SPDX-License-Identifier: Apache-2.0
//! `/admin/...` endpoints: faults, scripted streams, source SQL and replication control for
//! tests written in other languages. No authentication (test service only).

use crate::error::ApiError;
use crate::faults::Faults;
use crate::routes::{AppState, parse_body};
use crate::source::json_to_sql;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Admin routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/faults", post(set_faults))
        .route("/admin/checkpoint-requests/forget", post(forget))
        .route("/admin/script", post(script_enable))
        .route("/admin/script/release", post(script_release))
        .route("/admin/script/next", get(script_next))
        .route("/admin/script/{id}/send", post(script_send))
        .route("/admin/script/{id}/close", post(script_close))
        .route("/admin/source/execute", post(source_execute))
        .route("/admin/source/query", post(source_query))
        .route("/admin/replication", post(replication))
        .route("/admin/compact", post(compact))
        .route("/admin/state", get(state))
}

fn ok() -> Response {
    axum::Json(json!({"ok": true})).into_response()
}

fn bad(why: &str) -> ApiError {
    ApiError::validation(vec![why.to_owned()])
}

fn optional_client(body: &Value) -> Option<String> {
    body.get("client_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// `{"client_id"?: str, "faults"?: {...}, "clear"?: bool, "forget_checkpoint_requests"?: bool}`
async fn set_faults(State(inner): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let client = optional_client(&body);
    if body.get("clear").and_then(Value::as_bool) == Some(true) {
        inner.faults.lock().clear();
    }
    if let Some(faults) = body.get("faults") {
        let faults: Faults =
            serde_json::from_value(faults.clone()).map_err(|e| bad(&e.to_string()))?;
        inner.faults.lock().set(client.as_deref(), faults);
    }
    if body
        .get("forget_checkpoint_requests")
        .and_then(Value::as_bool)
        == Some(true)
    {
        inner
            .update_store(|store, _| store.forget_write_checkpoints(client.as_deref()))
            .map_err(|e| ApiError::internal(&e.to_string()))?;
    }
    inner.notify();
    Ok(ok())
}

async fn forget(State(inner): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let client = optional_client(&body);
    inner
        .update_store(|store, _| store.forget_write_checkpoints(client.as_deref()))
        .map_err(|e| ApiError::internal(&e.to_string()))?;
    inner.notify();
    Ok(ok())
}

fn required_client(body: &Value) -> Result<String, ApiError> {
    optional_client(body).ok_or_else(|| bad("client_id: required string"))
}

async fn script_enable(State(inner): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let client = required_client(&parse_body(&body)?)?;
    inner.scripts.enable(&client);
    inner.notify();
    Ok(ok())
}

async fn script_release(State(inner): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let client = required_client(&parse_body(&body)?)?;
    inner.scripts.disable(&client);
    Ok(ok())
}

/// `GET /admin/script/next?client_id=..&timeout_ms=..` → `{"connection_id","user_id","request"}`
/// or 404 after the timeout.
async fn script_next(
    State(inner): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let client = query
        .get("client_id")
        .ok_or_else(|| bad("client_id: required"))?;
    let timeout = query
        .get("timeout_ms")
        .and_then(|t| t.parse().ok())
        .unwrap_or(5000);
    let stream = inner
        .scripts
        .next(client, Duration::from_millis(timeout))
        .await
        .ok_or_else(ApiError::not_found)?;
    Ok(axum::Json(json!({
        "connection_id": stream.id,
        "user_id": stream.user_id,
        "format": stream.format.content_type(),
        "request": stream.request,
    }))
    .into_response())
}

/// Body: `{"lines": [obj, ...]}` (encoded in the stream's format), `{"text": "..."}` or
/// `{"base64": "..."}` (raw bytes). Answers `{"ok": bool}`; false once the client is gone.
async fn script_send(
    State(inner): State<AppState>,
    Path(id): Path<u64>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let stream = inner.scripts.get(id).ok_or_else(ApiError::not_found)?;
    let mut delivered = true;
    if let Some(lines) = body.get("lines").and_then(Value::as_array) {
        for line in lines {
            delivered &= stream.send_line(line).await;
        }
    }
    if let Some(text) = body.get("text").and_then(Value::as_str) {
        delivered &= stream.send_raw(text.as_bytes().to_vec()).await;
    }
    if let Some(encoded) = body.get("base64").and_then(Value::as_str) {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| bad(&e.to_string()))?;
        delivered &= stream.send_raw(raw).await;
    }
    Ok(axum::Json(json!({"ok": delivered})).into_response())
}

/// Body: `{"abort": bool}`: abort truncates the response instead of ending it cleanly.
async fn script_close(
    State(inner): State<AppState>,
    Path(id): Path<u64>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let stream = inner.scripts.get(id).ok_or_else(ApiError::not_found)?;
    if body.get("abort").and_then(Value::as_bool) == Some(true) {
        stream.abort().await;
    } else {
        stream.close();
    }
    Ok(ok())
}

fn sql_params(body: &Value) -> Vec<rusqlite::types::Value> {
    body.get("params")
        .and_then(Value::as_array)
        .map(|p| p.iter().map(json_to_sql).collect())
        .unwrap_or_default()
}

/// `{"sql": "...", "params": [...]}`: runs a statement on the source as the app backend
/// would; the change replicates immediately.
async fn source_execute(State(inner): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let sql = body
        .get("sql")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("sql: required"))?;
    let changed = {
        let conn = inner.source.lock();
        let changed = conn
            .execute(sql, rusqlite::params_from_iter(sql_params(&body)))
            .map_err(|e| bad(&e.to_string()))?;
        inner
            .replicate_locked(&conn)
            .map_err(|e| ApiError::internal(&e.to_string()))?;
        changed
    };
    Ok(axum::Json(json!({"changed": changed})).into_response())
}

/// `{"sql": "...", "params": [...]}` → `{"rows": [[...], ...]}`.
async fn source_query(State(inner): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let sql = body
        .get("sql")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("sql: required"))?;
    let conn = inner.source.lock();
    let mut stmt = conn.prepare(sql).map_err(|e| bad(&e.to_string()))?;
    let columns = stmt.column_count();
    let rows = stmt
        .query_map(rusqlite::params_from_iter(sql_params(&body)), |row| {
            (0..columns)
                .map(|i| {
                    Ok(match row.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => Value::Null,
                        rusqlite::types::ValueRef::Integer(i) => json!(i),
                        rusqlite::types::ValueRef::Real(f) => json!(f),
                        rusqlite::types::ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
                        rusqlite::types::ValueRef::Blob(b) => json!(b),
                    })
                })
                .collect::<rusqlite::Result<Vec<Value>>>()
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(|e| bad(&e.to_string()))?;
    Ok(axum::Json(json!({"rows": rows})).into_response())
}

/// MOVE compaction of every bucket → `{"converted": n}`.
async fn compact(State(inner): State<AppState>) -> Result<Response, ApiError> {
    let converted = inner
        .update_store(|store, _| store.compact())
        .map_err(|e| ApiError::internal(&e.to_string()))?;
    Ok(axum::Json(json!({"converted": converted})).into_response())
}

/// `{"paused": bool}`.
async fn replication(State(inner): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_body(&body)?;
    let paused = body
        .get("paused")
        .and_then(Value::as_bool)
        .ok_or_else(|| bad("paused: required bool"))?;
    inner.replication_paused.store(paused, Ordering::SeqCst);
    if !paused {
        inner
            .replicate()
            .map_err(|e| ApiError::internal(&e.to_string()))?;
    }
    Ok(ok())
}

/// `GET /admin/state?user_id=&client_id=` → head and the write-checkpoint record.
async fn state(
    State(inner): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let store = inner.store.lock();
    let record = match (query.get("user_id"), query.get("client_id")) {
        (Some(u), Some(c)) => store.write_checkpoint(u, c),
        _ => None,
    };
    axum::Json(json!({
        "head": store.head.to_string(),
        "replicated_position": store.replicated_position,
        "write_checkpoint": record.map(|r| json!({"id": r.id.to_string(), "source_position": r.source_position})),
    }))
    .into_response()
}
