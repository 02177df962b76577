// SPDX-License-Identifier: Apache-2.0
//! Sync streams for the app: [`SyncStream`] handles, their subscriptions, and the set of
//! streams the app currently holds (client-state-machine.md §3.2).
//!
//! As in the official SDKs, subscribing stores the subscription (`subscriptions` command)
//! and then tells the running iteration which streams the app holds
//! (`update_subscriptions`); the engine closes the stream when the explicit subscriptions
//! changed, and the driver reconnects at once with the new list. Dropping or
//! [`SyncStreamSubscription::unsubscribe`]-ing a handle only stops holding the stream: its TTL
//! starts running and the subscription is evicted at the first connect after it expired.
//! [`SyncStream::unsubscribe_all`] removes the subscription right away.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value as Json, json};

use super::status::SyncStreamStatus;
use super::{ClientInner, Lifecycle, SyncDatabase, blocking, engine_calls};
use crate::storage::sync::types::StreamKey;
use crate::{Error, Result};

/// Why a wait for synced data ended without it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    /// The timeout passed first.
    #[error("timed out waiting for the first sync")]
    Timeout,
    /// The client was closed.
    #[error("the database is closed")]
    Closed,
}

/// Options of [`SyncStream::subscribe`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubscribeOptions {
    /// How long the subscription outlives its last handle (default 1 day), whole seconds.
    pub ttl: Option<Duration>,
    /// Priority override for the stream's buckets (0 = highest).
    pub priority: Option<i32>,
}

/// A stream name plus parameters, identifying one subscription.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct StreamId {
    pub(crate) name: String,
    /// Parameters as the JSON text stored by the engine (`null` without parameters).
    pub(crate) params: String,
}

impl StreamId {
    fn new(name: &str, params: Option<&Json>) -> Result<Self> {
        if name.is_empty() {
            return Err(Error::invalid_argument("stream name must not be empty"));
        }
        match params {
            None | Some(Json::Null) | Some(Json::Object(_)) => {}
            Some(_) => {
                return Err(Error::invalid_argument(
                    "stream parameters must be a JSON object",
                ));
            }
        }
        Ok(StreamId {
            name: name.to_owned(),
            params: serde_json::to_string(params.unwrap_or(&Json::Null))?,
        })
    }

    /// The engine's key (built from JSON text so the parameters keep their exact text).
    pub(crate) fn key(&self) -> Result<StreamKey> {
        let text = format!(
            "{{\"name\":{},\"params\":{}}}",
            serde_json::to_string(&self.name)?,
            self.params
        );
        Ok(serde_json::from_str(&text)?)
    }
}

/// The streams the app holds handles for, with a count per stream.
#[derive(Debug, Default)]
pub(crate) struct ActiveStreams(BTreeMap<StreamId, usize>);

impl ActiveStreams {
    /// Keys of every held stream (their TTL is extended while held).
    pub(crate) fn keys(&self) -> Vec<StreamKey> {
        self.0.keys().filter_map(|id| id.key().ok()).collect()
    }
}

impl ClientInner {
    /// Tells the running iteration (if any) which streams are held now.
    fn subscriptions_may_have_changed(&self) {
        if let Some(parts) = self.current.lock().clone() {
            parts.signals.subscriptions_changed.notify_one();
        }
    }

    fn hold(&self, id: &StreamId) {
        *self.active_streams.lock().0.entry(id.clone()).or_default() += 1;
        self.subscriptions_may_have_changed();
    }

    fn release_stream(&self, id: &StreamId) {
        {
            let mut active = self.active_streams.lock();
            if let Some(count) = active.0.get_mut(id) {
                *count -= 1;
                if *count == 0 {
                    active.0.remove(id);
                }
            }
        }
        self.subscriptions_may_have_changed();
    }

    /// Runs a `subscriptions` command; without a connection, refreshes the streams of the
    /// status from the database (a connection reports them itself).
    async fn subscriptions_command(self: &Arc<Self>, payload: Json) -> Result<()> {
        let text = payload.to_string();
        let connected = self.current.lock().is_some();
        let offline = blocking(&self.db, move |db| {
            engine_calls::control(db, engine_calls::SyncCommand::Subscriptions(text))?;
            if connected {
                return Ok(None);
            }
            db.read(|tx| crate::storage::sync::offline_status(tx.connection()))
                .map(Some)
        })
        .await?;
        if let Some(core) = offline {
            self.status
                .update(|s| s.streams = core.streams.into_iter().map(Into::into).collect());
        }
        Ok(())
    }
}

/// A stream with parameters, from [`SyncDatabase::sync_stream`]. Subscribing is what makes
/// it sync.
#[derive(Debug, Clone)]
pub struct SyncStream {
    client: SyncDatabase,
    id: StreamId,
    params: Option<Json>,
}

impl SyncStream {
    pub(crate) fn new(client: &SyncDatabase, name: &str, params: Option<Json>) -> Result<Self> {
        let params = params.filter(|p| !p.is_null());
        Ok(SyncStream {
            // Streams and subscriptions do not keep syncing alive (like the connector's handle).
            client: SyncDatabase::lent(&client.inner),
            id: StreamId::new(name, params.as_ref())?,
            params,
        })
    }

    /// Stream name.
    pub fn name(&self) -> &str {
        &self.id.name
    }

    /// Stream parameters (`None` without).
    pub fn parameters(&self) -> Option<&Json> {
        self.params.as_ref()
    }

    /// Subscribes (again): the stream syncs while connected; a running connection
    /// reconnects with the new subscription list. Keep the returned handle while you need
    /// the data; once every handle is gone the TTL starts running.
    pub async fn subscribe(&self, options: SubscribeOptions) -> Result<SyncStreamSubscription> {
        if let Some(p) = options.priority
            && p < 0
        {
            return Err(Error::invalid_argument("priority must be 0 or more"));
        }
        let inner = &self.client.inner;
        let payload = json!({"subscribe": {
            "stream": {"name": self.id.name, "params": self.params},
            "ttl": options.ttl.map(|t| t.as_secs()),
            "priority": options.priority,
        }});
        inner.subscriptions_command(payload).await?;
        inner.hold(&self.id);
        Ok(SyncStreamSubscription {
            stream: self.clone(),
            released: AtomicBool::new(false),
        })
    }

    /// Removes the subscription at once, whatever handles still exist (they keep no data
    /// alive afterwards); a running connection reconnects without it.
    pub async fn unsubscribe_all(&self) -> Result<()> {
        let payload = json!({"unsubscribe": {"name": self.id.name, "params": self.params}});
        self.client.inner.subscriptions_command(payload).await?;
        self.client.inner.subscriptions_may_have_changed();
        Ok(())
    }

    /// This stream's entry in the current status.
    pub fn status(&self) -> Option<SyncStreamStatus> {
        self.client
            .status()
            .for_stream(&self.id.name, self.params.as_ref())
            .cloned()
    }
}

/// A held subscription; dropping it is [`SyncStreamSubscription::unsubscribe`].
#[derive(Debug)]
pub struct SyncStreamSubscription {
    stream: SyncStream,
    released: AtomicBool,
}

impl SyncStreamSubscription {
    /// The subscribed stream.
    pub fn stream(&self) -> &SyncStream {
        &self.stream
    }

    /// Waits until the stream's data was synced at least once (failing with
    /// [`WaitError::Timeout`] after `timeout`, `None` = no limit).
    pub async fn wait_for_first_sync(
        &self,
        timeout: Option<Duration>,
    ) -> std::result::Result<(), WaitError> {
        let (name, params) = (self.stream.name(), self.stream.parameters());
        wait_for_status(&self.stream.client, timeout, |s| {
            s.for_stream(name, params).is_some_and(|e| e.has_synced())
        })
        .await
    }

    /// Stops holding the stream: it keeps syncing until its TTL runs out (counted from now)
    /// unless subscribed again. Idempotent.
    pub fn unsubscribe(&self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            self.stream.client.inner.release_stream(&self.stream.id);
        }
    }
}

impl Drop for SyncStreamSubscription {
    fn drop(&mut self) {
        self.unsubscribe();
    }
}

/// Waits until `done(status)` holds.
pub(crate) async fn wait_for_status(
    client: &SyncDatabase,
    timeout: Option<Duration>,
    done: impl FnMut(&super::SyncStatus) -> bool,
) -> std::result::Result<(), WaitError> {
    let mut status = client.inner.status.subscribe();
    let mut lifecycle = client.inner.lifecycle.subscribe();
    let wait = async {
        // Biased: a condition that already holds wins over a closed client (both are ready
        // after `close()`), so a stream that synced stays synced.
        tokio::select! {
            biased;
            reached = status.wait_for(done) => reached.map(|_| ()).map_err(|_| WaitError::Closed),
            _ = lifecycle.wait_for(|l| *l == Lifecycle::Closed) => Err(WaitError::Closed),
        }
    };
    match timeout {
        Some(limit) => super::clock::timeout(&*client.inner.clock, limit, wait)
            .await
            .ok_or(WaitError::Timeout)?,
        None => wait.await,
    }
}
