// SPDX-License-Identifier: Apache-2.0
//! HTTP calls to the sync service (sync-protocol.md §1–§3, §9–§10) and the framing of the
//! sync stream body into lines (ndjson or length-prefixed BSON documents).

use std::fmt;

use futures_util::StreamExt;
use serde_json::json;

use super::Credentials;

/// Content type of a BSON sync stream.
pub(crate) const BSON_CONTENT_TYPE: &str = "application/vnd.powersync.bson-stream";
const NDJSON_CONTENT_TYPE: &str = "application/x-ndjson";

/// Why an HTTP call failed. Messages name only the endpoint host, never tokens or bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HttpError {
    /// 401: the credentials were rejected.
    Unauthorized(String),
    /// 404: the endpoint does not exist on this service.
    NotFound(String),
    /// Any other non-success status.
    Status(u16, String),
    /// Connection failure, broken body or undecodable answer.
    Network(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Unauthorized(m) => write!(f, "unauthorized: {m}"),
            HttpError::NotFound(m) => write!(f, "not found: {m}"),
            HttpError::Status(code, m) => write!(f, "HTTP {code}: {m}"),
            HttpError::Network(m) => write!(f, "network error: {m}"),
        }
    }
}

/// The host part of `endpoint`, for error messages.
pub(crate) fn host_of(endpoint: &str) -> String {
    let rest = endpoint.split("://").nth(1).unwrap_or(endpoint);
    rest.split(['/', '?', '@']).next().unwrap_or("").to_string()
}

fn url(creds: &Credentials, path: &str) -> String {
    format!("{}{}", creds.endpoint.trim_end_matches('/'), path)
}

fn classify_status(status: u16, what: &str, host: &str) -> HttpError {
    let message = format!("{what} at {host}");
    match status {
        401 => HttpError::Unauthorized(message),
        404 => HttpError::NotFound(message),
        other => HttpError::Status(other, message),
    }
}

fn network(what: &str, host: &str, error: &reqwest::Error) -> HttpError {
    // reqwest's Display includes the URL, which is fine (no query secrets are sent), but keep
    // messages uniform: only the kind of failure and the host.
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "response body failed"
    } else {
        "request failed"
    };
    HttpError::Network(format!("{what} at {host}: {kind}"))
}

fn auth_header(creds: &Credentials) -> String {
    format!("Token {}", creds.token)
}

/// A sync stream response, split into lines.
pub(crate) struct LineStream {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    framer: Framer,
    host: String,
}

/// One framed sync line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    /// A JSON text line.
    Text(String),
    /// A BSON document.
    Binary(Vec<u8>),
}

impl LineStream {
    /// The next line, `Ok(None)` at the end of the body.
    pub(crate) async fn next_line(&mut self) -> Result<Option<Line>, HttpError> {
        loop {
            if let Some(line) = self.framer.next_line()? {
                return Ok(Some(line));
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.framer.push(&chunk),
                Some(Err(e)) => return Err(network("sync stream", &self.host, &e)),
                None => return self.framer.finish(),
            }
        }
    }
}

/// Splits a byte stream into sync lines.
#[derive(Debug)]
pub(crate) struct Framer {
    bson: bool,
    buffer: Vec<u8>,
}

/// Upper bound for one BSON document; a bigger length prefix means a corrupt stream.
const MAX_BSON_DOCUMENT: usize = 64 * 1024 * 1024;

impl Framer {
    pub(crate) fn new(bson: bool) -> Self {
        Self {
            bson,
            buffer: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    pub(crate) fn next_line(&mut self) -> Result<Option<Line>, HttpError> {
        if self.bson {
            if self.buffer.len() < 4 {
                return Ok(None);
            }
            let mut prefix = [0u8; 4];
            prefix.copy_from_slice(&self.buffer[..4]);
            let len = i32::from_le_bytes(prefix);
            let len = usize::try_from(len).unwrap_or(0);
            if !(5..=MAX_BSON_DOCUMENT).contains(&len) {
                return Err(HttpError::Network(
                    "sync stream: invalid BSON document length".into(),
                ));
            }
            if self.buffer.len() < len {
                return Ok(None);
            }
            let doc: Vec<u8> = self.buffer.drain(..len).collect();
            return Ok(Some(Line::Binary(doc)));
        }
        loop {
            let Some(pos) = self.buffer.iter().position(|b| *b == b'\n') else {
                return Ok(None);
            };
            let raw: Vec<u8> = self.buffer.drain(..=pos).collect();
            let text = String::from_utf8(raw)
                .map_err(|_| HttpError::Network("sync stream: line is not UTF-8".into()))?;
            let text = text.trim();
            if !text.is_empty() {
                return Ok(Some(Line::Text(text.to_string())));
            }
        }
    }

    /// End of body: a trailing ndjson line without newline still counts; a partial BSON
    /// document is an error (the stream was cut).
    pub(crate) fn finish(&mut self) -> Result<Option<Line>, HttpError> {
        if self.buffer.is_empty() {
            return Ok(None);
        }
        if self.bson {
            self.buffer.clear();
            return Err(HttpError::Network(
                "sync stream ended inside a BSON document".into(),
            ));
        }
        self.buffer.push(b'\n');
        let line = self.next_line()?;
        self.buffer.clear();
        Ok(line)
    }
}

/// Opens `POST /sync/stream`.
pub(crate) async fn open_stream(
    http: &reqwest::Client,
    creds: &Credentials,
    request: &serde_json::Value,
    use_bson: bool,
) -> Result<LineStream, HttpError> {
    let host = host_of(&creds.endpoint);
    let accept = if use_bson {
        format!("{BSON_CONTENT_TYPE};q=0.9,{NDJSON_CONTENT_TYPE};q=0.8")
    } else {
        NDJSON_CONTENT_TYPE.to_string()
    };
    let body = serde_json::to_vec(request)
        .map_err(|_| HttpError::Network("could not encode the stream request".into()))?;
    let response = http
        .post(url(creds, "/sync/stream"))
        .header("Authorization", auth_header(creds))
        .header("Content-Type", "application/json")
        .header("Accept", accept)
        .body(body)
        .send()
        .await
        .map_err(|e| network("sync stream", &host, &e))?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(classify_status(status, "sync stream", &host));
    }
    let bson = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(BSON_CONTENT_TYPE));
    Ok(LineStream {
        body: response.bytes_stream().boxed(),
        framer: Framer::new(bson),
        host,
    })
}

async fn json_answer(
    response: reqwest::Response,
    what: &str,
    host: &str,
) -> Result<serde_json::Value, HttpError> {
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(classify_status(status, what, host));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| network(what, host, &e))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| HttpError::Network(format!("{what} at {host}: answer is not JSON")))
}

/// Parses a decimal-string (or integral JSON number) id.
pub(crate) fn parse_id(value: Option<&serde_json::Value>) -> Option<i64> {
    match value? {
        serde_json::Value::String(s) => s.parse().ok(),
        serde_json::Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// `POST /sync/checkpoint-request`: returns the id the service accepted.
pub(crate) async fn post_checkpoint_request(
    http: &reqwest::Client,
    creds: &Credentials,
    client_id: &str,
    id: i64,
) -> Result<i64, HttpError> {
    let what = "checkpoint request";
    let host = host_of(&creds.endpoint);
    let body = json!({"client_id": client_id, "checkpoint_request_id": id.to_string()});
    let response = http
        .post(url(creds, "/sync/checkpoint-request"))
        .header("Authorization", auth_header(creds))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| network(what, &host, &e))?;
    let answer = json_answer(response, what, &host).await?;
    parse_id(answer.pointer("/data/checkpoint_request_id"))
        .ok_or_else(|| HttpError::Network(format!("{what} at {host}: answer has no id")))
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Legacy `GET /write-checkpoint2.json`.
pub(crate) async fn get_write_checkpoint(
    http: &reqwest::Client,
    creds: &Credentials,
    client_id: &str,
) -> Result<i64, HttpError> {
    let what = "write checkpoint";
    let host = host_of(&creds.endpoint);
    let response = http
        .get(format!(
            "{}?client_id={}",
            url(creds, "/write-checkpoint2.json"),
            percent_encode(client_id)
        ))
        .header("Authorization", auth_header(creds))
        .send()
        .await
        .map_err(|e| network(what, &host, &e))?;
    let answer = json_answer(response, what, &host).await?;
    parse_id(answer.pointer("/data/write_checkpoint"))
        .ok_or_else(|| HttpError::Network(format!("{what} at {host}: answer has no id")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_lines_split_across_chunks() {
        let mut f = Framer::new(false);
        f.push(b"{\"a\":1}\n\n{\"b\"");
        assert_eq!(f.next_line(), Ok(Some(Line::Text("{\"a\":1}".into()))));
        assert_eq!(f.next_line(), Ok(None));
        f.push(b":2}\r\n");
        assert_eq!(f.next_line(), Ok(Some(Line::Text("{\"b\":2}".into()))));
        assert_eq!(f.next_line(), Ok(None));
        assert_eq!(f.finish(), Ok(None));
    }

    #[test]
    fn ndjson_trailing_line_without_newline_is_delivered() {
        let mut f = Framer::new(false);
        f.push(b"{\"c\":3}");
        assert_eq!(f.next_line(), Ok(None));
        assert_eq!(f.finish(), Ok(Some(Line::Text("{\"c\":3}".into()))));
    }

    #[test]
    fn bson_documents_split_by_length_prefix() {
        // Two empty documents (length 5) and half of a third.
        let mut f = Framer::new(true);
        f.push(&[5, 0, 0, 0, 0, 5, 0]);
        assert_eq!(f.next_line(), Ok(Some(Line::Binary(vec![5, 0, 0, 0, 0]))));
        assert_eq!(f.next_line(), Ok(None));
        f.push(&[0, 0, 0, 6, 0]);
        assert_eq!(f.next_line(), Ok(Some(Line::Binary(vec![5, 0, 0, 0, 0]))));
        assert_eq!(f.next_line(), Ok(None));
        assert!(f.finish().is_err());
    }

    #[test]
    fn bson_rejects_bad_length() {
        let mut f = Framer::new(true);
        f.push(&[1, 0, 0, 0]);
        assert!(f.next_line().is_err());
        let mut f = Framer::new(true);
        f.push(&[0xff, 0xff, 0xff, 0xff]);
        assert!(f.next_line().is_err());
    }

    #[test]
    fn host_is_extracted_without_path_or_userinfo() {
        assert_eq!(host_of("https://sync.example.com/base"), "sync.example.com");
        assert_eq!(host_of("http://127.0.0.1:8080"), "127.0.0.1:8080");
        assert_eq!(host_of("plain"), "plain");
    }

    #[test]
    fn ids_parse_from_strings_and_numbers() {
        assert_eq!(parse_id(Some(&json!("12"))), Some(12));
        assert_eq!(parse_id(Some(&json!(13))), Some(13));
        assert_eq!(parse_id(Some(&json!("x"))), None);
        assert_eq!(parse_id(None), None);
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(percent_encode("a-b_c"), "a-b_c");
        assert_eq!(percent_encode("a b&c"), "a%20b%26c");
    }

    #[test]
    fn statuses_are_classified() {
        assert!(matches!(
            classify_status(401, "x", "h"),
            HttpError::Unauthorized(_)
        ));
        assert!(matches!(
            classify_status(404, "x", "h"),
            HttpError::NotFound(_)
        ));
        assert!(matches!(
            classify_status(503, "x", "h"),
            HttpError::Status(503, _)
        ));
    }
}
