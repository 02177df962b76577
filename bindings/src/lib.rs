// SPDX-License-Identifier: Apache-2.0
//! `psync-ffi`: the UniFFI layer over `psync-core`, the one native library that Swift,
//! Kotlin and Python load.
//!
//! Thin by design: every exported method converts its arguments, calls core, and converts
//! the result and the error ([`SyncError`], mapped in `error.rs`). Logic that needs more
//! belongs in core. Every export goes through [`psync_ffi_macros::export`], which runs async
//! exports on the tokio runtime owned by this crate (`runtime.rs`).

mod blocking;
mod crud;
mod database;
mod error;
mod listener;
mod logging;
mod runtime;
mod schema;
mod shutdown;
mod streams;
mod sync;
mod task_handle;
mod transaction;
mod value;

pub use crud::{CrudBatch, CrudEntry, CrudTransaction};
pub use database::{Database, ExecuteResult, OpenOptions, Statement};
pub use error::SyncError;
pub use listener::{QueryListener, TableChangeListener};
pub use logging::LogSink;
pub use psync_core::client::{CheckpointMode, LogLevel};
pub use psync_core::storage::crud::UpdateType;
pub use psync_core::storage::crud::UploadQueueStats;
pub use schema::{
    Column, IncludeOld, Index, IndexedColumn, RawParam, RawStatement, RawTable, Schema, Table,
};
pub use shutdown::shutdown;
pub use streams::{
    StreamKey, SyncStream, SyncStreamStatus, SyncStreamSubscription, stream_status_index,
};
pub use sync::{
    BackendConnector, CheckpointRequest, Credentials, PriorityStatus, StatusListener, SyncOptions,
    SyncStatus,
};
pub use task_handle::TaskHandle;
pub use transaction::Transaction;
pub use value::{Row, Value};

/// The psync version (the workspace version shared by core and the bindings), as sent in the
/// `User-Agent` (`psync/<version> (<language>)`).
#[psync_ffi_macros::export]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

uniffi::setup_scaffolding!();
