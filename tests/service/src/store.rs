// SPDX-License-Identifier: Apache-2.0
//! The bucket storage: an in-memory oplog per bucket, fed by replication of source changes,
//! plus the write-checkpoint records (§9 of the sync protocol).

use crate::checksum;
use crate::config::SyncConfig;
use crate::source::Change;
use crate::subscriptions::{Reason, ResolvedBucket};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Kind of an oplog entry this service emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Row (re)written.
    Put,
    /// Row gone from the bucket.
    Remove,
    /// Placeholder left by compaction for a superseded op; keeps its checksum.
    Move,
}

/// One oplog entry.
#[derive(Debug, Clone)]
pub struct Op {
    /// Global monotonic op id.
    pub op_id: i64,
    /// PUT or REMOVE.
    pub kind: OpKind,
    /// Table name.
    pub object_type: String,
    /// Row id.
    pub object_id: String,
    /// Row JSON for PUT.
    pub data: Option<String>,
    /// Per-op checksum (u32).
    pub checksum: u32,
}

/// One bucket's oplog and running totals.
#[derive(Debug, Clone, Default)]
pub struct Bucket {
    /// Ops in ascending op id.
    pub ops: Vec<Op>,
    /// Sum of all op checksums, mod 2^32.
    pub checksum: u32,
}

/// What a stream needs to describe one bucket in a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketState {
    /// Bucket name.
    pub name: String,
    /// Effective priority for this connection.
    pub priority: i32,
    /// Why the connection receives it (`subscriptions` of the checkpoint line).
    pub reasons: Vec<Reason>,
    /// Checksum of everything up to the checkpoint.
    pub checksum: u32,
    /// Number of ops up to the checkpoint.
    pub count: usize,
}

/// A consistent view for one connection.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Newest op id (the checkpoint's `last_op_id`).
    pub last_op_id: i64,
    /// Buckets of the user.
    pub buckets: Vec<BucketState>,
    /// Write checkpoint to report, if its head has been replicated.
    pub write_checkpoint: Option<i64>,
}

/// A write-checkpoint record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteCheckpoint {
    /// The checkpoint id.
    pub id: i64,
    /// Source change-log position when the id was stored.
    pub source_position: i64,
}

/// The whole bucket storage.
#[derive(Debug, Default)]
pub struct Store {
    /// Last op id assigned.
    pub head: i64,
    /// Source change-log position replication has processed.
    pub replicated_position: i64,
    buckets: BTreeMap<String, Bucket>,
    /// Per (definition index, row id): the bucket the row currently lives in.
    placements: HashMap<(usize, String), String>,
    write_checkpoints: HashMap<(String, String), WriteCheckpoint>,
    /// Changes not yet written to the source database file (`None`: nothing is persisted,
    /// the source lives in memory). See `persist.rs`.
    pub journal: Option<Vec<Persisted>>,
}

/// A change of the store that a service on a database file persists (so a restarted service
/// continues with the same op ids, checksums and write checkpoints, like the real one).
#[derive(Debug, Clone)]
pub enum Persisted {
    /// A new op in `bucket` (of bucket definition `definition`).
    Op {
        /// Bucket name.
        bucket: String,
        /// Index of the bucket definition.
        definition: usize,
        /// The op.
        op: Op,
    },
    /// Compaction turned this op into a MOVE.
    Moved(i64),
    /// The write-checkpoint record of (user, client) is now this.
    WriteCheckpoint(String, String, WriteCheckpoint),
    /// Write-checkpoint records of one client (or all) were dropped.
    Forgot(Option<String>),
    /// Replication processed the source change log up to here.
    ReplicatedPosition(i64),
}

/// Version of the deployed sync rules; like the real service, bucket names start with it
/// (`1#user_lists["u1"]`).
pub const SYNC_RULES_VERSION: u32 = 1;

/// The part between the brackets of a bucket name: the JSON text of each key value, joined
/// by commas (`"u1"`, `"l1","u1"`).
pub fn key_text(key: &[Value]) -> String {
    key.iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Where rows of a table go: the bucket name prefix and the columns that key the bucket.
struct BucketSource<'a> {
    prefix: String,
    table: &'a str,
    /// Key columns; `stringify` turns values into strings (bucket definitions key by user
    /// id, which is always a string).
    key_columns: Vec<&'a str>,
    stringify: bool,
}

fn bucket_sources(config: &SyncConfig) -> Vec<BucketSource<'_>> {
    let definitions = config.buckets.iter().map(|def| BucketSource {
        prefix: def.name.clone(),
        table: &def.table,
        key_columns: def.owner_column.iter().map(String::as_str).collect(),
        stringify: true,
    });
    let streams = config.streams.iter().map(|stream| BucketSource {
        prefix: format!("{}|0", stream.name),
        table: &stream.table,
        key_columns: stream.filters.iter().map(|f| f.column.as_str()).collect(),
        stringify: false,
    });
    definitions.chain(streams).collect()
}

impl BucketSource<'_> {
    /// The bucket a row belongs to; `None` when a key column is missing or null.
    fn bucket_of(&self, data: &str) -> Option<String> {
        let row: Value = serde_json::from_str(data).ok()?;
        let mut key = Vec::with_capacity(self.key_columns.len());
        for column in &self.key_columns {
            let value = match row.get(*column)? {
                Value::Null => return None,
                Value::String(s) => Value::String(s.clone()),
                other if self.stringify => Value::String(other.to_string()),
                other => other.clone(),
            };
            key.push(value);
        }
        Some(format!(
            "{SYNC_RULES_VERSION}#{}[{}]",
            self.prefix,
            key_text(&key)
        ))
    }
}

impl Store {
    /// An empty store; with `journalled`, changes are kept for `persist::flush`.
    pub fn journalled(journalled: bool) -> Self {
        Self {
            journal: journalled.then(Vec::new),
            ..Self::default()
        }
    }

    fn record(&mut self, change: impl FnOnce() -> Persisted) {
        if let Some(journal) = &mut self.journal {
            journal.push(change());
        }
    }

    fn push(&mut self, bucket: &str, definition: usize, mut op: Op) {
        self.head += 1;
        op.op_id = self.head;
        self.record(|| Persisted::Op {
            bucket: bucket.to_owned(),
            definition,
            op: op.clone(),
        });
        let entry = self.buckets.entry(bucket.to_owned()).or_default();
        entry.checksum = checksum::add(entry.checksum, op.checksum);
        entry.ops.push(op);
    }

    /// Puts back an op read from the database file (ops come in ascending op id).
    pub fn restore_op(&mut self, bucket: &str, definition: usize, op: Op) {
        self.head = self.head.max(op.op_id);
        let key = (definition, op.object_id.clone());
        match op.kind {
            OpKind::Put => {
                self.placements.insert(key, bucket.to_owned());
            }
            OpKind::Remove if self.placements.get(&key).map(String::as_str) == Some(bucket) => {
                self.placements.remove(&key);
            }
            OpKind::Remove | OpKind::Move => {}
        }
        let entry = self.buckets.entry(bucket.to_owned()).or_default();
        entry.checksum = checksum::add(entry.checksum, op.checksum);
        entry.ops.push(op);
    }

    /// Puts back a write-checkpoint record read from the database file.
    pub fn restore_write_checkpoint(&mut self, user: &str, client: &str, wc: WriteCheckpoint) {
        self.write_checkpoints
            .insert((user.to_owned(), client.to_owned()), wc);
    }

    /// Sets the processed change-log position.
    pub fn set_replicated_position(&mut self, position: i64) {
        self.replicated_position = position;
        self.record(|| Persisted::ReplicatedPosition(position));
    }

    fn store_write_checkpoint(&mut self, key: (String, String), wc: WriteCheckpoint) {
        self.record(|| Persisted::WriteCheckpoint(key.0.clone(), key.1.clone(), wc));
        self.write_checkpoints.insert(key, wc);
    }

    /// Turns one source change into ops in every bucket it affects.
    pub fn apply_change(&mut self, config: &SyncConfig, change: &Change) {
        for (index, source) in bucket_sources(config).iter().enumerate() {
            if source.table != change.table {
                continue;
            }
            let key = (index, change.id.clone());
            let new_bucket = change.data.as_deref().and_then(|d| source.bucket_of(d));
            let old_bucket = self.placements.get(&key).cloned();
            if let Some(old) = &old_bucket
                && new_bucket.as_ref() != Some(old)
            {
                let op = Op {
                    op_id: 0,
                    kind: OpKind::Remove,
                    object_type: change.table.clone(),
                    object_id: change.id.clone(),
                    data: None,
                    checksum: checksum::delete_checksum(&change.table, &change.id),
                };
                self.push(old, index, op);
                self.placements.remove(&key);
            }
            if let (Some(bucket), Some(data)) = (new_bucket, &change.data) {
                let op = Op {
                    op_id: 0,
                    kind: OpKind::Put,
                    object_type: change.table.clone(),
                    object_id: change.id.clone(),
                    data: Some(data.clone()),
                    checksum: checksum::put_checksum(&change.table, &change.id, data),
                };
                self.push(&bucket, index, op);
                self.placements.insert(key, bucket);
            }
        }
        self.set_replicated_position(self.replicated_position.max(change.seq));
    }

    /// Snapshot of a connection's buckets (see `subscriptions::resolve`).
    pub fn snapshot(
        &self,
        resolved: &[ResolvedBucket],
        user_id: &str,
        client_id: &str,
    ) -> Snapshot {
        let buckets = resolved
            .iter()
            .map(|bucket| {
                let (checksum, count) = self
                    .buckets
                    .get(&bucket.name)
                    .map(|b| (b.checksum, b.ops.len()))
                    .unwrap_or((0, 0));
                BucketState {
                    name: bucket.name.clone(),
                    priority: bucket.priority,
                    reasons: bucket.reasons.clone(),
                    checksum,
                    count,
                }
            })
            .collect();
        let write_checkpoint = self
            .write_checkpoints
            .get(&(user_id.to_owned(), client_id.to_owned()))
            .filter(|wc| wc.source_position <= self.replicated_position)
            .map(|wc| wc.id);
        Snapshot {
            last_op_id: self.head,
            buckets,
            write_checkpoint,
        }
    }

    /// Ops of `bucket` with `after < op_id <= up_to`, at most `limit` of them.
    pub fn ops_after(&self, bucket: &str, after: i64, up_to: i64, limit: usize) -> Vec<Op> {
        let Some(b) = self.buckets.get(bucket) else {
            return Vec::new();
        };
        let start = b.ops.partition_point(|op| op.op_id <= after);
        b.ops[start..]
            .iter()
            .take_while(|op| op.op_id <= up_to)
            .take(limit)
            .cloned()
            .collect()
    }

    /// Compacts every bucket like the real service's MOVE compaction: each PUT/REMOVE that a
    /// later op of the same row supersedes becomes a MOVE with the same op id and checksum,
    /// so bucket checksums and counts stay the same. Returns how many ops were converted.
    pub fn compact(&mut self) -> usize {
        let mut converted = Vec::new();
        for bucket in self.buckets.values_mut() {
            let mut seen = std::collections::HashSet::new();
            for op in bucket.ops.iter_mut().rev() {
                if op.kind == OpKind::Move {
                    continue;
                }
                let key = (op.object_type.clone(), op.object_id.clone());
                if !seen.insert(key) {
                    op.kind = OpKind::Move;
                    op.object_type.clear();
                    op.object_id.clear();
                    op.data = None;
                    converted.push(op.op_id);
                }
            }
        }
        for &op_id in &converted {
            self.record(|| Persisted::Moved(op_id));
        }
        converted.len()
    }

    /// Legacy `write-checkpoint2`: increments the shared counter.
    pub fn legacy_write_checkpoint(&mut self, user: &str, client: &str, position: i64) -> i64 {
        let key = (user.to_owned(), client.to_owned());
        let id = self
            .write_checkpoints
            .get(&key)
            .map_or(1, |wc| wc.id.saturating_add(1));
        self.store_write_checkpoint(
            key,
            WriteCheckpoint {
                id,
                source_position: position,
            },
        );
        id
    }

    /// Checkpoint request: stores `max(stored, requested)`; a larger request id records the
    /// current source position; equal or stale requests keep the stored record.
    pub fn checkpoint_request(
        &mut self,
        user: &str,
        client: &str,
        requested: i64,
        position: i64,
    ) -> i64 {
        let key = (user.to_owned(), client.to_owned());
        match self.write_checkpoints.get(&key) {
            Some(stored) if stored.id >= requested => stored.id,
            _ => {
                self.store_write_checkpoint(
                    key,
                    WriteCheckpoint {
                        id: requested,
                        source_position: position,
                    },
                );
                requested
            }
        }
    }

    /// The stored record of a (user, client) pair.
    pub fn write_checkpoint(&self, user: &str, client: &str) -> Option<WriteCheckpoint> {
        self.write_checkpoints
            .get(&(user.to_owned(), client.to_owned()))
            .copied()
    }

    /// Drops write-checkpoint records: of one client id (any user) or all.
    pub fn forget_write_checkpoints(&mut self, client: Option<&str>) {
        self.record(|| Persisted::Forgot(client.map(str::to_owned)));
        match client {
            Some(client) => self.write_checkpoints.retain(|(_, c), _| c != client),
            None => self.write_checkpoints.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriptions::{RequestContext, resolve};

    fn user_buckets(config: &SyncConfig) -> Vec<ResolvedBucket> {
        resolve(config, &RequestContext::user("u")).buckets
    }

    fn change(seq: i64, table: &str, id: &str, data: Option<&str>) -> Change {
        Change {
            seq,
            table: table.to_owned(),
            id: id.to_owned(),
            data: data.map(str::to_owned),
        }
    }

    #[test]
    fn owner_change_moves_row_between_user_buckets() {
        let config = SyncConfig::default();
        let mut store = Store::default();
        store.apply_change(
            &config,
            &change(1, "lists", "l1", Some(r#"{"id":"l1","owner_id":"u1"}"#)),
        );
        store.apply_change(
            &config,
            &change(2, "lists", "l1", Some(r#"{"id":"l1","owner_id":"u2"}"#)),
        );
        let u1 = store.ops_after(r#"1#user_lists["u1"]"#, 0, i64::MAX, 100);
        let u2 = store.ops_after(r#"1#user_lists["u2"]"#, 0, i64::MAX, 100);
        assert_eq!(
            u1.iter().map(|o| o.kind).collect::<Vec<_>>(),
            vec![OpKind::Put, OpKind::Remove]
        );
        assert_eq!(u2.len(), 1);
        assert_eq!(store.head, 3);
        assert_eq!(store.replicated_position, 2);
    }

    #[test]
    fn compaction_turns_superseded_ops_into_moves_keeping_checksums() {
        let config = SyncConfig::default();
        let mut store = Store::default();
        let put = |n| change(n, "announcements", "a", Some("{}"));
        store.apply_change(&config, &put(1));
        store.apply_change(&config, &put(2));
        store.apply_change(&config, &change(3, "announcements", "a", None));
        store.apply_change(&config, &change(4, "announcements", "b", Some("{}")));
        let before = store.snapshot(&user_buckets(&config), "u", "c").buckets[0].clone();
        assert_eq!(store.compact(), 2);
        assert_eq!(store.compact(), 0);
        let after = store.snapshot(&user_buckets(&config), "u", "c").buckets[0].clone();
        assert_eq!(before, after);
        let kinds: Vec<OpKind> = store
            .ops_after("1#global_announcements[]", 0, i64::MAX, 10)
            .iter()
            .map(|o| o.kind)
            .collect();
        assert_eq!(
            kinds,
            vec![OpKind::Move, OpKind::Move, OpKind::Remove, OpKind::Put]
        );
    }

    #[test]
    fn checkpoint_request_keeps_max_and_original_head() {
        let mut store = Store::default();
        assert_eq!(store.checkpoint_request("u", "c", 5, 10), 5);
        assert_eq!(store.checkpoint_request("u", "c", 5, 20), 5);
        assert_eq!(
            store.write_checkpoint("u", "c").map(|w| w.source_position),
            Some(10)
        );
        assert_eq!(store.checkpoint_request("u", "c", 3, 30), 5);
        assert_eq!(store.legacy_write_checkpoint("u", "c", 40), 6);
        assert_eq!(store.checkpoint_request("u", "c", 9, 50), 9);
    }

    #[test]
    fn write_checkpoint_hidden_until_replicated() {
        let config = SyncConfig::default();
        let mut store = Store::default();
        store.checkpoint_request("u", "c", 1, 1);
        assert_eq!(
            store
                .snapshot(&user_buckets(&config), "u", "c")
                .write_checkpoint,
            None
        );
        store.apply_change(&config, &change(1, "announcements", "a", Some("{}")));
        assert_eq!(
            store
                .snapshot(&user_buckets(&config), "u", "c")
                .write_checkpoint,
            Some(1)
        );
        store.checkpoint_request("u", "c", 2, 2);
        assert_eq!(
            store
                .snapshot(&user_buckets(&config), "u", "c")
                .write_checkpoint,
            None
        );
    }
}
