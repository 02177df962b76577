// SPDX-License-Identifier: Apache-2.0
//! `psync-ffi`: the UniFFI layer over `psync-core`, the one native library that Swift,
//! Kotlin and Python load.
//!
//! Thin by design: every exported method converts its arguments, calls core, and converts
//! the result and the error ([`SyncError`], mapped in `error.rs`). Logic that needs more
//! belongs in core. Every export goes through [`psync_ffi_macros::export`], which runs async
//! exports on the tokio runtime owned by this crate (`runtime.rs`).

mod crud;
mod database;
mod error;
mod listener;
mod runtime;
mod schema;
mod shutdown;
mod streams;
mod sync;
mod task_handle;
mod value;

pub use crud::{CrudBatch, CrudEntry, CrudTransaction, UpdateType};
pub use database::{Database, ExecuteResult, Statement};
pub use error::SyncError;
pub use listener::{QueryListener, TableChangeListener};
pub use schema::{Column, IncludeOld, Index, IndexedColumn, Schema, Table};
pub use shutdown::shutdown;
pub use streams::{SyncStream, SyncStreamStatus, SyncStreamSubscription};
pub use sync::{
    BackendConnector, CheckpointMode, CheckpointRequest, Credentials, PriorityStatus,
    StatusListener, SyncOptions, SyncStatus,
};
pub use task_handle::TaskHandle;
pub use value::{Row, Value};

uniffi::setup_scaffolding!();
