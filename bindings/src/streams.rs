// SPDX-License-Identifier: Apache-2.0
//! Sync streams: `Database.sync_stream(name, parameters_json)`, its subscriptions and their
//! status. Mirrors `psync_core::client::{SyncStream, SyncStreamSubscription}`; conversions only.

use std::sync::Arc;
use std::time::Duration;

use psync_core::client::{
    DownloadProgress, SubscribeOptions, SyncStatus as CoreSyncStatus, SyncStream as CoreSyncStream,
    SyncStreamStatus as CoreSyncStreamStatus, SyncStreamSubscription as CoreSubscription,
    WaitError,
};

use crate::error::{Result, SyncError};
use crate::runtime;

/// Sync state of one stream subscription (explicit, default, or both).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SyncStreamStatus {
    /// Stream name.
    pub name: String,
    /// Subscription parameters as a JSON object text; absent without parameters.
    pub parameters_json: Option<String>,
    /// The latest checkpoint includes the stream.
    pub active: bool,
    /// The service syncs it by default (an auto-subscribed stream).
    pub is_default: bool,
    /// The app subscribed to it explicitly.
    pub has_explicit_subscription: bool,
    /// When the explicit subscription expires unless held, microseconds since the epoch.
    pub expires_at: Option<i64>,
    /// When its data was last applied, microseconds since the epoch.
    pub last_synced_at: Option<i64>,
    /// Priority its data completes at, when known.
    pub priority: Option<i32>,
    /// Operations of its buckets downloaded for the current checkpoint.
    pub downloaded_operations: i64,
    /// Operations of its buckets in the current checkpoint (0 while not downloading).
    pub total_operations: i64,
}

impl From<CoreSyncStreamStatus> for SyncStreamStatus {
    fn from(s: CoreSyncStreamStatus) -> Self {
        SyncStreamStatus {
            parameters_json: s.parameters.as_ref().map(|p| p.to_string()),
            name: s.name,
            active: s.active,
            is_default: s.is_default,
            has_explicit_subscription: s.has_explicit_subscription,
            expires_at: s.expires_at,
            last_synced_at: s.last_synced_at,
            priority: s.priority,
            downloaded_operations: s.progress.downloaded,
            total_operations: s.progress.total,
        }
    }
}

impl From<WaitError> for SyncError {
    fn from(error: WaitError) -> Self {
        match error {
            WaitError::Timeout => SyncError::Timeout,
            WaitError::Closed => SyncError::Closed,
        }
    }
}

/// A stream with parameters; `subscribe` makes it sync.
#[derive(uniffi::Object)]
pub struct SyncStream {
    inner: CoreSyncStream,
}

impl SyncStream {
    pub(crate) fn new(inner: CoreSyncStream) -> Self {
        SyncStream { inner }
    }
}

#[psync_ffi_macros::export]
impl SyncStream {
    /// Stream name.
    pub fn name(&self) -> String {
        self.inner.name().to_owned()
    }

    /// Parameters as JSON object text; absent without.
    pub fn parameters_json(&self) -> Option<String> {
        self.inner.parameters().map(|p| p.to_string())
    }

    /// Subscribes; a running connection reconnects with the new subscription list. `ttl`:
    /// how long the subscription outlives its last handle (whole seconds, default 1 day);
    /// `priority` overrides the stream's priority (0 = highest).
    pub async fn subscribe(
        &self,
        ttl: Option<Duration>,
        priority: Option<i32>,
    ) -> Result<Arc<SyncStreamSubscription>> {
        let stream = self.inner.clone();
        let subscription =
            runtime::run(async move { stream.subscribe(SubscribeOptions { ttl, priority }).await })
                .await??;
        Ok(Arc::new(SyncStreamSubscription {
            inner: Arc::new(subscription),
        }))
    }

    /// Removes the subscription at once, whatever handles exist.
    pub async fn unsubscribe_all(&self) -> Result<()> {
        let stream = self.inner.clone();
        Ok(runtime::run(async move { stream.unsubscribe_all().await }).await??)
    }

    /// This stream's entry in the current status; absent when not subscribed.
    pub fn status(&self) -> Option<SyncStreamStatus> {
        self.inner.status().map(Into::into)
    }
}

/// A held subscription. `unsubscribe` (or freeing it) stops holding the stream: it keeps
/// syncing until its TTL runs out.
#[derive(uniffi::Object)]
pub struct SyncStreamSubscription {
    inner: Arc<CoreSubscription>,
}

#[psync_ffi_macros::export]
impl SyncStreamSubscription {
    /// Waits until the stream's data synced at least once; `Timeout` after `timeout`
    /// (none = no limit), `Closed` when the database closes. Cancel-safe.
    pub async fn wait_for_first_sync(&self, timeout: Option<Duration>) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        Ok(runtime::run(async move { inner.wait_for_first_sync(timeout).await }).await??)
    }

    /// Stops holding the stream (idempotent).
    pub fn unsubscribe(&self) {
        self.inner.unsubscribe();
    }
}

/// Which stream subscription a status entry is: its name and parameters (JSON object text;
/// absent without).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct StreamKey {
    /// Stream name.
    pub name: String,
    /// Subscription parameters as JSON object text; absent without.
    pub parameters_json: Option<String>,
}

/// The position in `streams` (a status's entries, in order) of the entry for stream `name`
/// with `parameters_json` (absent or `null` = without), by core's `SyncStatus::for_stream`:
/// parameters are compared as JSON values, not as text. The wrappers' `for_stream` /
/// `forStream` call this, so every language matches entries the same way.
#[psync_ffi_macros::export]
pub fn stream_status_index(
    streams: Vec<StreamKey>,
    name: String,
    parameters_json: Option<String>,
) -> Result<Option<u32>> {
    let status = CoreSyncStatus {
        streams: streams
            .into_iter()
            .map(|key| {
                Ok(CoreSyncStreamStatus {
                    name: key.name,
                    parameters: parse_parameters(key.parameters_json)?,
                    active: false,
                    is_default: false,
                    has_explicit_subscription: false,
                    expires_at: None,
                    last_synced_at: None,
                    priority: None,
                    progress: DownloadProgress::default(),
                })
            })
            .collect::<Result<_>>()?,
        ..CoreSyncStatus::default()
    };
    let wanted = parse_parameters(parameters_json)?;
    let found = status.for_stream(&name, wanted.as_ref());
    Ok(found
        .and_then(|entry| status.streams.iter().position(|s| std::ptr::eq(s, entry)))
        .and_then(|index| u32::try_from(index).ok()))
}

/// Stream parameters from JSON text (absent = none).
pub(crate) fn parse_parameters(text: Option<String>) -> Result<Option<serde_json::Value>> {
    text.map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|_| SyncError::InvalidArgument {
            reason: "stream parameters are not valid JSON".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, parameters_json: Option<&str>) -> StreamKey {
        StreamKey {
            name: name.to_owned(),
            parameters_json: parameters_json.map(str::to_owned),
        }
    }

    #[test]
    fn stream_entries_match_by_name_and_parameter_values() {
        let streams = vec![
            key("lists", None),
            key("todos", Some(r#"{"list":"a","n":1}"#)),
            key("todos", Some(r#"{"list":"b"}"#)),
        ];
        let index = |name: &str, parameters: Option<&str>| {
            stream_status_index(streams.clone(), name.into(), parameters.map(str::to_owned))
                .expect("valid JSON")
        };
        assert_eq!(index("lists", None), Some(0));
        assert_eq!(index("lists", Some("null")), Some(0));
        // Values, not text: key order and spacing do not matter.
        assert_eq!(index("todos", Some(r#"{ "n": 1, "list": "a" }"#)), Some(1));
        assert_eq!(index("todos", Some(r#"{"list":"b"}"#)), Some(2));
        assert_eq!(index("todos", None), None);
        assert_eq!(index("todos", Some(r#"{"list":"c"}"#)), None);
    }

    #[test]
    fn invalid_parameter_json_is_an_invalid_argument() {
        let result = stream_status_index(vec![], "todos".into(), Some("{".into()));
        assert!(matches!(result, Err(SyncError::InvalidArgument { .. })));
    }
}
