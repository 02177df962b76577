// SPDX-License-Identifier: Apache-2.0
//! Scripted mode: a test takes over sync streams of a client id and writes the lines itself.

use crate::encode::Format;
use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Notify, mpsc};

/// The body channel of a streaming response.
pub type BodySender = mpsc::Sender<Result<Bytes, std::io::Error>>;

/// A sync stream under test control.
#[derive(Debug)]
pub struct ScriptedStream {
    /// Id used by the admin HTTP API.
    pub id: u64,
    /// The JSON body the client posted to `/sync/stream`.
    pub request: Value,
    /// The JWT `sub` of the connection.
    pub user_id: String,
    /// Framing the client negotiated.
    pub format: Format,
    sender: Mutex<Option<BodySender>>,
}

impl ScriptedStream {
    /// Sends one line encoded in the negotiated format. Returns false once the client is gone.
    pub async fn send_line(&self, line: &Value) -> bool {
        self.send_raw(self.format.encode(line)).await
    }

    /// Sends raw bytes verbatim (may be partial or broken lines). False once the client is gone.
    pub async fn send_raw(&self, bytes: impl Into<Bytes>) -> bool {
        let sender = self.sender.lock().clone();
        match sender {
            Some(sender) => sender.send(Ok(bytes.into())).await.is_ok(),
            None => false,
        }
    }

    /// Ends the response cleanly.
    pub fn close(&self) {
        self.sender.lock().take();
    }

    /// Aborts the response (the client sees a truncated body / connection error).
    pub async fn abort(&self) {
        let sender = self.sender.lock().take();
        if let Some(sender) = sender {
            // Let hyper flush what was already sent; it drops unflushed output on error.
            while sender.capacity() < sender.max_capacity() && !sender.is_closed() {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let _ = sender
                .send(Err(std::io::Error::other("aborted by script")))
                .await;
        }
    }

    /// Whether the client disconnected or the stream was closed.
    pub fn is_closed(&self) -> bool {
        self.sender.lock().as_ref().is_none_or(|s| s.is_closed())
    }
}

#[derive(Debug, Default)]
struct Slot {
    waiting: VecDeque<Arc<ScriptedStream>>,
    notify: Arc<Notify>,
}

/// Which client ids are scripted, their queued connections, and all live scripted streams.
#[derive(Debug, Default)]
pub struct ScriptRegistry {
    slots: Mutex<HashMap<String, Slot>>,
    streams: Mutex<HashMap<u64, Arc<ScriptedStream>>>,
    next_id: AtomicU64,
}

impl ScriptRegistry {
    /// Starts scripting `client_id`.
    pub fn enable(&self, client_id: &str) {
        self.slots.lock().entry(client_id.to_owned()).or_default();
    }

    /// Stops scripting `client_id` (already handed-over streams stay scripted).
    pub fn disable(&self, client_id: &str) {
        if let Some(slot) = self.slots.lock().remove(client_id) {
            slot.notify.notify_waiters();
        }
    }

    /// Whether streams of `client_id` are scripted.
    pub fn is_scripted(&self, client_id: &str) -> bool {
        self.slots.lock().contains_key(client_id)
    }

    /// Hands a stream's body over to the script queue of `client_id`.
    pub fn hand_over(
        &self,
        client_id: &str,
        request: Value,
        user_id: String,
        format: Format,
        sender: BodySender,
    ) -> Arc<ScriptedStream> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let stream = Arc::new(ScriptedStream {
            id,
            request,
            user_id,
            format,
            sender: Mutex::new(Some(sender)),
        });
        self.streams.lock().insert(id, stream.clone());
        let mut slots = self.slots.lock();
        let slot = slots.entry(client_id.to_owned()).or_default();
        slot.waiting.push_back(stream.clone());
        slot.notify.notify_waiters();
        stream
    }

    /// Waits for the next handed-over stream of `client_id` (None after `timeout`).
    pub async fn next(
        &self,
        client_id: &str,
        timeout: std::time::Duration,
    ) -> Option<Arc<ScriptedStream>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notify = {
                let mut slots = self.slots.lock();
                let slot = slots.get_mut(client_id)?;
                if let Some(stream) = slot.waiting.pop_front() {
                    return Some(stream);
                }
                slot.notify.clone()
            };
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self
                .slots
                .lock()
                .get(client_id)
                .is_some_and(|s| !s.waiting.is_empty())
            {
                continue;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// A live scripted stream by id.
    pub fn get(&self, id: u64) -> Option<Arc<ScriptedStream>> {
        let mut streams = self.streams.lock();
        streams.retain(|_, s| !s.is_closed());
        streams.get(&id).cloned()
    }

    /// Closes every scripted stream (shutdown).
    pub fn close_all(&self) {
        for stream in self.streams.lock().drain().map(|(_, s)| s) {
            stream.close();
        }
    }
}
