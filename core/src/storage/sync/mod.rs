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

/// Upper bound on the sync lines handed to [`SyncEngine::control_lines`] in one write
/// transaction, in bytes (the client batches what has arrived up to it). Lines handled
/// together share one commit, and the ops of consecutive data lines are stored sorted, which
/// is what keeps large initial syncs fast. The bound caps the memory held for a batch (~2.5×
/// its size) and how long local writes wait for the write lock during an initial sync (well
/// under a second at 16 MiB).
pub const LINE_BATCH_MAX_BYTES: usize = 16 * 1024 * 1024;

pub use apply::{ApplyOutcome, ChecksumMismatch, FULL_SYNC_PRIORITY};
pub use engine::{SyncEngine, offline_status};
pub use sql::register_functions;
pub use types::{
    BucketProgress, CheckpointMode, CheckpointRequestTarget, CoreDownloadProgress, CoreSyncStatus,
    Instruction, JsonText, LogSeverity, PriorityStatusEntry, StartSyncStream, StreamKey,
    StreamProgress, StreamStatus, SyncCommand, instructions_to_json,
};
