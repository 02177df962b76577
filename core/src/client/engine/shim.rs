// SPDX-License-Identifier: Apache-2.0
//! TEMPORARY stand-in for `crate::sync` until the engine branch lands.
#![allow(dead_code, missing_docs)]

use std::collections::BTreeMap;

use rusqlite::Connection;
use serde_json::Value;

use crate::Result;

pub struct StreamKey;

pub enum SyncCommand {
    Start(StartSyncStream),
    Stop,
    LineText(String),
    LineBinary(Vec<u8>),
    CompletedUpload,
    ConnectionEstablished,
    ConnectionEnd,
    RefreshedToken,
    UpdateSubscriptions(Vec<StreamKey>),
    Subscriptions(Value),
}

#[derive(Default)]
pub struct StartSyncStream {
    pub parameters: Option<Value>,
    pub schema: Option<Value>,
    pub include_defaults: bool,
    pub active_streams: Vec<StreamKey>,
    pub app_metadata: Option<BTreeMap<String, String>>,
    pub checkpoint_mode: CheckpointMode,
}

#[derive(Default)]
pub enum CheckpointMode {
    #[default]
    Legacy,
    Requests,
}

#[derive(Debug)]
pub enum LogSeverity {
    Debug,
    Info,
    Warning,
}

pub struct CheckpointRequestTarget {
    pub client_id: String,
    pub checkpoint_request_id: i64,
}

pub enum Instruction {
    LogLine { severity: LogSeverity, line: String },
    UpdateSyncStatus { status: CoreSyncStatus },
    EstablishSyncStream { request: Value, checkpoint_request: Option<CheckpointRequestTarget> },
    FetchCredentials { did_expire: bool },
    CloseSyncStream { hide_disconnect: bool },
    DidCompleteSync { applied_checkpoint_request_id: Option<i64> },
}

pub struct PriorityStatusEntry {
    pub priority: i32,
    pub last_synced_at: Option<i64>,
    pub has_synced: Option<bool>,
}

pub struct BucketProgress {
    pub priority: i32,
    pub at_last: i64,
    pub since_last: i64,
    pub target_count: i64,
}

pub struct DownloadProgress {
    pub buckets: BTreeMap<String, BucketProgress>,
}

pub struct CoreSyncStatus {
    pub connected: bool,
    pub connecting: bool,
    pub priority_status: Vec<PriorityStatusEntry>,
    pub downloading: Option<DownloadProgress>,
    pub streams: Vec<Value>,
    pub internal_last_applied_checkpoint_request_id: Option<i64>,
}

#[derive(Default)]
pub struct SyncEngine;

impl SyncEngine {
    pub fn control(&self, _c: &Connection, _cmd: SyncCommand, _now: i64) -> Result<Vec<Instruction>> {
        Ok(Vec::new())
    }
    pub fn seed_checkpoint_request_id(&self, _c: &Connection, id: i64) -> Result<i64> {
        Ok(id)
    }
    pub fn next_checkpoint_request_id(&self, c: &Connection) -> Result<i64> {
        crate::kv::next_checkpoint_request_id(c)
    }
    pub fn target_checkpoint_request_id(&self, c: &Connection, t: Option<i64>) -> Result<Option<i64>> {
        if t.is_some() {
            crate::kv::set_target(c, t)?;
        }
        crate::kv::target(c)
    }
}

static ENGINE: SyncEngine = SyncEngine;

pub fn engine(_db: &crate::Database) -> &'static SyncEngine {
    &ENGINE
}
