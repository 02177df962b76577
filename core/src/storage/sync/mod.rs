// SPDX-License-Identifier: Apache-2.0
//! The sync engine: a sans-network state machine that turns sync lines from the service into
//! storage writes and instructions for the SDK (client-state-machine.md, sync-protocol.md).
//!
//! * [`types`]: commands, instructions and status, serialised like the reference core.
//! * [`line`] / [`bson`]: sync line decoding (JSON and BSON).
//! * `storage`: oplog writes; `apply`: checkpoint validation and `sync_local`.
//! * [`SyncEngine`]: the per-database state machine; [`register_functions`] installs
//!   `powersync_control`, `powersync_offline_sync_status` and `powersync_trigger_resync`.

pub(crate) mod apply;
pub mod bson;
pub(crate) mod engine;
pub mod line;
pub(crate) mod new_keys;
mod raw;
mod sql;
mod state;
pub(crate) mod storage;
pub(crate) mod streams;
pub mod types;

pub use apply::{ApplyOutcome, ChecksumMismatch, FULL_SYNC_PRIORITY};
pub use engine::{SyncEngine, offline_status};
pub use sql::register_functions;
pub use types::{
    BucketProgress, CheckpointMode, CheckpointRequestTarget, CoreDownloadProgress, CoreSyncStatus,
    Instruction, JsonText, LogSeverity, PriorityStatusEntry, StartSyncStream, StreamKey,
    StreamProgress, StreamStatus, SyncCommand, instructions_to_json,
};
