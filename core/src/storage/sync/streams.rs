// SPDX-License-Identifier: Apache-2.0
//! Sync-stream subscription bookkeeping in `ps_stream_subscriptions`
//! (sync-protocol.md §2.1, client-state-machine.md §3.2).
//!
//! Stream parameters are kept as the exact JSON text the app sent (`local_params`) and rows
//! are matched by that text, as in the reference core. The stream part of the status is a
//! snapshot taken at `start` and at every checkpoint; between checkpoints only its
//! `last_synced_at` and progress change.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension};
use serde::Deserialize;
use serde_json::{Value, json};

use super::state::{RealBucketProgress, TargetCheckpoint};
use super::types::{JsonText, StreamKey, StreamProgress, StreamStatus};
use crate::Result;
use crate::storage::functions::constraint_datatype;

/// Default TTL of an explicit subscription, in seconds.
pub const DEFAULT_TTL_SECONDS: i64 = 86_400;

pub(crate) const DELETE_EXPIRED_SQL: &str = "DELETE FROM ps_stream_subscriptions
 WHERE expires_at < ?1 OR (ttl IS NULL AND NOT active)";
pub(crate) const EXTEND_TTL_SQL: &str =
    "UPDATE ps_stream_subscriptions SET expires_at = ?1 + ttl * 1000000
 WHERE ttl IS NOT NULL AND stream_name = ?2 AND local_params = ?3";
pub(crate) const EXPLICIT_SUBSCRIPTIONS_SQL: &str =
    "SELECT id, stream_name, local_params, local_priority FROM ps_stream_subscriptions
 WHERE ttl IS NOT NULL ORDER BY id";
pub(crate) const DEACTIVATE_ALL_SQL: &str =
    "UPDATE ps_stream_subscriptions SET active = 0, is_default = 0";
pub(crate) const ACTIVATE_SQL: &str =
    "UPDATE ps_stream_subscriptions SET active = 1, is_default = ?2 WHERE stream_name = ?1";
pub(crate) const SUBSCRIPTION_BY_ID_SQL: &str =
    "SELECT stream_name, local_params FROM ps_stream_subscriptions WHERE id = ?1";
pub(crate) const INSERT_DEFAULT_SQL: &str =
    "INSERT INTO ps_stream_subscriptions(stream_name, active, is_default)
 SELECT ?1, 1, 1 WHERE NOT EXISTS (SELECT 1 FROM ps_stream_subscriptions WHERE stream_name = ?1)";
pub(crate) const DELETE_INACTIVE_SQL: &str =
    "DELETE FROM ps_stream_subscriptions WHERE ttl IS NULL AND NOT active";
pub(crate) const SNAPSHOT_SQL: &str =
    "SELECT id, stream_name, local_params, active, is_default, ttl, expires_at, last_synced_at
 FROM ps_stream_subscriptions ORDER BY id";
pub(crate) const SET_STREAM_SYNCED_SQL: &str =
    "UPDATE ps_stream_subscriptions SET last_synced_at = ?2 WHERE id = ?1";

/// An explicit subscription as listed in a request (`sub` indexes of buckets point here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedSubscription {
    /// Row id in `ps_stream_subscriptions`.
    pub id: i64,
    /// Stream name.
    pub name: String,
    /// Parameters text as stored.
    pub params: String,
    /// Priority override.
    pub priority: Option<i64>,
}

/// Whether two lists of explicit subscriptions make the same request (row ids are ignored).
pub fn same_request(a: &[RequestedSubscription], b: &[RequestedSubscription]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.name == y.name && x.params == y.params && x.priority == y.priority)
}

fn parse_params(text: &str) -> Result<Option<JsonText>> {
    if text == "null" {
        Ok(None)
    } else {
        JsonText::from_text(text.to_owned()).map(Some)
    }
}

/// Extends TTLs of `active` streams, deletes expired rows and inactive rows without an
/// explicit subscription, and returns the explicit subscriptions for the request plus the
/// request's JSON list.
pub fn prepare_request(
    conn: &Connection,
    active: &[StreamKey],
    now_micros: i64,
) -> Result<(Vec<RequestedSubscription>, Vec<Value>)> {
    extend_ttls(conn, active, now_micros)?;
    conn.prepare_cached(DELETE_EXPIRED_SQL)?
        .execute([now_micros])?;
    let requested = explicit_subscriptions(conn)?;
    let mut list = Vec::with_capacity(requested.len());
    for sub in &requested {
        let parameters: Value = serde_json::from_str(&sub.params)
            .map_err(|e| constraint_datatype(&format!("invalid stored stream parameters: {e}")))?;
        list.push(json!({
            "stream": sub.name,
            "parameters": parameters,
            "override_priority": sub.priority,
        }));
    }
    Ok((requested, list))
}

/// Extends `expires_at` of explicit subscriptions the app references.
pub fn extend_ttls(conn: &Connection, active: &[StreamKey], now_micros: i64) -> Result<()> {
    let mut stmt = conn.prepare_cached(EXTEND_TTL_SQL)?;
    for key in active {
        stmt.execute(rusqlite::params![now_micros, key.name, key.params_text()])?;
    }
    Ok(())
}

/// Explicit subscriptions (ttl not NULL) in table order.
pub fn explicit_subscriptions(conn: &Connection) -> Result<Vec<RequestedSubscription>> {
    let mut stmt = conn.prepare_cached(EXPLICIT_SUBSCRIPTIONS_SQL)?;
    let rows = stmt.query_map([], |row| {
        Ok(RequestedSubscription {
            id: row.get(0)?,
            name: row.get(1)?,
            params: row.get(2)?,
            priority: row.get(3)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Reconciles local rows with the streams of a checkpoint (sent again for every
/// `checkpoint_diff`); returns the warnings to log.
pub fn reconcile(
    conn: &Connection,
    checkpoint: &TargetCheckpoint,
    requested: &[RequestedSubscription],
) -> Result<Vec<String>> {
    let mut logs = Vec::new();
    conn.prepare_cached(DEACTIVATE_ALL_SQL)?.execute([])?;
    for stream in &checkpoint.streams {
        conn.prepare_cached(ACTIVATE_SQL)?
            .execute(rusqlite::params![stream.name, stream.is_default])?;
        for error in &stream.errors {
            match &error.subscription {
                Value::String(s) if s == "default" => logs.push(format!(
                    "Default subscription {} has errors: {}",
                    stream.name, error.message
                )),
                Value::Number(n) => {
                    let Some(sub) = n
                        .as_u64()
                        .and_then(|i| usize::try_from(i).ok())
                        .and_then(|i| requested.get(i))
                    else {
                        continue;
                    };
                    let row: Option<(String, String)> = conn
                        .prepare_cached(SUBSCRIPTION_BY_ID_SQL)?
                        .query_row([sub.id], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()?;
                    if let Some((name, params)) = row {
                        let with = if params == "null" {
                            "(without parameters)".to_owned()
                        } else {
                            format!("(with parameters {params})")
                        };
                        logs.push(format!(
                            "Subscription to stream {name} {with} could not be resolved: {}",
                            error.message
                        ));
                    }
                }
                _ => {}
            }
        }
        if stream.is_default {
            conn.prepare_cached(INSERT_DEFAULT_SQL)?
                .execute([&stream.name])?;
        }
    }
    conn.prepare_cached(DELETE_INACTIVE_SQL)?.execute([])?;
    Ok(logs)
}

/// Status objects of every local row, in table order. With a checkpoint, each row gets the
/// buckets that belong to it: buckets of a default stream go to the row that has no explicit
/// subscription, buckets of an explicit subscription (`sub` index into `requested`) to that
/// row.
pub fn snapshot(
    conn: &Connection,
    checkpoint: Option<&TargetCheckpoint>,
    requested: &[RequestedSubscription],
) -> Result<Vec<StreamStatus>> {
    let mut stmt = conn.prepare_cached(SNAPSHOT_SQL)?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let params: String = row.get(2)?;
        out.push(StreamStatus {
            id: row.get(0)?,
            name: row.get(1)?,
            parameters: parse_params(&params)?,
            buckets: Default::default(),
            priority: None,
            active: row.get(3)?,
            is_default: row.get(4)?,
            has_explicit_subscription: row.get::<_, Option<i64>>(5)?.is_some(),
            expires_at: row.get(6)?,
            last_synced_at: row.get(7)?,
            progress: StreamProgress::default(),
        });
    }
    let Some(cp) = checkpoint else {
        return Ok(out);
    };
    // Index into `cp.streams` -> index into `out`, for rows that follow a default stream.
    let mut default_rows: BTreeMap<usize, usize> = BTreeMap::new();
    for (i, status) in out.iter().enumerate() {
        if !status.active || !status.is_default || status.has_explicit_subscription {
            continue;
        }
        if let Some(server) = cp.streams.iter().rposition(|s| s.name == status.name) {
            default_rows.entry(server).or_insert(i);
        }
    }
    for (bucket_name, bucket) in &cp.buckets {
        for sub in &bucket.subscriptions {
            let mut targets = Vec::with_capacity(2);
            if let Some(i) = sub.default.and_then(|i| default_rows.get(&i)) {
                targets.push(*i);
            }
            if let Some(id) = sub.sub.and_then(|i| requested.get(i)).map(|r| r.id)
                && let Some(i) = out.iter().position(|s| s.id == id)
            {
                targets.push(i);
            }
            for i in targets {
                if let Some(status) = out.get_mut(i) {
                    status.buckets.insert(bucket_name.clone());
                    // The stream is as late as its lowest-priority bucket (highest number).
                    status.priority = Some(
                        status
                            .priority
                            .map_or(bucket.priority, |p| p.max(bucket.priority)),
                    );
                }
            }
        }
    }
    Ok(out)
}

/// Sets `last_synced_at = now` (in the table and in `streams`) on the streams an apply of
/// `priority` covers: all for a full apply, else those whose buckets all have priority `<= p`.
pub fn mark_synced(
    conn: &Connection,
    streams: &mut [StreamStatus],
    priority: Option<i32>,
    now_micros: i64,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(SET_STREAM_SYNCED_SQL)?;
    for status in streams {
        let in_scope = match priority {
            None => true,
            Some(p) => status.priority.is_some_and(|q| q <= p),
        };
        if in_scope {
            stmt.execute([status.id, now_micros])?;
            status.last_synced_at = Some(now_micros);
        }
    }
    Ok(())
}

/// Fills each stream's progress from the bucket progress of the checkpoint being downloaded
/// (`None` when nothing is being downloaded: all zero).
pub fn fill_progress(
    streams: &mut [StreamStatus],
    downloading: Option<&BTreeMap<String, RealBucketProgress>>,
) {
    for status in streams {
        let mut progress = StreamProgress::default();
        if let Some(buckets) = downloading {
            for p in status.buckets.iter().filter_map(|b| buckets.get(b)) {
                progress.total += p.target_count - p.at_last;
                progress.downloaded += p.since_last;
            }
        }
        status.progress = progress;
    }
}

/// Payload of the `subscriptions` command.
#[derive(Deserialize)]
enum SubscriptionChange {
    #[serde(rename = "subscribe")]
    Subscribe(Subscribe),
    #[serde(rename = "unsubscribe")]
    Unsubscribe(StreamKey),
}

#[derive(Deserialize)]
struct Subscribe {
    stream: StreamKey,
    #[serde(default)]
    ttl: Option<u64>,
    #[serde(default)]
    priority: Option<i64>,
}

/// The `subscriptions` command: `{"subscribe":{"stream":{name,params},ttl?,priority?}}` or
/// `{"unsubscribe":{name,params}}`, given as JSON text.
///
/// Subscribing again replaces ttl and expiry, and keeps the lower of the old and new
/// priority (an existing row without a priority keeps none). Unsubscribing only drops the
/// explicit subscription (`ttl`); the row is removed once it is neither active nor
/// subscribed, at the next `start` or checkpoint.
pub fn subscriptions_command(conn: &Connection, payload: &str, now_micros: i64) -> Result<()> {
    let change: SubscriptionChange = serde_json::from_str(payload)
        .map_err(|e| constraint_datatype(&format!("invalid subscriptions: {e}")))?;
    match change {
        SubscriptionChange::Subscribe(sub) => {
            if let Some(p) = sub.priority
                && (p < 0 || p >= i64::from(i32::MAX))
            {
                return Err(constraint_datatype("invalid subscription priority"));
            }
            let ttl = sub.ttl.map_or(DEFAULT_TTL_SECONDS, |t| {
                i64::try_from(t).unwrap_or(i64::MAX)
            });
            let expires_at = now_micros.saturating_add(ttl.saturating_mul(1_000_000));
            conn.prepare_cached(
                "INSERT INTO ps_stream_subscriptions
                   (stream_name, local_priority, local_params, ttl, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT DO UPDATE SET
                   local_priority = min(coalesce(?2, local_priority), local_priority),
                   ttl = ?4, expires_at = ?5",
            )?
            .execute(rusqlite::params![
                sub.stream.name,
                sub.priority,
                sub.stream.params_text(),
                ttl,
                expires_at
            ])?;
        }
        SubscriptionChange::Unsubscribe(key) => {
            conn.prepare_cached(
                "UPDATE ps_stream_subscriptions SET ttl = NULL
                 WHERE stream_name = ?1 AND local_params = ?2",
            )?
            .execute(rusqlite::params![key.name, key.params_text()])?;
        }
    }
    Ok(())
}
