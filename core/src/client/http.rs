// SPDX-License-Identifier: Apache-2.0
//! HTTP plumbing: requests to the sync service, line framing, and error messages that never
//! contain tokens or row data (only the endpoint host).

use reqwest::{Client, StatusCode};
use serde_json::Value as Json;

use super::connector::Credentials;
use crate::{Error, Result};

/// Content type of BSON sync lines.
pub(crate) const BSON_CONTENT_TYPE: &str = "application/vnd.powersync.bson-stream";
/// Content type of ndjson sync lines.
pub(crate) const NDJSON_CONTENT_TYPE: &str = "application/x-ndjson";

/// One decoded frame of the sync stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

/// Splits the response body into lines: `\n`-separated text, or BSON documents whose first
/// four bytes are their total length (little endian).
#[derive(Debug, Default)]
pub(crate) struct LineDecoder {
    bson: bool,
    buffer: Vec<u8>,
}

/// Upper bound for one line; a larger length prefix means a corrupt stream.
const MAX_LINE_BYTES: usize = 256 * 1024 * 1024;

impl LineDecoder {
    pub(crate) fn new(bson: bool) -> Self {
        Self {
            bson,
            buffer: Vec::new(),
        }
    }

    /// Adds received bytes and returns every complete frame.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<Vec<Frame>> {
        self.buffer.extend_from_slice(bytes);
        let mut frames = Vec::new();
        let mut start = 0;
        if self.bson {
            while self.buffer.len() - start >= 4 {
                let mut len_bytes = [0u8; 4];
                len_bytes.copy_from_slice(&self.buffer[start..start + 4]);
                let len = u32::from_le_bytes(len_bytes) as usize;
                if !(5..=MAX_LINE_BYTES).contains(&len) {
                    return Err(Error::protocol("invalid BSON frame length in sync stream"));
                }
                if self.buffer.len() - start < len {
                    break;
                }
                frames.push(Frame::Binary(self.buffer[start..start + len].to_vec()));
                start += len;
            }
        } else {
            while let Some(pos) = self.buffer[start..].iter().position(|b| *b == b'\n') {
                let line = &self.buffer[start..start + pos];
                let text = std::str::from_utf8(line)
                    .map_err(|_| Error::protocol("sync line is not valid UTF-8"))?
                    .trim();
                if !text.is_empty() {
                    frames.push(Frame::Text(text.to_owned()));
                }
                start += pos + 1;
            }
            if self.buffer.len() - start > MAX_LINE_BYTES {
                return Err(Error::protocol("sync line too long"));
            }
        }
        self.buffer.drain(..start);
        Ok(frames)
    }

    /// Bytes of an unfinished frame left at the end of the stream.
    pub(crate) fn has_partial(&self) -> bool {
        !self.buffer.iter().all(u8::is_ascii_whitespace) || (self.bson && !self.buffer.is_empty())
    }
}

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
pub(crate) fn url(credentials: &Credentials, path: &str) -> Result<reqwest::Url> {
    let base = credentials.endpoint.trim_end_matches('/');
    reqwest::Url::parse(&format!("{base}{path}"))
        .map_err(|_| Error::invalid_argument("sync endpoint is not a valid URL"))
}

/// The user agent sent with every request: `psync/<version> (<language>)`, the language being
/// the app's (`rust`, `python`, `kotlin`, `swift`; checked by `SyncOptions::validate`).
pub(crate) fn user_agent(language: &str) -> String {
    format!("psync/{} ({language})", env!("CARGO_PKG_VERSION"))
}

/// Why an HTTP call failed, classified for the callers' retry/credential logic.
#[derive(Debug)]
pub(crate) enum HttpFailure {
    /// 401: the credentials were rejected.
    Unauthorized(String),
    /// 404.
    NotFound(String),
    /// The request did not get an answer: connection, TLS or body transfer failed.
    Network(String),
    /// Any other status or a malformed answer.
    Other(String),
}

impl HttpFailure {
    pub(crate) fn message(&self) -> &str {
        match self {
            HttpFailure::Unauthorized(m)
            | HttpFailure::NotFound(m)
            | HttpFailure::Network(m)
            | HttpFailure::Other(m) => m,
        }
    }

    pub(crate) fn into_error(self) -> Error {
        match self {
            HttpFailure::Network(message) => Error::network(message),
            other => Error::protocol(other.message().to_owned()),
        }
    }
}

/// A network error as text; reqwest's message contains the URL, which may carry query
/// parameters, so only the kind and host are kept. TLS failures say what was wrong with the
/// certificate (never its contents).
pub(crate) fn network_message(host: &str, error: &reqwest::Error) -> String {
    if let Some(tls) = super::tls::tls_error(error) {
        return format!("{} ({host})", super::tls::describe(tls));
    }
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "response body failed"
    } else {
        "request failed"
    };
    format!("{kind} ({host})")
}

/// Reads a service error body's code, if any (codes are safe to show).
fn service_error_code(body: &str) -> Option<String> {
    let json: Json = serde_json::from_str(body).ok()?;
    json.get("error")?.get("code")?.as_str().map(str::to_owned)
}

pub(crate) async fn check_status(
    host: &str,
    what: &str,
    response: reqwest::Response,
) -> std::result::Result<reqwest::Response, HttpFailure> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    let code = service_error_code(&body)
        .map(|c| format!(" {c}"))
        .unwrap_or_default();
    let message = format!("{what} failed: HTTP {}{code} ({host})", status.as_u16());
    Err(match status {
        StatusCode::UNAUTHORIZED => HttpFailure::Unauthorized(message),
        StatusCode::NOT_FOUND => HttpFailure::NotFound(message),
        _ => HttpFailure::Other(message),
    })
}

fn authorized(
    builder: reqwest::RequestBuilder,
    credentials: &Credentials,
) -> reqwest::RequestBuilder {
    // The User-Agent is the client's default header (set where the client is built).
    builder.header(
        reqwest::header::AUTHORIZATION,
        format!("Token {}", credentials.token),
    )
}

/// Opens `POST /sync/stream`.
pub(crate) async fn open_stream(
    client: &Client,
    credentials: &Credentials,
    request: &Json,
    bson: bool,
) -> std::result::Result<reqwest::Response, HttpFailure> {
    let host = endpoint_host(&credentials.endpoint);
    let url = url(credentials, "/sync/stream").map_err(|e| HttpFailure::Other(e.to_string()))?;
    let accept = if bson {
        format!("{BSON_CONTENT_TYPE};q=0.9,{NDJSON_CONTENT_TYPE};q=0.8")
    } else {
        NDJSON_CONTENT_TYPE.to_owned()
    };
    let response = authorized(client.post(url), credentials)
        .header(reqwest::header::ACCEPT, accept)
        .json(request)
        .send()
        .await
        .map_err(|e| HttpFailure::Network(network_message(&host, &e)))?;
    check_status(&host, "sync stream", response).await
}

/// Whether the response carries BSON lines.
pub(crate) fn is_bson_response(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(BSON_CONTENT_TYPE))
}

async fn json_answer(
    host: &str,
    what: &str,
    builder: reqwest::RequestBuilder,
) -> std::result::Result<Json, HttpFailure> {
    let response = builder
        .send()
        .await
        .map_err(|e| HttpFailure::Network(network_message(host, &e)))?;
    let response = check_status(host, what, response).await?;
    response
        .json::<Json>()
        .await
        .map_err(|_| HttpFailure::Other(format!("{what} failed: malformed answer ({host})")))
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

/// `POST /sync/checkpoint-request`; returns the accepted id.
pub(crate) async fn post_checkpoint_request(
    client: &Client,
    credentials: &Credentials,
    client_id: &str,
    id: i64,
) -> std::result::Result<i64, HttpFailure> {
    let host = endpoint_host(&credentials.endpoint);
    let what = "checkpoint request";
    let url = url(credentials, "/sync/checkpoint-request")
        .map_err(|e| HttpFailure::Other(e.to_string()))?;
    let body = serde_json::json!({"client_id": client_id, "checkpoint_request_id": id.to_string()});
    let answer = json_answer(
        &host,
        what,
        authorized(client.post(url), credentials).json(&body),
    )
    .await?;
    id_field(&answer, "checkpoint_request_id")
        .ok_or_else(|| HttpFailure::Other(format!("{what} failed: answer has no id ({host})")))
}

/// Legacy `GET /write-checkpoint2.json?client_id=…`.
pub(crate) async fn get_write_checkpoint(
    client: &Client,
    credentials: &Credentials,
    client_id: &str,
) -> std::result::Result<i64, HttpFailure> {
    let host = endpoint_host(&credentials.endpoint);
    let what = "write checkpoint";
    let mut url = url(credentials, "/write-checkpoint2.json")
        .map_err(|e| HttpFailure::Other(e.to_string()))?;
    url.query_pairs_mut().append_pair("client_id", client_id);
    let answer = json_answer(&host, what, authorized(client.get(url), credentials)).await?;
    id_field(&answer, "write_checkpoint")
        .ok_or_else(|| HttpFailure::Other(format!("{what} failed: answer has no id ({host})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_lines_split_across_chunks() {
        let mut decoder = LineDecoder::new(false);
        assert!(decoder.push(b"{\"a\":1}\n{\"b\"").unwrap_or_default().len() == 1);
        let frames = decoder.push(b":2}\n\n").unwrap_or_default();
        assert_eq!(frames, vec![Frame::Text("{\"b\":2}".into())]);
        assert!(!decoder.has_partial());
    }

    #[test]
    fn bson_frames_use_length_prefix() {
        let mut decoder = LineDecoder::new(true);
        let doc = [5u8, 0, 0, 0, 0];
        let mut bytes = doc.to_vec();
        bytes.extend_from_slice(&[5, 0]);
        let frames = decoder.push(&bytes).unwrap_or_default();
        assert_eq!(frames, vec![Frame::Binary(doc.to_vec())]);
        assert!(decoder.has_partial());
        let frames = decoder.push(&[0, 0, 0]).unwrap_or_default();
        assert_eq!(frames, vec![Frame::Binary(doc.to_vec())]);
        assert!(!decoder.has_partial());
    }

    #[test]
    fn bson_rejects_impossible_length() {
        let mut decoder = LineDecoder::new(true);
        assert!(decoder.push(&[1, 0, 0, 0]).is_err());
    }

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
