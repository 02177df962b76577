// SPDX-License-Identifier: Apache-2.0
//! The typed interface of the sync state machine: commands in, instructions out
//! (client-state-machine.md §1–§2), serialised exactly like the reference core's JSON.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

/// A command handed to [`SyncEngine::control`](super::SyncEngine::control).
#[derive(Debug, Clone, PartialEq)]
pub enum SyncCommand {
    /// Start a new iteration (tearing down any active one).
    Start(StartSyncStream),
    /// Stop the active iteration (no-op when idle).
    Stop,
    /// One JSON sync line.
    LineText(String),
    /// One BSON sync line.
    LineBinary(Vec<u8>),
    /// The SDK finished uploading local changes.
    CompletedUpload,
    /// The HTTP response arrived; lines follow.
    ConnectionEstablished,
    /// The HTTP response ended.
    ConnectionEnd,
    /// New credentials are available.
    RefreshedToken,
    /// The app now references these streams.
    UpdateSubscriptions(Vec<StreamKey>),
    /// Subscribe to / unsubscribe from a stream: the JSON text `{"subscribe":…}` or
    /// `{"unsubscribe":…}`, kept as text so stream parameters are stored exactly as sent.
    Subscriptions(String),
}

/// Payload of the `start` command (client-state-machine.md §1.1).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct StartSyncStream {
    /// Client parameters copied into the request.
    pub parameters: Option<serde_json::Value>,
    /// The app schema (only needed for raw tables).
    pub schema: Option<serde_json::Value>,
    /// Whether default streams are synced.
    pub include_defaults: bool,
    /// Streams the app references right now (their TTL is extended).
    pub active_streams: Vec<StreamKey>,
    /// Metadata copied into the request.
    pub app_metadata: Option<BTreeMap<String, String>>,
    /// How write checkpoints are obtained.
    pub checkpoint_mode: CheckpointMode,
}

impl Default for StartSyncStream {
    fn default() -> Self {
        Self {
            parameters: None,
            schema: None,
            include_defaults: true,
            active_streams: Vec::new(),
            app_metadata: None,
            checkpoint_mode: CheckpointMode::Legacy,
        }
    }
}

/// How the client records that the service has seen its uploads
/// (client-state-machine.md §5). One type for the engine and the client (re-exported as
/// `psync_core::client::CheckpointMode`); the default is the client's documented one. An
/// engine `start` without `checkpoint_mode` still means legacy: [`StartSyncStream`]'s own
/// default says so explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckpointMode {
    /// `GET /write-checkpoint2.json` after each upload round; no `checkpoint_request` in the
    /// stream request.
    Legacy,
    /// `POST /sync/checkpoint-request` with client-allocated ids; the client falls back to
    /// [`CheckpointMode::Legacy`] for the rest of a `connect()` when the service answers 404.
    #[default]
    Requests,
}

/// JSON text kept exactly as received (spacing, key order and number spelling included).
///
/// Stream parameters are stored and compared by this text, like the reference core does, so
/// `{"a": 1}` and `{"a":1}` are different subscriptions. Equality compares the text.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JsonText(Box<RawValue>);

impl JsonText {
    /// Checks that `text` is one JSON value and keeps it as is (invalid JSON is an
    /// invalid-argument error, SQLite code CONSTRAINT_DATATYPE like the reference core).
    pub fn from_text(text: String) -> crate::Result<Self> {
        RawValue::from_string(text).map(Self).map_err(|e| {
            crate::storage::functions::constraint_datatype(&format!("invalid JSON: {e}"))
        })
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Eq for JsonText {}

/// A stream referenced by name and parameters. Only deserialise it from JSON text (not from a
/// parsed `serde_json::Value`): the parameters keep their exact text.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct StreamKey {
    /// Stream name.
    pub name: String,
    /// Stream parameters as sent (`None` for absent or `null`).
    #[serde(default)]
    pub params: Option<JsonText>,
}

impl StreamKey {
    /// The text stored in `ps_stream_subscriptions.local_params` (`null` without parameters).
    pub fn params_text(&self) -> &str {
        self.params.as_ref().map_or("null", JsonText::get)
    }
}

/// Log severity of a [`Instruction::LogLine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogSeverity {
    /// Debug detail.
    Debug,
    /// Noteworthy.
    Info,
    /// Something went wrong but sync continues or retries.
    Warning,
}

/// An instruction from the core to the SDK (client-state-machine.md §2).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Instruction {
    /// Log a line.
    LogLine {
        /// Severity.
        severity: LogSeverity,
        /// Message.
        line: String,
    },
    /// Replace the core part of the SDK's status.
    UpdateSyncStatus {
        /// The new status.
        status: CoreSyncStatus,
    },
    /// Open `POST /sync/stream` with `request`.
    EstablishSyncStream {
        /// The request body.
        request: serde_json::Value,
        /// Requests mode: the id to reconcile with the service.
        #[serde(skip_serializing_if = "Option::is_none")]
        checkpoint_request: Option<CheckpointRequestTarget>,
    },
    /// Fetch (or refresh) credentials.
    FetchCredentials {
        /// Whether the current token is already expired.
        did_expire: bool,
    },
    /// Close the stream and end the iteration.
    CloseSyncStream {
        /// Reconnect immediately without publishing a disconnect.
        hide_disconnect: bool,
    },
    /// A full checkpoint was applied.
    DidCompleteSync {
        /// The write checkpoint that came with it, if any.
        #[serde(
            skip_serializing_if = "Option::is_none",
            serialize_with = "opt_id_as_string"
        )]
        applied_checkpoint_request_id: Option<i64>,
    },
}

/// The checkpoint request id to reconcile at the start of a requests-mode iteration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointRequestTarget {
    /// This database's client id.
    pub client_id: String,
    /// Proposed id (decimal string on the wire).
    #[serde(serialize_with = "id_as_string")]
    pub checkpoint_request_id: i64,
}

/// The core-owned part of the sync status.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct CoreSyncStatus {
    /// A response is being received.
    pub connected: bool,
    /// A connection is being opened.
    pub connecting: bool,
    /// Per-priority sync state, increasing priority number (full sync last).
    pub priority_status: Vec<PriorityStatusEntry>,
    /// Download progress while a checkpoint is being downloaded.
    pub downloading: Option<CoreDownloadProgress>,
    /// Stream subscriptions as known at the last checkpoint (or at `start`).
    pub streams: Vec<StreamStatus>,
    /// Write checkpoint applied with the last full checkpoint of this iteration.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_id_as_string"
    )]
    pub internal_last_applied_checkpoint_request_id: Option<i64>,
}

/// Status of one row of `ps_stream_subscriptions`, as reported in [`CoreSyncStatus::streams`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamStatus {
    /// Row id (not serialised).
    #[serde(skip)]
    pub id: i64,
    /// Stream name.
    pub name: String,
    /// Parameters as stored (`null` without parameters).
    pub parameters: Option<JsonText>,
    /// Buckets of the checkpoint that belong to this subscription (not serialised).
    #[serde(skip)]
    pub buckets: BTreeSet<String>,
    /// Lowest priority (highest number) of those buckets: the stream is complete once a
    /// (partial) checkpoint of that priority is applied.
    pub priority: Option<i32>,
    /// Whether the checkpoint includes the stream.
    pub active: bool,
    /// Whether the service lists it as a default stream.
    pub is_default: bool,
    /// Whether the app subscribed explicitly (`ttl` set).
    pub has_explicit_subscription: bool,
    /// When the explicit subscription expires (µs).
    pub expires_at: Option<i64>,
    /// When its data was last applied (µs).
    pub last_synced_at: Option<i64>,
    /// Download progress over its buckets (zero while nothing is being downloaded).
    pub progress: StreamProgress,
}

/// Op counts of a stream's buckets towards the checkpoint being downloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct StreamProgress {
    /// Ops to download.
    pub total: i64,
    /// Ops downloaded so far.
    pub downloaded: i64,
}

/// Sync state of one priority.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriorityStatusEntry {
    /// Priority number (2147483647 = full sync).
    pub priority: i32,
    /// When it last completed (µs).
    pub last_synced_at: Option<i64>,
    /// Whether it ever completed.
    pub has_synced: Option<bool>,
}

/// The engine's download progress, aggregated per priority as `prio_<n>` entries (the client
/// sums it into the public `client::DownloadProgress`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct CoreDownloadProgress {
    /// Progress entries by name.
    pub buckets: BTreeMap<String, BucketProgress>,
}

/// Progress of one (aggregated) bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct BucketProgress {
    /// Priority number.
    pub priority: i32,
    /// Ops counted at the last full apply.
    pub at_last: i64,
    /// Ops downloaded since.
    pub since_last: i64,
    /// Ops in the target checkpoint.
    pub target_count: i64,
}

fn id_as_string<S: Serializer>(id: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

// serde's `serialize_with` hands over `&Option<i64>`.
#[allow(clippy::ref_option)]
fn opt_id_as_string<S: Serializer>(id: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.collect_str(id),
        None => s.serialize_none(),
    }
}

/// Serialises instructions as the reference JSON array.
pub fn instructions_to_json(instructions: &[Instruction]) -> crate::Result<String> {
    Ok(serde_json::to_string(instructions)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_complete_sync_without_id_is_empty_object() {
        let json = instructions_to_json(&[Instruction::DidCompleteSync {
            applied_checkpoint_request_id: None,
        }])
        .expect("json");
        assert_eq!(json, r#"[{"DidCompleteSync":{}}]"#);
        let json = instructions_to_json(&[Instruction::DidCompleteSync {
            applied_checkpoint_request_id: Some(7),
        }])
        .expect("json");
        assert_eq!(
            json,
            r#"[{"DidCompleteSync":{"applied_checkpoint_request_id":"7"}}]"#
        );
    }

    #[test]
    fn severities_and_requests_serialise_like_the_reference() {
        let json = instructions_to_json(&[
            Instruction::LogLine {
                severity: LogSeverity::Warning,
                line: "x".into(),
            },
            Instruction::EstablishSyncStream {
                request: serde_json::json!({}),
                checkpoint_request: Some(CheckpointRequestTarget {
                    client_id: "c1".into(),
                    checkpoint_request_id: 7,
                }),
            },
            Instruction::CloseSyncStream {
                hide_disconnect: true,
            },
        ])
        .expect("json");
        assert_eq!(
            json,
            r#"[{"LogLine":{"severity":"WARNING","line":"x"}},{"EstablishSyncStream":{"request":{},"checkpoint_request":{"client_id":"c1","checkpoint_request_id":"7"}}},{"CloseSyncStream":{"hide_disconnect":true}}]"#
        );
    }

    #[test]
    fn start_payload_defaults() {
        let start: StartSyncStream =
            serde_json::from_str(r#"{"checkpoint_mode":"requests"}"#).expect("parse");
        assert!(start.include_defaults);
        assert_eq!(start.checkpoint_mode, CheckpointMode::Requests);
    }
}
