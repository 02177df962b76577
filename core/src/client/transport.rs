// SPDX-License-Identifier: Apache-2.0
//! How the client sends HTTP requests: [`HttpClient`], with [`ReqwestHttpClient`] (rustls,
//! the options' extra root certificates) as the default. The sync protocol itself (paths,
//! headers, status handling) is in `http.rs` and does not depend on the implementation.

use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::SyncOptions;
use crate::{Error, Result};

/// The method of an [`HttpRequest`] (the sync protocol needs only these two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
}

/// One request to the sync service, complete with every header to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method.
    pub method: HttpMethod,
    /// The full URL.
    pub url: String,
    /// Header names (lower case) and values, including `authorization` and `user-agent`.
    pub headers: Vec<(&'static str, String)>,
    /// The body (JSON for `POST`s).
    pub body: Option<Vec<u8>>,
}

/// The chunks of a response body as they arrive.
pub type HttpBody = Pin<Box<dyn Stream<Item = std::result::Result<Bytes, TransportError>> + Send>>;

/// An answer: status, content type and the body as a stream (the sync stream never ends
/// by itself, so it is not read ahead of time).
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: HttpBody,
}

/// Why a request got no (complete) answer. The message names the kind of failure, e.g.
/// `connection failed`; the client adds the endpoint's host. It must not contain the URL
/// (query parameters) or the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError(pub String);

/// Sends requests to the sync service. The default, [`ReqwestHttpClient`], is built for each
/// `connect()` from its [`SyncOptions`]; another implementation (see [`super::ClientIo`]) is
/// for tests and custom transports, and is then used for every `connect()` as is (it
/// ignores `extra_root_certificates_pem`).
#[async_trait]
pub trait HttpClient: Send + Sync {
    /// Sends `request` and returns once the response head arrived.
    async fn send(&self, request: HttpRequest)
    -> std::result::Result<HttpResponse, TransportError>;
}

/// reqwest over rustls with the built-in roots plus the options' extra ones.
pub struct ReqwestHttpClient {
    client: reqwest::Client,
}

impl ReqwestHttpClient {
    /// A client trusting the built-in roots and `options.extra_root_certificates_pem`.
    /// Blocking: the first call per process reads the system's certificates.
    pub fn for_options(options: &SyncOptions) -> Result<Self> {
        let tls = super::tls::client_config(&options.extra_root_certificates_pem)?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(|_| Error::state("could not create the HTTP client"))?;
        Ok(Self { client })
    }
}

#[async_trait]
impl HttpClient for ReqwestHttpClient {
    async fn send(
        &self,
        request: HttpRequest,
    ) -> std::result::Result<HttpResponse, TransportError> {
        let mut builder = match request.method {
            HttpMethod::Get => self.client.get(&request.url),
            HttpMethod::Post => self.client.post(&request.url),
        };
        for (name, value) in request.headers {
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let response = builder.send().await.map_err(|e| describe(&e))?;
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(HttpResponse {
            status: response.status().as_u16(),
            content_type,
            body: Box::pin(
                response
                    .bytes_stream()
                    .map(|chunk| chunk.map_err(|e| describe(&e))),
            ),
        })
    }
}

/// A reqwest error as text: its own message contains the URL, which may carry query
/// parameters, so only the kind is kept. TLS failures say what was wrong with the
/// certificate (never its contents).
fn describe(error: &reqwest::Error) -> TransportError {
    if let Some(tls) = super::tls::tls_error(error) {
        return TransportError(super::tls::describe(tls).to_owned());
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
    TransportError(kind.to_owned())
}
