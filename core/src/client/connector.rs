// SPDX-License-Identifier: Apache-2.0
//! The app-side contract: credentials and uploads ([`BackendConnector`]) plus [`SyncOptions`].

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

use crate::Result;

use super::SyncDatabase;
pub use crate::storage::sync::CheckpointMode;

/// Where and as whom to sync.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Base URL of the sync service, e.g. `https://x.example.com` (no trailing path needed).
    pub endpoint: String,
    /// The token sent as `Authorization: Token <token>`.
    pub token: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("Credentials")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Implemented by the app: fetches credentials and uploads queued local writes.
#[async_trait]
pub trait BackendConnector: Send + Sync {
    /// Returns credentials, or `None` when the user is signed out (the iteration then fails
    /// and is retried after the retry delay).
    async fn fetch_credentials(&self) -> Result<Option<Credentials>>;

    /// Uploads queued writes (use [`SyncDatabase::get_next_crud_transaction`] or
    /// [`SyncDatabase::get_crud_batch`], then `complete`).
    async fn upload_data(&self, database: &SyncDatabase) -> Result<()>;

    /// Called before credentials are fetched again after the service rejected them.
    async fn invalidate_credentials(&self) {}
}

/// Options for [`SyncDatabase::connect`].
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Delay before retrying after a failed iteration or upload round (fixed, no backoff).
    pub retry_delay: Duration,
    /// Minimum time between two upload rounds triggered by local writes.
    pub crud_throttle: Duration,
    /// Checkpoint mode; see [`CheckpointMode`].
    pub checkpoint_mode: CheckpointMode,
    /// Ask for BSON sync lines instead of ndjson.
    pub use_bson: bool,
    /// Client parameters sent with the stream request: a JSON object (`None` sends `{}`; the
    /// service rejects anything but an object, so `connect()` refuses other values).
    pub params: Option<serde_json::Value>,
    /// App metadata sent with the stream request.
    pub app_metadata: Option<BTreeMap<String, String>>,
    /// Sync the service's default streams (auto-subscribed streams and bucket definitions);
    /// `false` syncs only explicit subscriptions.
    pub include_default_streams: bool,
    /// A stream that delivers no bytes for this long is treated as broken and reopened (the
    /// service sends keepalives every 20 s by default).
    pub stream_idle_timeout: Duration,
    /// Extra trusted root certificates for `https` endpoints, in PEM (each string may hold
    /// several `-----BEGIN CERTIFICATE-----` blocks), e.g. the CA of a self-hosted service.
    ///
    /// They are trusted in addition to the built-in roots: Mozilla's root program
    /// (compiled in) and the operating system's certificates where they can be read (Linux,
    /// macOS, Windows, Android's system store; not iOS, where apps cannot read it). TLS
    /// certificates and host names are always verified; there is no way to switch that off.
    /// An entry that is not a PEM CA certificate makes `connect()` fail with an invalid
    /// argument error.
    pub extra_root_certificates_pem: Vec<String>,
    /// The app's language, shown in the `User-Agent` header as `psync/<version> (<language>)`:
    /// `rust` by default; the bindings say `python`, `kotlin` or `swift`. Letters, digits and
    /// `.-_` only.
    pub client_language: String,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            retry_delay: Duration::from_secs(5),
            crud_throttle: Duration::from_secs(1),
            checkpoint_mode: CheckpointMode::Requests,
            use_bson: false,
            params: None,
            app_metadata: None,
            include_default_streams: true,
            stream_idle_timeout: Duration::from_secs(60),
            extra_root_certificates_pem: Vec::new(),
            client_language: "rust".to_owned(),
        }
    }
}

impl SyncOptions {
    /// Refuses options the sync service would reject on every request.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.params.as_ref().is_some_and(|p| !p.is_object()) {
            return Err(crate::Error::invalid_argument(
                "sync params must be a JSON object",
            ));
        }
        let language_ok = !self.client_language.is_empty()
            && self
                .client_language
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !language_ok {
            return Err(crate::Error::invalid_argument(
                "client_language must be non-empty letters, digits, '.', '-' or '_'",
            ));
        }
        Ok(())
    }

    /// The client parameters as sent: always an object (`{}` when none were set).
    pub(crate) fn request_parameters(&self) -> serde_json::Value {
        self.params
            .clone()
            .unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new()))
    }
}
