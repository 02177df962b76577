// SPDX-License-Identifier: Apache-2.0
//! Sync-stream subscription bookkeeping in `ps_stream_subscriptions`
//! (sync-protocol.md §2.1, client-state-machine.md §3.2).

use std::collections::BTreeMap;

use rusqlite::Connection;
use serde_json::{Value, json};

use super::state::{RealBucketProgress, TargetCheckpoint};
use super::types::StreamKey;
use crate::{Error, Result};

/// Explicit subscriptions as `(name, params text)` keys plus their request JSON.
pub type RequestSubscriptions = (Vec<(String, String)>, Vec<Value>);

/// Per stream key: best priority, total and downloaded ops.
type StreamProgress = BTreeMap<(String, Option<String>), (Option<i32>, i64, i64)>;

/// Default TTL of an explicit subscription, in seconds.
pub const DEFAULT_TTL_SECONDS: i64 = 86_400;

fn params_text(params: &Option<Value>) -> Result<String> {
    Ok(match params {
        None => "null".to_string(),
        Some(v) => serde_json::to_string(v)?,
    })
}

/// Deletes expired rows, extends TTLs of `active` streams, and returns the explicit
/// subscriptions for the request as `(name, params text)` in table order plus the JSON list.
pub fn prepare_request(
    conn: &Connection,
    active: &[StreamKey],
    now_micros: i64,
) -> Result<RequestSubscriptions> {
    conn.prepare_cached(
        "DELETE FROM ps_stream_subscriptions
         WHERE (expires_at IS NOT NULL AND expires_at < ?1) OR (ttl IS NULL AND NOT active)",
    )?
    .execute([now_micros])?;
    extend_ttls(conn, active, now_micros)?;
    explicit_subscriptions(conn)
}

/// Extends `expires_at` of explicit subscriptions the app references.
pub fn extend_ttls(conn: &Connection, active: &[StreamKey], now_micros: i64) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "UPDATE ps_stream_subscriptions SET expires_at = ?1 + ttl * 1000000
         WHERE ttl IS NOT NULL AND stream_name = ?2 AND local_params = ?3",
    )?;
    for key in active {
        stmt.execute(rusqlite::params![
            now_micros,
            key.name,
            params_text(&key.params)?
        ])?;
    }
    Ok(())
}

/// Explicit subscriptions (ttl not NULL) in table order.
pub fn explicit_subscriptions(conn: &Connection) -> Result<RequestSubscriptions> {
    let mut stmt = conn.prepare_cached(
        "SELECT stream_name, local_params, local_priority FROM ps_stream_subscriptions
         WHERE ttl IS NOT NULL ORDER BY id",
    )?;
    let mut keys = Vec::new();
    let mut list = Vec::new();
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let name: String = row.get(0)?;
        let params: String = row.get(1)?;
        let priority: Option<i64> = row.get(2)?;
        let parsed: Value = serde_json::from_str(&params).unwrap_or(Value::Null);
        list.push(json!({"stream": name, "parameters": parsed, "override_priority": priority}));
        keys.push((name, params));
    }
    Ok((keys, list))
}

/// Reconciles local rows with the streams of a `checkpoint` line; returns log lines.
pub fn reconcile(
    conn: &Connection,
    checkpoint: &TargetCheckpoint,
    request_subscriptions: &[(String, String)],
) -> Result<Vec<String>> {
    let mut logs = Vec::new();
    conn.prepare_cached("UPDATE ps_stream_subscriptions SET active = 0, is_default = 0")?
        .execute([])?;
    for stream in &checkpoint.streams {
        conn.prepare_cached(
            "UPDATE ps_stream_subscriptions SET active = 1, is_default = ?2 WHERE stream_name = ?1",
        )?
        .execute(rusqlite::params![stream.name, stream.is_default])?;
        if stream.is_default {
            conn.prepare_cached(
                "INSERT INTO ps_stream_subscriptions(stream_name, active, is_default)
                 SELECT ?1, 1, 1 WHERE NOT EXISTS
                   (SELECT 1 FROM ps_stream_subscriptions WHERE stream_name = ?1)",
            )?
            .execute([&stream.name])?;
        }
        for error in &stream.errors {
            match &error.subscription {
                Value::String(s) if s == "default" => logs.push(format!(
                    "Default subscription {} has errors: {}",
                    stream.name, error.message
                )),
                Value::Number(n) => {
                    let params = n
                        .as_u64()
                        .and_then(|i| usize::try_from(i).ok())
                        .and_then(|i| request_subscriptions.get(i))
                        .map_or("?", |(_, p)| p.as_str());
                    logs.push(format!(
                        "Subscription to stream {} (with parameters {}) could not be resolved: {}",
                        stream.name, params, error.message
                    ));
                }
                _ => {}
            }
        }
    }
    conn.prepare_cached("DELETE FROM ps_stream_subscriptions WHERE ttl IS NULL AND NOT active")?
        .execute([])?;
    Ok(logs)
}

/// Stream names in scope of an apply (buckets with priority `<= p`, or all).
fn streams_in_scope(
    checkpoint: &TargetCheckpoint,
    priority: Option<i32>,
    request_subscriptions: &[(String, String)],
) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for bucket in checkpoint.buckets.values() {
        if priority.is_some_and(|p| bucket.priority > p) {
            continue;
        }
        for sub in &bucket.subscriptions {
            if let Some(stream) = sub.default.and_then(|i| checkpoint.streams.get(i)) {
                out.push((stream.name.clone(), None));
            }
            if let Some((name, params)) = sub.sub.and_then(|i| request_subscriptions.get(i)) {
                out.push((name.clone(), Some(params.clone())));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Sets `last_synced_at = now` on streams in scope of an apply.
pub fn mark_synced(
    conn: &Connection,
    checkpoint: &TargetCheckpoint,
    priority: Option<i32>,
    request_subscriptions: &[(String, String)],
    now_micros: i64,
) -> Result<()> {
    for (name, params) in streams_in_scope(checkpoint, priority, request_subscriptions) {
        conn.prepare_cached(
            "UPDATE ps_stream_subscriptions SET last_synced_at = ?1
             WHERE stream_name = ?2 AND (?3 IS NULL OR local_params = ?3)",
        )?
        .execute(rusqlite::params![now_micros, name, params])?;
    }
    Ok(())
}

/// Status objects of every local subscription.
pub fn statuses(
    conn: &Connection,
    checkpoint: Option<&TargetCheckpoint>,
    progress: &BTreeMap<String, RealBucketProgress>,
    request_subscriptions: &[(String, String)],
) -> Result<Vec<Value>> {
    // Per (name, params?) key: best priority and progress over its buckets.
    let mut per_stream: StreamProgress = BTreeMap::new();
    if let Some(cp) = checkpoint {
        for (bucket_name, bucket) in &cp.buckets {
            let p = progress.get(bucket_name);
            for sub in &bucket.subscriptions {
                let mut keys = Vec::new();
                if let Some(stream) = sub.default.and_then(|i| cp.streams.get(i)) {
                    keys.push((stream.name.clone(), None));
                }
                if let Some((name, params)) = sub.sub.and_then(|i| request_subscriptions.get(i)) {
                    keys.push((name.clone(), Some(params.clone())));
                }
                for key in keys {
                    let e = per_stream.entry(key).or_insert((None, 0, 0));
                    e.0 = Some(e.0.map_or(bucket.priority, |q| q.min(bucket.priority)));
                    if let Some(p) = p {
                        e.1 += p.target_count - p.at_last;
                        e.2 += p.since_last;
                    }
                }
            }
        }
    }
    let mut stmt = conn.prepare_cached(
        "SELECT stream_name, local_params, active, is_default, ttl, expires_at, last_synced_at
         FROM ps_stream_subscriptions ORDER BY id",
    )?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let name: String = row.get(0)?;
        let params: String = row.get(1)?;
        let ttl: Option<i64> = row.get(4)?;
        let is_default: bool = row.get(3)?;
        let info = per_stream
            .get(&(name.clone(), Some(params.clone())))
            .or_else(|| {
                is_default
                    .then(|| per_stream.get(&(name.clone(), None)))
                    .flatten()
            });
        let parsed: Value = serde_json::from_str(&params).unwrap_or(Value::Null);
        out.push(json!({
            "name": name,
            "parameters": parsed,
            "priority": info.and_then(|i| i.0),
            "active": row.get::<_, bool>(2)?,
            "is_default": is_default,
            "has_explicit_subscription": ttl.is_some(),
            "expires_at": row.get::<_, Option<i64>>(5)?,
            "last_synced_at": row.get::<_, Option<i64>>(6)?,
            "progress": json!({"total": info.map_or(0, |i| i.1), "downloaded": info.map_or(0, |i| i.2)}),
        }));
    }
    Ok(out)
}

/// The `subscriptions` command: `{"subscribe":{stream:{name,params},ttl?,priority?}}` or
/// `{"unsubscribe":{name,params}}`.
pub fn subscriptions_command(conn: &Connection, command: &Value, now_micros: i64) -> Result<()> {
    if let Some(sub) = command.get("subscribe") {
        let stream = sub
            .get("stream")
            .ok_or_else(|| Error::invalid_argument("subscribe needs a stream"))?;
        let key: StreamKey = serde_json::from_value(stream.clone())?;
        let ttl = sub
            .get("ttl")
            .and_then(Value::as_i64)
            .unwrap_or(DEFAULT_TTL_SECONDS);
        let priority = sub.get("priority").and_then(Value::as_i64);
        conn.prepare_cached(
            "INSERT INTO ps_stream_subscriptions(stream_name, local_params, ttl, expires_at, local_priority)
             VALUES (?1, ?2, ?3, ?4 + ?3 * 1000000, ?5)
             ON CONFLICT(stream_name, local_params) DO UPDATE SET
               ttl = excluded.ttl, expires_at = excluded.expires_at,
               local_priority = excluded.local_priority",
        )?
        .execute(rusqlite::params![
            key.name,
            params_text(&key.params)?,
            ttl,
            now_micros,
            priority
        ])?;
        Ok(())
    } else if let Some(unsub) = command.get("unsubscribe") {
        let key: StreamKey = serde_json::from_value(unsub.clone())?;
        conn.prepare_cached(
            "UPDATE ps_stream_subscriptions SET ttl = NULL, expires_at = NULL
             WHERE stream_name = ?1 AND local_params = ?2",
        )?
        .execute(rusqlite::params![key.name, params_text(&key.params)?])?;
        conn.prepare_cached(
            "DELETE FROM ps_stream_subscriptions WHERE ttl IS NULL AND NOT active",
        )?
        .execute([])?;
        Ok(())
    } else {
        Err(Error::invalid_argument("unknown subscriptions command"))
    }
}
