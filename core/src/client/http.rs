// SPDX-License-Identifier: Apache-2.0
//! The sync service's endpoints as the client calls them ([`ServiceClient`]): paths, headers,
//! status classification, and error messages that never contain tokens or row data (only the
//! endpoint host). Requests go through the session's [`HttpClient`]; a 401 invalidates the
//! session's credentials here, once for every endpoint.

use std::sync::Arc;

use futures_util::StreamExt;
use serde_json::Value as Json;

use super::auth::Auth;
use super::connector::Credentials;
use super::lines::{BSON_CONTENT_TYPE, NDJSON_CONTENT_TYPE};
use super::transport::{HttpBody, HttpClient, HttpMethod, HttpRequest, HttpResponse};
use crate::{Error, Result};

/// The host of an endpoint, for error messages.
pub(crate) fn endpoint_host(endpoint: &str) -> String {
    reqwest::Url::parse(endpoint)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_owned(),
            })
        })
        .unwrap_or_else(|| "<invalid endpoint>".to_owned())
}

/// Joins the endpoint and a path.
fn url(credentials: &Credentials, path: &str) -> Result<reqwest::Url> {
    let base = credentials.endpoint.trim_end_matches('/');
    reqwest::Url::parse(&format!("{base}{path}"))
        .map_err(|_| Error::invalid_argument("sync endpoint is not a valid URL"))
}

/// The user agent sent with every request: `psync/<version> (<language>)`, the language being
/// the app's (`rust`, `python`, `kotlin`, `swift`; checked by `SyncOptions::validate`).
pub(crate) fn user_agent(language: &str) -> String {
    format!("psync/{} ({language})", env!("CARGO_PKG_VERSION"))
}

/// Why a call to the service failed, classified for the callers' retry logic.
#[derive(Debug)]
pub(crate) enum HttpFailure {
    /// No credentials: the connector failed or returned none.
    Credentials(Error),
    /// 401: the credentials were rejected (and have been invalidated).
    Unauthorized(String),
    /// 404.
    NotFound(String),
    /// The request did not get an answer: connection, TLS or body transfer failed.
    Network(String),
    /// Any other status or a malformed answer.
    Other(String),
}

impl HttpFailure {
    pub(crate) fn into_error(self) -> Error {
        match self {
            HttpFailure::Credentials(error) => error,
            HttpFailure::Network(message) => Error::network(message),
            HttpFailure::Unauthorized(message)
            | HttpFailure::NotFound(message)
            | HttpFailure::Other(message) => Error::protocol(message),
        }
    }
}

/// Reads a service error body's code, if any (codes are safe to show).
fn service_error_code(body: &[u8]) -> Option<String> {
    let json: Json = serde_json::from_slice(body).ok()?;
    json.get("error")?.get("code")?.as_str().map(str::to_owned)
}

/// The whole body (for the short JSON answers, never the sync stream).
async fn read_body(mut body: HttpBody) -> std::result::Result<Vec<u8>, ()> {
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        bytes.extend_from_slice(&chunk.map_err(|_| ())?);
    }
    Ok(bytes)
}

async fn check_status(
    host: &str,
    what: &str,
    response: HttpResponse,
) -> std::result::Result<HttpResponse, HttpFailure> {
    if (200..300).contains(&response.status) {
        return Ok(response);
    }
    let body = read_body(response.body).await.unwrap_or_default();
    let code = service_error_code(&body)
        .map(|c| format!(" {c}"))
        .unwrap_or_default();
    let message = format!("{what} failed: HTTP {}{code} ({host})", response.status);
    Err(match response.status {
        401 => HttpFailure::Unauthorized(message),
        404 => HttpFailure::NotFound(message),
        _ => HttpFailure::Other(message),
    })
}

/// Reads an id the service sends as a string (or number).
fn id_field(json: &Json, key: &str) -> Option<i64> {
    let data = json.get("data").unwrap_or(json);
    match data.get(key)? {
        Json::String(s) => s.parse().ok(),
        Json::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// One call: what it is (for messages), where it goes and what it carries.
struct Call<'a> {
    what: &'static str,
    method: HttpMethod,
    path: &'static str,
    query: Option<(&'static str, &'a str)>,
    accept: Option<String>,
    body: Option<Json>,
}

/// The opened sync stream.
pub(crate) struct StreamResponse {
    /// Whether the service answered with BSON lines.
    pub(crate) bson: bool,
    pub(crate) body: HttpBody,
}

/// The sync service of one `connect()`, called with its credentials.
pub(crate) struct ServiceClient {
    http: Arc<dyn HttpClient>,
    pub(crate) auth: Arc<Auth>,
    client_id: String,
    user_agent: String,
}

impl ServiceClient {
    pub(crate) fn new(
        http: Arc<dyn HttpClient>,
        auth: Arc<Auth>,
        client_id: String,
        language: &str,
    ) -> Self {
        Self {
            http,
            auth,
            client_id,
            user_agent: user_agent(language),
        }
    }

    /// Sends `call` with the current credentials; a 401 invalidates them.
    async fn send(
        &self,
        call: Call<'_>,
    ) -> std::result::Result<(String, HttpResponse), HttpFailure> {
        let credentials = self
            .auth
            .credentials()
            .await
            .map_err(HttpFailure::Credentials)?;
        let host = endpoint_host(&credentials.endpoint);
        let mut url =
            url(&credentials, call.path).map_err(|e| HttpFailure::Other(e.to_string()))?;
        if let Some((key, value)) = call.query {
            url.query_pairs_mut().append_pair(key, value);
        }
        let mut headers = vec![
            ("authorization", format!("Token {}", credentials.token)),
            ("user-agent", self.user_agent.clone()),
        ];
        if let Some(accept) = call.accept {
            headers.push(("accept", accept));
        }
        let body = match call.body {
            Some(json) => {
                headers.push(("content-type", "application/json".to_owned()));
                Some(serde_json::to_vec(&json).map_err(|e| HttpFailure::Other(e.to_string()))?)
            }
            None => None,
        };
        let request = HttpRequest {
            method: call.method,
            url: url.into(),
            headers,
            body,
        };
        let response = self
            .http
            .send(request)
            .await
            .map_err(|e| HttpFailure::Network(format!("{} ({host})", e.0)))?;
        match check_status(&host, call.what, response).await {
            Ok(response) => Ok((host, response)),
            Err(failure) => {
                if matches!(failure, HttpFailure::Unauthorized(_)) {
                    self.auth.invalidate();
                }
                Err(failure)
            }
        }
    }

    /// Sends `call` and reads the id `key` from its JSON answer.
    async fn id_answer(&self, call: Call<'_>, key: &str) -> std::result::Result<i64, HttpFailure> {
        let what = call.what;
        let (host, response) = self.send(call).await?;
        let malformed = || HttpFailure::Other(format!("{what} failed: malformed answer ({host})"));
        let body = read_body(response.body).await.map_err(|()| malformed())?;
        let answer: Json = serde_json::from_slice(&body).map_err(|_| malformed())?;
        id_field(&answer, key)
            .ok_or_else(|| HttpFailure::Other(format!("{what} failed: answer has no id ({host})")))
    }

    /// Opens `POST /sync/stream`.
    pub(crate) async fn open_stream(
        &self,
        request: &Json,
        bson: bool,
    ) -> std::result::Result<StreamResponse, HttpFailure> {
        let accept = if bson {
            format!("{BSON_CONTENT_TYPE};q=0.9,{NDJSON_CONTENT_TYPE};q=0.8")
        } else {
            NDJSON_CONTENT_TYPE.to_owned()
        };
        let call = Call {
            what: "sync stream",
            method: HttpMethod::Post,
            path: "/sync/stream",
            query: None,
            accept: Some(accept),
            body: Some(request.clone()),
        };
        let (_, response) = self.send(call).await?;
        let bson = response
            .content_type
            .as_deref()
            .is_some_and(|v| v.starts_with(BSON_CONTENT_TYPE));
        Ok(StreamResponse {
            bson,
            body: response.body,
        })
    }

    /// `POST /sync/checkpoint-request` for `client_id`; returns the accepted id.
    pub(crate) async fn post_checkpoint_request(
        &self,
        client_id: &str,
        id: i64,
    ) -> std::result::Result<i64, HttpFailure> {
        let body =
            serde_json::json!({"client_id": client_id, "checkpoint_request_id": id.to_string()});
        let call = Call {
            what: "checkpoint request",
            method: HttpMethod::Post,
            path: "/sync/checkpoint-request",
            query: None,
            accept: None,
            body: Some(body),
        };
        self.id_answer(call, "checkpoint_request_id").await
    }

    /// `POST /sync/checkpoint-request` for this database's client id.
    pub(crate) async fn post_own_checkpoint_request(
        &self,
        id: i64,
    ) -> std::result::Result<i64, HttpFailure> {
        self.post_checkpoint_request(&self.client_id, id).await
    }

    /// Legacy `GET /write-checkpoint2.json?client_id=…`.
    pub(crate) async fn write_checkpoint(&self) -> std::result::Result<i64, HttpFailure> {
        let call = Call {
            what: "write checkpoint",
            method: HttpMethod::Get,
            path: "/write-checkpoint2.json",
            query: Some(("client_id", &self.client_id)),
            accept: None,
            body: None,
        };
        self.id_answer(call, "write_checkpoint").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_show_only_the_host() {
        assert_eq!(
            endpoint_host("http://127.0.0.1:8080/x?token=secret"),
            "127.0.0.1:8080"
        );
        let json: Json = serde_json::json!({"data": {"checkpoint_request_id": "12"}});
        assert_eq!(id_field(&json, "checkpoint_request_id"), Some(12));
    }
}
