// SPDX-License-Identifier: Apache-2.0
//! One `/sync/stream` connection: checkpoint, data per priority, completes, then diffs after
//! every change, keepalives with `token_expires_in`, and stream faults.

use crate::checksum::js_signed;
use crate::encode::Format;
use crate::faults::Faults;
use crate::script::BodySender;
use crate::service::Inner;
use crate::store::{BucketState, Snapshot};
use crate::subscriptions::Resolution;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Everything a connection task needs about its request.
#[derive(Debug)]
pub struct StreamRequest {
    /// JWT sub.
    pub user_id: String,
    /// Token expiry, seconds since the epoch.
    pub token_exp: i64,
    /// `client_id` of the request ("" when absent).
    pub client_id: String,
    /// Resume points from `buckets[].after`.
    pub after: HashMap<String, i64>,
    /// `raw_data: true` was requested: row data stays JSON text in ndjson (BSON always
    /// carries it as text).
    pub raw_data: bool,
    /// The request parameters (query and body; for scripted mode).
    pub body: Value,
    /// Negotiated framing.
    pub format: Format,
    /// Buckets and streams of this request.
    pub resolution: Resolution,
    /// Faults taken when the request arrived.
    pub faults: Faults,
    /// Fault registry generation at that time.
    pub faults_generation: u64,
}

/// Why writing stopped.
enum Stop {
    /// Client went away, a fault dropped the connection, or shutdown.
    Ended,
}

struct Sink {
    sender: BodySender,
    format: Format,
    lines: u64,
    bytes: u64,
}

impl Sink {
    async fn send(&mut self, line: &Value, faults: &Faults) -> Result<(), Stop> {
        if faults.drop_after_lines.is_some_and(|n| self.lines >= n) {
            return self.abort().await;
        }
        let mut bytes = self.format.encode(line);
        let mut cut = false;
        if let Some(limit) = faults.drop_after_bytes {
            let room = limit.saturating_sub(self.bytes);
            if (bytes.len() as u64) > room {
                bytes = bytes.slice(..usize::try_from(room).unwrap_or(0));
                cut = true;
            }
        }
        self.lines += 1;
        self.bytes += bytes.len() as u64;
        if !bytes.is_empty() && self.sender.send(Ok(bytes)).await.is_err() {
            return Err(Stop::Ended);
        }
        if cut {
            return self.abort().await;
        }
        Ok(())
    }

    async fn abort(&mut self) -> Result<(), Stop> {
        // hyper discards unflushed output when a body errors, so let it write what was
        // already sent before breaking the connection.
        while self.sender.capacity() < self.sender.max_capacity() && !self.sender.is_closed() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let _ = self
            .sender
            .send(Err(std::io::Error::other("fault: connection dropped")))
            .await;
        Err(Stop::Ended)
    }
}

fn seconds_until(exp: i64) -> f64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    exp as f64 - now
}

fn bucket_json(bucket: &BucketState, corrupt: bool) -> Value {
    let checksum = if corrupt {
        bucket.checksum.wrapping_add(1)
    } else {
        bucket.checksum
    };
    json!({
        "bucket": bucket.name,
        "checksum": js_signed(checksum),
        "count": bucket.count,
        "priority": bucket.priority,
        "subscriptions": bucket.reasons.iter().map(|r| r.to_json()).collect::<Vec<_>>(),
    })
}

/// Runs a connection until the client leaves, the token expires, a fault ends it, or the
/// service shuts down.
pub async fn run(inner: Arc<Inner>, request: StreamRequest, sender: BodySender) {
    let mut changes = inner.changes.subscribe();
    let mut shutdown = inner.shutdown.subscribe();
    let mut faults = request.faults.clone();
    let mut faults_generation = request.faults_generation;
    let mut sink = Sink {
        sender,
        format: request.format,
        lines: 0,
        bytes: 0,
    };
    let mut after = request.after.clone();
    let mut sent: Option<Snapshot> = None;
    let keepalive = inner.options.keepalive_interval;
    let mut next_keepalive = Instant::now() + keepalive;
    let expires_in = seconds_until(request.token_exp).max(0.0);
    let expiry = Instant::now() + Duration::from_secs_f64(expires_in);
    // The real service warns once 20 s before expiry; only when that is still ahead.
    let warning = inner.options.expire_warning_period;
    let mut pre_expiry = (expires_in > warning.as_secs_f64()).then(|| expiry - warning);
    if expires_in == 0.0 {
        // A token past `exp` but within the clock tolerance: like the real service, the only
        // line is the expiry notice.
        let _ = sink.send(&json!({"token_expires_in": 0}), &faults).await;
        return;
    }
    loop {
        if *shutdown.borrow() {
            return;
        }
        if inner.scripts.is_scripted(&request.client_id) {
            inner.scripts.hand_over(
                &request.client_id,
                request.body.clone(),
                request.user_id.clone(),
                request.format,
                sink.sender,
            );
            return;
        }
        {
            let registry = inner.faults.lock();
            if registry.generation != faults_generation {
                faults = registry.peek(Some(request.client_id.as_str()).filter(|c| !c.is_empty()));
                faults_generation = registry.generation;
            }
        }
        changes.borrow_and_update();
        if !faults.stall {
            let result =
                sync_round(&inner, &request, &faults, &mut sink, &mut after, &mut sent).await;
            if result.is_err() {
                return;
            }
        }
        loop {
            let wake = match pre_expiry {
                Some(t) if t < next_keepalive => t,
                _ => next_keepalive,
            };
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() { return; }
                    break;
                }
                _ = shutdown.changed() => return,
                _ = sink.sender.closed() => return,
                _ = tokio::time::sleep_until(expiry) => {
                    if !faults.stall {
                        let _ = sink.send(&json!({"token_expires_in": 0}), &faults).await;
                    }
                    return;
                }
                _ = tokio::time::sleep_until(wake) => {
                    if pre_expiry == Some(wake) {
                        pre_expiry = None;
                    } else {
                        next_keepalive = Instant::now() + keepalive;
                    }
                    let left = seconds_until(request.token_exp).max(0.0).ceil() as i64;
                    if !faults.stall
                        && sink.send(&json!({"token_expires_in": left}), &faults).await.is_err()
                    {
                        return;
                    }
                    if left == 0 {
                        // Expired while waking for a keepalive: that was the final line.
                        return;
                    }
                }
            }
        }
    }
}

/// Sends a checkpoint (or diff) and the data behind it if anything changed for this client.
async fn sync_round(
    inner: &Inner,
    request: &StreamRequest,
    faults: &Faults,
    sink: &mut Sink,
    after: &mut HashMap<String, i64>,
    sent: &mut Option<Snapshot>,
) -> Result<(), Stop> {
    let snapshot = inner.store.lock().snapshot(
        &request.resolution.buckets,
        &request.user_id,
        &request.client_id,
    );
    let corrupt = faults.corrupt_checksums;
    let (line, to_fetch): (Value, Vec<&BucketState>) = match sent {
        None => {
            let buckets: Vec<Value> = snapshot
                .buckets
                .iter()
                .map(|b| bucket_json(b, corrupt))
                .collect();
            // Bucket definitions act as default streams, like sync rules on the real service;
            // buckets point at their stream (or the request's subscription) by index.
            let mut checkpoint = json!({
                "last_op_id": snapshot.last_op_id.to_string(),
                "buckets": buckets,
                "streams": request.resolution.streams,
            });
            if let (Some(wc), Some(map)) = (snapshot.write_checkpoint, checkpoint.as_object_mut()) {
                map.insert("write_checkpoint".to_owned(), Value::String(wc.to_string()));
            }
            (
                json!({ "checkpoint": checkpoint }),
                snapshot.buckets.iter().collect(),
            )
        }
        Some(previous) => {
            let updated: Vec<&BucketState> = snapshot
                .buckets
                .iter()
                .filter(|b| !previous.buckets.contains(b))
                .collect();
            let removed: Vec<&str> = previous
                .buckets
                .iter()
                .filter(|old| !snapshot.buckets.iter().any(|b| b.name == old.name))
                .map(|b| b.name.as_str())
                .collect();
            if updated.is_empty()
                && removed.is_empty()
                && previous.write_checkpoint == snapshot.write_checkpoint
            {
                return Ok(());
            }
            let mut diff = json!({
                "last_op_id": snapshot.last_op_id.to_string(),
                "updated_buckets": updated.iter().map(|b| bucket_json(b, corrupt)).collect::<Vec<_>>(),
                "removed_buckets": removed,
            });
            if let (Some(wc), Some(map)) = (snapshot.write_checkpoint, diff.as_object_mut()) {
                map.insert("write_checkpoint".to_owned(), Value::String(wc.to_string()));
            }
            (json!({ "checkpoint_diff": diff }), updated)
        }
    };
    sink.send(&line, faults).await?;
    // Positions of buckets that left the checkpoint are forgotten: should they come back,
    // they are sent from the start again.
    after.retain(|name, _| snapshot.buckets.iter().any(|b| &b.name == name));
    let priorities: BTreeSet<i32> = to_fetch.iter().map(|b| b.priority).collect();
    let last_priority = priorities.iter().next_back().copied();
    let limit = inner.options.ops_per_data_line.max(1);
    for priority in &priorities {
        for bucket in to_fetch.iter().filter(|b| b.priority == *priority) {
            loop {
                let start = after.get(&bucket.name).copied().unwrap_or(0);
                let ops =
                    inner
                        .store
                        .lock()
                        .ops_after(&bucket.name, start, snapshot.last_op_id, limit);
                let Some(last) = ops.last().map(|op| op.op_id) else {
                    break;
                };
                let has_more = ops.len() == limit;
                let nested = request.format == Format::Ndjson && !request.raw_data;
                let data: Vec<Value> = ops.iter().map(|op| op_json(op, nested)).collect();
                let line = json!({"data": {
                    "bucket": bucket.name,
                    "after": start.to_string(),
                    "next_after": last.to_string(),
                    "has_more": has_more,
                    "data": data,
                }});
                sink.send(&line, faults).await?;
                after.insert(bucket.name.clone(), last);
                if !has_more {
                    break;
                }
            }
        }
        if Some(*priority) != last_priority {
            let line = json!({"partial_checkpoint_complete": {
                "last_op_id": snapshot.last_op_id.to_string(),
                "priority": priority,
            }});
            sink.send(&line, faults).await?;
        }
    }
    let line = json!({"checkpoint_complete": {"last_op_id": snapshot.last_op_id.to_string()}});
    sink.send(&line, faults).await?;
    *sent = Some(snapshot);
    Ok(())
}

/// One oplog entry. `nested`: row data as a JSON object (ndjson without `raw_data: true`, the
/// real service's legacy format) instead of JSON text.
fn op_json(op: &crate::store::Op, nested: bool) -> Value {
    let data = match &op.data {
        Some(text) if nested => serde_json::from_str(text).unwrap_or(Value::Null),
        Some(text) => Value::String(text.clone()),
        None => Value::Null,
    };
    match op.kind {
        crate::store::OpKind::Put => json!({
            "op_id": op.op_id.to_string(),
            "op": "PUT",
            "object_type": op.object_type,
            "object_id": op.object_id,
            "data": data,
            "checksum": op.checksum,
        }),
        crate::store::OpKind::Remove => json!({
            "op_id": op.op_id.to_string(),
            "op": "REMOVE",
            "object_type": op.object_type,
            "object_id": op.object_id,
            "checksum": op.checksum,
        }),
        crate::store::OpKind::Move => json!({
            "op_id": op.op_id.to_string(),
            "op": "MOVE",
            "checksum": op.checksum,
        }),
    }
}
