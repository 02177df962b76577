// SPDX-License-Identifier: Apache-2.0
//! HTTP error bodies in the service's shape: `{"error":{"name","code","status","description",…}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An error answered as an HTTP error response (boxed to keep `Result`s small).
#[derive(Debug, Clone)]
pub struct ApiError(Box<ApiErrorData>);

impl std::ops::Deref for ApiError {
    type Target = ApiErrorData;
    fn deref(&self) -> &ApiErrorData {
        &self.0
    }
}

impl std::ops::DerefMut for ApiError {
    fn deref_mut(&mut self) -> &mut ApiErrorData {
        &mut self.0
    }
}

/// Fields of an [`ApiError`].
#[derive(Debug, Clone)]
pub struct ApiErrorData {
    /// HTTP status.
    pub status: u16,
    /// Error class name (`ServiceError`, `AuthorizationError`, `ValidationError`).
    pub name: &'static str,
    /// `PSYNC_Sxxxx` code.
    pub code: &'static str,
    /// Human readable description.
    pub description: String,
    /// Optional details.
    pub details: Option<Value>,
    /// Optional severity (`info` on 404s).
    pub severity: Option<&'static str>,
}

impl ApiError {
    fn new(status: u16, name: &'static str, code: &'static str, description: &str) -> Self {
        ApiError(Box::new(ApiErrorData {
            status,
            name,
            code,
            description: description.to_owned(),
            details: None,
            severity: None,
        }))
    }

    /// Adds details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// 400 PSYNC_S2001 "Validation failed"; `details` is the JSON text of the list of problems
    /// (as the real service sends it: a string, not an array).
    pub fn validation(problems: Vec<String>) -> Self {
        ApiError::new(400, "ValidationError", "PSYNC_S2001", "Validation failed").with_details(
            Value::String(serde_json::to_string(&problems).unwrap_or_default()),
        )
    }

    /// A body error of the real service's HTTP layer (Fastify): `{"name": "FastifyError",
    /// "code": "FST_ERR_…", "status", "description"}`.
    fn fastify(status: u16, code: &'static str, description: &str) -> Self {
        ApiError::new(status, "FastifyError", code, description)
    }

    /// 400: `Content-Type: application/json` with an empty body.
    pub fn empty_json_body() -> Self {
        ApiError::fastify(
            400,
            "FST_ERR_CTP_EMPTY_JSON_BODY",
            "Body cannot be empty when content-type is set to 'application/json'",
        )
    }

    /// 400: `Content-Type: application/json` with a body that isn't JSON.
    pub fn invalid_json_body() -> Self {
        ApiError::fastify(
            400,
            "FST_ERR_CTP_INVALID_JSON_BODY",
            "Body is not valid JSON but content-type is set to 'application/json'",
        )
    }

    /// 415: a body without a content type, or of one other than JSON or plain text.
    pub fn unsupported_media_type() -> Self {
        ApiError::fastify(
            415,
            "FST_ERR_CTP_INVALID_MEDIA_TYPE",
            "Unsupported Media Type",
        )
    }

    /// 413: a body over the real service's 1 MiB limit.
    pub fn body_too_large() -> Self {
        ApiError::fastify(
            413,
            "FST_ERR_CTP_BODY_TOO_LARGE",
            "Request body is too large",
        )
    }

    /// 401 PSYNC_S2106: no token.
    pub fn auth_required() -> Self {
        ApiError::new(
            401,
            "AuthorizationError",
            "PSYNC_S2106",
            "Authentication required",
        )
    }

    /// 401 PSYNC_S2101: generic auth failure (malformed token, unknown key, bad signature,
    /// missing claim…).
    pub fn auth_generic(why: &str) -> Self {
        ApiError::new(401, "AuthorizationError", "PSYNC_S2101", why)
    }

    /// 401 PSYNC_S2103: expired.
    pub fn auth_expired() -> Self {
        ApiError::new(401, "AuthorizationError", "PSYNC_S2103", "JWT has expired")
    }

    /// 401 PSYNC_S2104: the token lives longer than allowed.
    pub fn auth_lifetime(why: &str) -> Self {
        ApiError::new(401, "AuthorizationError", "PSYNC_S2104", why)
    }

    /// 401 PSYNC_S2105: audience missing or not accepted.
    pub fn auth_audience(why: &str) -> Self {
        ApiError::new(401, "AuthorizationError", "PSYNC_S2105", why)
    }

    /// 404 PSYNC_S2002 for `method path` (path with its query, as requested).
    pub fn route_not_found(method: &str, path: &str) -> Self {
        let mut error = ApiError::new(
            404,
            "RouteNotFound",
            "PSYNC_S2002",
            "The path does not exist on this server",
        )
        .with_details(Value::String(format!(
            "The path {method} {} does not exist on this server",
            Value::String(path.to_owned())
        )));
        error.severity = Some("info");
        error
    }

    /// 404 PSYNC_S2002.
    pub fn not_found() -> Self {
        ApiError::new(
            404,
            "ServiceError",
            "PSYNC_S2002",
            "The path does not exist on this server",
        )
    }

    /// 500 internal error.
    pub fn internal(why: &str) -> Self {
        ApiError::new(500, "ServiceError", "PSYNC_S2001", "Something went wrong")
            .with_details(Value::String(why.to_owned()))
    }

    /// 503 PSYNC_S2003.
    pub fn unavailable() -> Self {
        ApiError::new(
            503,
            "ServiceError",
            "PSYNC_S2003",
            "Service temporarily unavailable",
        )
    }

    /// An upload-backend rejection (not part of the sync protocol).
    pub fn upload_rejected(status: u16, index: usize, why: &str) -> Self {
        ApiError::new(status, "UploadError", "UPLOAD_REJECTED", why)
            .with_details(json!({"index": index, "reason": why}))
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut error = json!({
            "name": self.name,
            "code": self.code,
            "status": self.status,
            "description": self.description,
        });
        if let Some(map) = error.as_object_mut() {
            if let Some(details) = &self.details {
                map.insert("details".to_owned(), details.clone());
            }
            if let Some(severity) = self.severity {
                map.insert("severity".to_owned(), Value::from(severity));
            }
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(self.body())).into_response()
    }
}
