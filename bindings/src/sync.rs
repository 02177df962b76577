// SPDX-License-Identifier: Apache-2.0
//! Syncing: the host's `BackendConnector`, status records and listeners, checkpoint requests.
//!
//! Mirrors `psync_core::client`; conversions only. The connector adapter is the one place a
//! foreign async trait becomes core's `BackendConnector`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use psync_core::client::{
    BackendConnector as CoreConnector, CheckpointMode, CheckpointRequest as CoreCheckpointRequest,
    Credentials as CoreCredentials, SyncDatabase as CoreSyncDatabase,
    SyncOptions as CoreSyncOptions, SyncStatus as CoreSyncStatus,
};

use crate::database::Database;
use crate::error::{Result, SyncError};
use crate::runtime;
use crate::shutdown::{self, HostFuture, HostRef};
use crate::streams::SyncStreamStatus;

/// Where and as whom to sync. The token is never logged.
#[derive(Clone, uniffi::Record)]
pub struct Credentials {
    /// Base URL of the sync service.
    pub endpoint: String,
    /// Token sent as `Authorization: Token <token>`.
    pub token: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Implemented by the app: credentials for the sync service and uploads of local writes.
///
/// Called from psync's runtime threads; the methods are async on the host side (Kotlin
/// `suspend`, Python `async def`, Swift `async`). An error (or exception) fails the current
/// attempt: it shows in `SyncStatus.upload_error`/`download_error` and is retried later.
#[psync_ffi_macros::export(foreign)]
#[async_trait::async_trait]
pub trait BackendConnector: Send + Sync + fmt::Debug {
    /// Credentials, or none when the user is signed out.
    async fn fetch_credentials(&self) -> Result<Option<Credentials>, SyncError>;
    /// Uploads queued writes: read them with `database.get_crud_batch()` or
    /// `get_next_crud_transaction()`, send them to the backend, then `complete()` them.
    async fn upload_data(&self, database: Arc<Database>) -> Result<(), SyncError>;
}

/// How uploads are acknowledged by the service (core's own enum, exported as is).
#[uniffi::remote(Enum)]
pub enum CheckpointMode {
    /// `GET /write-checkpoint2.json` after each upload round.
    Legacy,
    /// Client-allocated checkpoint requests (falls back to legacy on 404).
    Requests,
}

/// Options for `Database.connect`.
#[derive(Debug, Clone, uniffi::Record)]
pub struct SyncOptions {
    /// Delay before retrying a failed sync iteration or upload round.
    #[uniffi(default = 5000)]
    pub retry_delay_ms: u64,
    /// Minimum time between two upload rounds triggered by local writes.
    #[uniffi(default = 1000)]
    pub crud_throttle_ms: u64,
    /// How uploads are acknowledged.
    #[uniffi(default = None)]
    pub checkpoint_mode: Option<CheckpointMode>,
    /// Client parameters sent with the stream request, as a JSON object.
    #[uniffi(default = None)]
    pub params_json: Option<String>,
    /// Extra trusted root certificates for `https` endpoints, in PEM (e.g. the CA of a
    /// self-hosted service), trusted in addition to Mozilla's roots and the system's
    /// certificates. Certificates are always verified.
    #[uniffi(default = [])]
    pub extra_root_certificates_pem: Vec<String>,
    /// The app's language for the `User-Agent` (`psync/<version> (<language>)`); the Python
    /// and Kotlin wrappers set theirs, `None` means `rust`.
    #[uniffi(default = None)]
    pub client_language: Option<String>,
    /// Ask for BSON sync lines instead of ndjson.
    #[uniffi(default = false)]
    pub use_bson: bool,
    /// Metadata sent with the stream request (shown in the service's logs).
    #[uniffi(default = None)]
    pub app_metadata: Option<HashMap<String, String>>,
    /// Sync the service's default (auto-subscribed) streams and bucket definitions.
    #[uniffi(default = true)]
    pub include_default_streams: bool,
}

impl TryFrom<SyncOptions> for CoreSyncOptions {
    type Error = SyncError;

    fn try_from(options: SyncOptions) -> Result<Self> {
        let defaults = CoreSyncOptions::default();
        let params = options
            .params_json
            .map(|json| serde_json::from_str(&json))
            .transpose()
            .map_err(|_| SyncError::InvalidArgument {
                reason: "params_json is not valid JSON".into(),
            })?;
        Ok(CoreSyncOptions {
            retry_delay: Duration::from_millis(options.retry_delay_ms),
            crud_throttle: Duration::from_millis(options.crud_throttle_ms),
            checkpoint_mode: options.checkpoint_mode.unwrap_or(defaults.checkpoint_mode),
            params,
            extra_root_certificates_pem: options.extra_root_certificates_pem,
            client_language: options
                .client_language
                .unwrap_or_else(|| defaults.client_language.clone()),
            use_bson: options.use_bson,
            app_metadata: options.app_metadata.map(|m| m.into_iter().collect()),
            include_default_streams: options.include_default_streams,
            ..defaults
        })
    }
}

/// Sync state of one bucket priority.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PriorityStatus {
    /// Bucket priority (0 = highest).
    pub priority: i32,
    /// Last complete sync at this priority, microseconds since the epoch.
    pub last_synced_at: Option<i64>,
    /// Whether this priority ever completed a sync.
    pub has_synced: Option<bool>,
}

/// What the app sees of syncing.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncStatus {
    /// A sync stream is open.
    pub connected: bool,
    /// Trying to (re)connect.
    pub connecting: bool,
    /// A checkpoint is being downloaded.
    pub downloading: bool,
    /// Operations downloaded so far for that checkpoint.
    pub downloaded_operations: Option<i64>,
    /// Operations that checkpoint contains in total.
    pub total_operations: Option<i64>,
    /// Local writes are being uploaded.
    pub uploading: bool,
    /// Last complete sync, microseconds since the epoch.
    pub last_synced_at: Option<i64>,
    /// Whether a complete sync ever happened; absent until known.
    pub has_synced: Option<bool>,
    /// Per-priority state, ascending priority number.
    pub priority_status: Vec<PriorityStatus>,
    /// Why the last sync attempt failed.
    pub download_error: Option<String>,
    /// Why the last upload failed.
    pub upload_error: Option<String>,
    /// Highest checkpoint request id applied by the latest checkpoint.
    pub last_applied_checkpoint_request_id: Option<i64>,
    /// The service answered 404 to checkpoint requests during this `connect`; uploads use
    /// legacy write checkpoints.
    pub checkpoint_requests_unsupported: bool,
    /// Stream subscriptions (explicit and default), in subscription order.
    pub streams: Vec<SyncStreamStatus>,
}

impl From<CoreSyncStatus> for SyncStatus {
    fn from(s: CoreSyncStatus) -> Self {
        SyncStatus {
            connected: s.connected,
            connecting: s.connecting,
            downloading: s.downloading,
            downloaded_operations: s.download_progress.map(|p| p.downloaded),
            total_operations: s.download_progress.map(|p| p.total),
            uploading: s.uploading,
            last_synced_at: s.last_synced_at,
            has_synced: s.has_synced,
            priority_status: s
                .priority_status
                .into_iter()
                .map(|p| PriorityStatus {
                    priority: p.priority,
                    last_synced_at: p.last_synced_at,
                    has_synced: p.has_synced,
                })
                .collect(),
            download_error: s.download_error,
            upload_error: s.upload_error,
            last_applied_checkpoint_request_id: s.last_applied_checkpoint_request_id,
            checkpoint_requests_unsupported: s.checkpoint_requests_unsupported,
            streams: s.streams.into_iter().map(Into::into).collect(),
        }
    }
}

/// Receives sync status updates. Implemented by the host.
///
/// Called on a psync thread with the current status right away, then after every change,
/// one call at a time; hop to your own executor before touching UI state.
#[psync_ffi_macros::export(foreign)]
pub trait StatusListener: Send + Sync + fmt::Debug {
    /// The new status.
    fn on_status(&self, status: SyncStatus);
}

/// A checkpoint the service acknowledged. Synced once local data includes everything the
/// service had received when it was requested.
#[derive(uniffi::Object)]
pub struct CheckpointRequest {
    inner: Arc<CoreCheckpointRequest>,
}

#[psync_ffi_macros::export]
impl CheckpointRequest {
    /// The id the service accepted.
    pub fn id(&self) -> i64 {
        self.inner.id()
    }

    /// Whether local data already includes this checkpoint.
    pub fn is_synced(&self) -> bool {
        self.inner.is_synced()
    }

    /// Waits until synced, failing with `Timeout` after `timeout` (none = wait forever),
    /// or earlier when syncing fails, disconnects or the database closes. Cancel-safe.
    pub async fn wait_for_sync(&self, timeout: Option<Duration>) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        Ok(runtime::run(async move { inner.wait_for_sync(timeout).await }).await??)
    }
}

impl CheckpointRequest {
    pub(crate) fn new(inner: CoreCheckpointRequest) -> Self {
        CheckpointRequest {
            inner: Arc::new(inner),
        }
    }
}

/// Core's connector, implemented by calling the host's (never once shutdown began).
pub(crate) struct ConnectorAdapter {
    pub(crate) host: HostRef<dyn BackendConnector>,
}

#[async_trait::async_trait]
impl CoreConnector for ConnectorAdapter {
    async fn fetch_credentials(&self) -> psync_core::Result<Option<CoreCredentials>> {
        exiting()?;
        let credentials = HostFuture::new(self.host.fetch_credentials())
            .await
            .map_err(host_error)?;
        Ok(credentials.map(|c| CoreCredentials {
            endpoint: c.endpoint,
            token: c.token,
        }))
    }

    async fn upload_data(&self, database: &CoreSyncDatabase) -> psync_core::Result<()> {
        exiting()?;
        let database = Arc::new(Database::from_client(database.clone()));
        HostFuture::new(self.host.upload_data(database))
            .await
            .map_err(host_error)
    }
}

/// Fails once shutdown began: the host may be tearing down.
fn exiting() -> psync_core::Result<()> {
    if shutdown::has_begun() {
        return Err(psync_core::Error::state("psync is shutting down"));
    }
    Ok(())
}

/// A host failure, as core reports it in the status (the host's own text, no row data).
fn host_error(error: SyncError) -> psync_core::Error {
    psync_core::Error::state(error.to_string())
}
