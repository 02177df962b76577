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
}

impl ApiError {
    fn new(status: u16, name: &'static str, code: &'static str, description: &str) -> Self {
        ApiError(Box::new(ApiErrorData {
            status,
            name,
            code,
            description: description.to_owned(),
            details: None,
        }))
    }

    /// Adds details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// 400 PSYNC_S2001 "Validation failed" with the list of problems as details.
    pub fn validation(problems: Vec<String>) -> Self {
        ApiError::new(400, "ValidationError", "PSYNC_S2001", "Validation failed").with_details(
            Value::String(serde_json::to_string(&problems).unwrap_or_default()),
        )
    }

    /// 400 for a body that isn't JSON at all.
    pub fn invalid_json(why: &str) -> Self {
        ApiError::new(400, "ValidationError", "PSYNC_S2001", "Validation failed")
            .with_details(Value::String(format!("Body is not valid JSON: {why}")))
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

    /// 401 PSYNC_S2101: generic auth failure.
    pub fn auth_generic(why: &str) -> Self {
        ApiError::new(401, "AuthorizationError", "PSYNC_S2101", why)
    }

    /// 401 PSYNC_S2102: bad signature / unknown key.
    pub fn auth_signature(why: &str) -> Self {
        ApiError::new(401, "AuthorizationError", "PSYNC_S2102", why)
    }

    /// 401 PSYNC_S2103: expired.
    pub fn auth_expired() -> Self {
        ApiError::new(401, "AuthorizationError", "PSYNC_S2103", "JWT has expired")
    }

    /// 401 PSYNC_S2105: audience mismatch.
    pub fn auth_audience() -> Self {
        ApiError::new(
            401,
            "AuthorizationError",
            "PSYNC_S2105",
            "Unexpected \"aud\" claim value",
        )
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
        if let (Some(details), Some(map)) = (&self.details, error.as_object_mut()) {
            map.insert("details".to_owned(), details.clone());
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
