// SPDX-License-Identifier: Apache-2.0
//! State shared by every connection of one [`Database`](crate::db::Database).
//!
//! One `Arc<DatabaseState>` is created per database and handed to every connection's
//! function registration ([`crate::ext::register_functions`]). SQL functions run on whichever
//! connection calls them, on any thread, so every field must be `Send + Sync` (use locks or
//! atomics, never `Cell`/`RefCell`).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::schema::SchemaState;

/// Per-database state shared by all connections and their SQL functions.
#[derive(Debug, Default)]
pub struct DatabaseState {
    /// The app schema last applied with `powersync_replace_schema` (raw tables, clear).
    pub schema: Arc<SchemaState>,
    /// Set by the sync engine while a sync iteration is active; `powersync_clear` refuses a
    /// soft clear then (storage.md §4.1).
    pub sync_iteration_active: AtomicBool,
}

impl DatabaseState {
    /// Fresh state for a newly opened database.
    pub fn new() -> Self {
        Self::default()
    }
}
