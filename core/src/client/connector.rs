// SPDX-License-Identifier: Apache-2.0
//! What the app supplies to sync: credentials and the upload of local writes
//! (client-state-machine.md §6–§7), plus the options of one `connect()`.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

use super::SyncClient;
use crate::sync::CheckpointMode;

/// Error type returned by app callbacks. Its `Display` text ends up in the sync status, so
/// it should not contain secrets.
pub type ConnectorError = Box<dyn std::error::Error + Send + Sync>;

/// Where and as whom to sync.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Base URL of the sync service, e.g. `https://example.com` (no trailing path needed).
    pub endpoint: String,
    /// The JWT sent as `Authorization: Token <token>`.
    pub token: String,
}

impl std::fmt::Debug for Credentials {
    // Never print the token: debug output ends up in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("endpoint", &self.endpoint)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// The app's backend: credentials for the sync service and the upload of queued writes.
#[async_trait]
pub trait BackendConnector: Send + Sync {
    /// Returns fresh credentials, or `None` while the user is signed out (sync then waits and
    /// retries after the retry delay).
    async fn fetch_credentials(&self) -> Result<Option<Credentials>, ConnectorError>;

    /// Uploads queued local writes. Typically reads [`SyncClient::next_crud_transaction`],
    /// sends it to the app backend and calls [`SyncClient::complete_transaction`]. Leaving entries in
    /// the queue without an error makes the round fail with "delaying due to previously
    /// encountered CRUD item".
    async fn upload_data(&self, client: &SyncClient) -> Result<(), ConnectorError>;

    /// Called before the next fetch after the service rejected the cached credentials.
    async fn invalidate_credentials(&self) {}
}

/// Options of one `connect()` call.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Pause after a failed or closed connection, and after a failed upload round.
    /// Constant delay, no exponential backoff (like the upstream SDKs).
    pub retry_delay: Duration,
    /// Minimum pause between two upload rounds triggered by local writes.
    pub crud_throttle: Duration,
    /// How write checkpoints are obtained. Default: [`CheckpointMode::Requests`], falling back
    /// to the legacy endpoint for the session when the service answers 404.
    pub checkpoint_mode: CheckpointMode,
    /// Ask for BSON sync lines instead of ndjson.
    pub use_bson: bool,
    /// Client parameters sent with the stream request.
    pub params: Option<serde_json::Value>,
    /// App metadata sent with the stream request.
    pub app_metadata: Option<BTreeMap<String, String>>,
    /// Whether default streams are synced.
    pub include_defaults: bool,
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
            include_defaults: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_debug_hides_the_token() {
        let c = Credentials {
            endpoint: "http://h".into(),
            token: "secret-token".into(),
        };
        assert!(!format!("{c:?}").contains("secret-token"));
    }

    #[test]
    fn default_options_use_requests_mode() {
        let o = SyncOptions::default();
        assert_eq!(o.checkpoint_mode, CheckpointMode::Requests);
        assert_eq!(o.retry_delay, Duration::from_secs(5));
        assert_eq!(o.crud_throttle, Duration::from_secs(1));
    }
}
