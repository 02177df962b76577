// SPDX-License-Identifier: Apache-2.0
//! State shared by every connection of one database file.
//!
//! One `Arc<DatabaseState>` is created per database and handed to every connection's
//! function registration ([`super::register`]). SQL functions run on whichever
//! connection calls them, on any thread, so every field must be `Send + Sync` (use locks or
//! atomics, never `Cell`/`RefCell`).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::storage::schema::SchemaState;
use crate::storage::sync::SyncEngine;

/// Per-database state shared by all connections and their SQL functions.
#[derive(Debug)]
pub struct DatabaseState {
    /// The app schema last applied with `powersync_replace_schema` (raw tables, clear).
    pub schema: Arc<SchemaState>,
    /// Set by the sync engine while a sync iteration is active; `powersync_clear` refuses a
    /// soft clear then (storage.md §4.1).
    pub sync_iteration_active: Arc<AtomicBool>,
    /// The sync state machine; it keeps `sync_iteration_active` up to date.
    pub sync: SyncEngine,
}

impl Default for DatabaseState {
    fn default() -> Self {
        let active = Arc::new(AtomicBool::new(false));
        Self {
            schema: Arc::default(),
            sync_iteration_active: active.clone(),
            sync: SyncEngine::new(active),
        }
    }
}

impl DatabaseState {
    /// Fresh state for a newly opened database.
    pub fn new() -> Self {
        Self::default()
    }
}
