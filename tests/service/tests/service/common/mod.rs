// SPDX-License-Identifier: Apache-2.0
//! Raw HTTP helpers shared by the integration tests.
#![allow(dead_code)]

use psync_test_service::TestService;
use serde_json::{Value, json};
use std::time::Duration;

/// Reads ndjson or BSON lines from a streaming response.
pub struct Lines {
    pub response: reqwest::Response,
    buf: Vec<u8>,
    pub bson: bool,
    pub ended: bool,
    pub errored: bool,
}

impl Lines {
    pub fn new(response: reqwest::Response) -> Self {
        let bson = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("bson"));
        Lines {
            response,
            buf: Vec::new(),
            bson,
            ended: false,
            errored: false,
        }
    }

    fn take_line(&mut self) -> Option<Value> {
        if self.bson {
            if self.buf.len() < 4 {
                return None;
            }
            let len =
                u32::from_le_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
            if self.buf.len() < len {
                return None;
            }
            let doc: Vec<u8> = self.buf.drain(..len).collect();
            let doc = bson::Document::from_reader(&mut doc.as_slice()).expect("valid bson");
            Some(bson::Bson::Document(doc).into_relaxed_extjson())
        } else {
            let pos = self.buf.iter().position(|b| *b == b'\n')?;
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            Some(serde_json::from_slice(&line).expect("valid json line"))
        }
    }

    /// Next line, or None at end of body / error / timeout (5 s).
    pub async fn next(&mut self) -> Option<Value> {
        self.next_within(Duration::from_secs(5)).await
    }

    pub async fn next_within(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(line) = self.take_line() {
                return Some(line);
            }
            if self.ended {
                return None;
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return None,
                Ok(Ok(Some(chunk))) => self.buf.extend_from_slice(&chunk),
                Ok(Ok(None)) => self.ended = true,
                Ok(Err(_)) => {
                    self.ended = true;
                    self.errored = true;
                }
            }
        }
    }

    /// Raw bytes received so far plus until end/timeout.
    pub async fn read_to_end(&mut self, timeout: Duration) -> Vec<u8> {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.ended {
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => break,
                Ok(Ok(Some(chunk))) => self.buf.extend_from_slice(&chunk),
                Ok(Ok(None)) => self.ended = true,
                Ok(Err(_)) => {
                    self.ended = true;
                    self.errored = true;
                }
            }
        }
        std::mem::take(&mut self.buf)
    }

    /// Reads lines until one with top-level key `key` arrives; returns all lines read.
    pub async fn until(&mut self, key: &str) -> Vec<Value> {
        let mut seen = Vec::new();
        while let Some(line) = self.next().await {
            let done = line.get(key).is_some();
            seen.push(line);
            if done {
                return seen;
            }
        }
        panic!("stream ended before {key}: {seen:?}");
    }
}

/// A plain-http client. reqwest's rustls backend is compiled in without a default crypto
/// provider, so the (unused) TLS configuration is passed explicitly.
pub fn client() -> reqwest::Client {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .expect("client")
}

pub fn stream_body(client_id: &str) -> Value {
    json!({"buckets": [], "include_checksum": true, "raw_data": true, "binary_data": true,
           "client_id": client_id, "parameters": {},
           "streams": {"include_defaults": true, "subscriptions": []}})
}

pub async fn open_stream(svc: &TestService, token: &str, body: &Value) -> Lines {
    let response = client()
        .post(format!("{}/sync/stream", svc.url()))
        .header("Authorization", format!("Token {token}"))
        .header("Accept", "application/x-ndjson")
        .json(body)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    Lines::new(response)
}

pub async fn post(
    svc: &TestService,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let mut request = client().post(format!("{}{path}", svc.url())).json(body);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

pub async fn upload(svc: &TestService, token: &str, batch: Value) -> (u16, Value) {
    post(svc, "/api/data", Some(token), &json!({ "batch": batch })).await
}

pub fn key(line: &Value) -> String {
    line.as_object()
        .and_then(|o| o.keys().next().cloned())
        .unwrap_or_default()
}
