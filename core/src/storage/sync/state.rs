// SPDX-License-Identifier: Apache-2.0
//! In-memory iteration state (client-state-machine.md §3).

use std::collections::BTreeMap;

use super::line::{BucketChecksum, BucketSubscription, StreamDescription};
use super::types::{BucketProgress, CoreDownloadProgress, CoreSyncStatus, StartSyncStream};
use crate::{Error, Result};

/// Default bucket priority when the checkpoint names none.
pub const DEFAULT_PRIORITY: i32 = 3;

/// One bucket of the target checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketInfo {
    /// Expected checksum.
    pub checksum: u32,
    /// Priority number.
    pub priority: i32,
    /// Op count, when sent.
    pub count: Option<i64>,
    /// Stream subscriptions the bucket belongs to.
    pub subscriptions: Vec<BucketSubscription>,
}

impl BucketInfo {
    /// Converts a wire bucket, validating its priority.
    pub fn from_wire(b: &BucketChecksum<'_>) -> Result<(String, Self)> {
        let priority = match b.priority {
            None => DEFAULT_PRIORITY,
            Some(p) => i32::try_from(p)
                .ok()
                .filter(|p| *p >= 0 && *p != i32::MAX)
                .ok_or_else(|| Error::protocol("invalid bucket priority"))?,
        };
        Ok((
            b.bucket.to_string(),
            Self {
                checksum: b.checksum,
                priority,
                count: b.count,
                subscriptions: b.subscriptions.clone(),
            },
        ))
    }
}

/// The checkpoint the iteration is downloading towards.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetCheckpoint {
    /// Op id of the checkpoint.
    pub last_op_id: i64,
    /// Write checkpoint it acknowledges.
    pub write_checkpoint: Option<i64>,
    /// Buckets by name.
    pub buckets: BTreeMap<String, BucketInfo>,
    /// Streams (from the last full `checkpoint` line).
    pub streams: Vec<StreamDescription>,
}

/// Where the iteration stands.
#[derive(Debug, Clone)]
pub enum Target {
    /// No checkpoint yet; the buckets the request listed.
    BeforeCheckpoint(Vec<String>),
    /// Downloading towards a checkpoint.
    Tracking(TargetCheckpoint),
}

/// Progress of one real bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RealBucketProgress {
    /// Priority.
    pub priority: i32,
    /// Count at the last full apply.
    pub at_last: i64,
    /// Downloaded since.
    pub since_last: i64,
    /// Target count.
    pub target_count: i64,
}

/// An active iteration.
#[derive(Debug)]
pub struct Iteration {
    /// The `start` options.
    pub options: StartSyncStream,
    /// Current status.
    pub status: CoreSyncStatus,
    /// JSON of the last emitted status (statuses are only emitted when changed).
    pub last_emitted_status: Option<String>,
    /// Target.
    pub target: Target,
    /// Validated checkpoint blocked by the gate.
    pub pending: Option<TargetCheckpoint>,
    /// Progress per bucket of the target.
    pub progress: BTreeMap<String, RealBucketProgress>,
    /// The explicit subscriptions the request was built with.
    pub request_subscriptions: Vec<super::streams::RequestedSubscription>,
    /// Raw tables of the `start` schema.
    pub raw_tables: Vec<super::raw::RawTable>,
    /// Keys each bucket may hold in `ps_oplog` (skips superseded-op lookups).
    pub new_keys: super::new_keys::NewKeyFilters,
}

impl Target {
    /// The op count the target checkpoint announces for `bucket`.
    pub fn expected_ops(&self, bucket: &str) -> Option<i64> {
        match self {
            Target::Tracking(target) => target.buckets.get(bucket).and_then(|b| b.count),
            Target::BeforeCheckpoint(_) => None,
        }
    }
}

impl Iteration {
    /// Recomputes `status.downloading` from `progress`.
    pub fn refresh_downloading(&mut self) {
        let mut buckets: BTreeMap<String, BucketProgress> = BTreeMap::new();
        for p in self.progress.values() {
            let entry = buckets
                .entry(format!("prio_{}", p.priority))
                .or_insert(BucketProgress {
                    priority: p.priority,
                    ..BucketProgress::default()
                });
            entry.since_last += p.since_last;
            entry.target_count += p.target_count - p.at_last;
        }
        self.status.downloading = Some(CoreDownloadProgress { buckets });
    }
}
