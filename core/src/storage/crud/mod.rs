// SPDX-License-Identifier: Apache-2.0
//! Capturing local writes into the upload queue (storage.md §3) and reading it back.
//!
//! * [`register_functions`] installs, per connection, the CRUD virtual tables
//!   (`powersync_crud`, `powersync_crud_`) and the SQL helpers the generated triggers call:
//!   `powersync_diff`, `powersync_strip_subtype`, `powersync_json_merge`,
//!   `powersync_in_sync_operation()` and `powersync_clear(flags)`.
//! * [`queue`] reads and completes upload batches/transactions.
//! * [`SyncOperationGuard`] marks a connection as applying synced data, so triggers on raw tables
//!   fired by the sync engine do not enqueue uploads.

mod clear;
mod json_fns;
pub mod queue;
pub(crate) mod vtab;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;

pub use clear::{CLEAR_LOCAL, CLEAR_SOFT, clear, clear_with_raw_tables, raw_table_clears};
pub use json_fns::diff_objects;
pub use queue::{
    CrudBatch, CrudEntry, CrudTransaction, UpdateType, get_crud_batch, get_crud_transaction_after,
    get_next_crud_transaction,
};
pub use queue::{UploadQueueStats, upload_queue_stats};

use crate::storage::functions::{self, Determinism};
use crate::storage::state::DatabaseState;
use crate::value::Value;
use crate::{Error, Result};

/// Per-connection state shared by the CRUD virtual tables and SQL functions.
#[derive(Debug, Default)]
pub struct CrudConnectionState {
    /// `tx_id` of the SQLite transaction currently writing CRUD entries, if any.
    current_tx: Mutex<Option<i64>>,
    /// Set while the sync engine applies downloaded data on this connection.
    in_sync_operation: AtomicBool,
}

impl CrudConnectionState {
    /// Whether the sync engine is applying data on this connection.
    pub fn in_sync_operation(&self) -> bool {
        self.in_sync_operation.load(Ordering::SeqCst)
    }

    /// Sets the sync-operation flag, returning the previous value.
    pub fn set_in_sync_operation(&self, on: bool) -> bool {
        self.in_sync_operation.swap(on, Ordering::SeqCst)
    }
}

const SET_SYNC_OPERATION_FN: &str = "powersync_internal_set_sync_operation";

/// Registers the CRUD vtabs and functions on `conn`; returns the connection's CRUD state.
/// `database` supplies the raw tables whose `clear` statements `powersync_clear` runs and the
/// "sync iteration active" flag that blocks soft clears.
pub fn register_functions(
    conn: &Connection,
    database: Arc<DatabaseState>,
) -> Result<Arc<CrudConnectionState>> {
    let state = Arc::new(CrudConnectionState::default());
    vtab::register(conn, state.clone())?;
    json_fns::register(conn)?;

    let flag = state.clone();
    conn.create_scalar_function(
        "powersync_in_sync_operation",
        0,
        FunctionFlags::SQLITE_UTF8,
        move |_| Ok(flag.in_sync_operation()),
    )?;
    let flag = state.clone();
    conn.create_scalar_function(
        SET_SYNC_OPERATION_FN,
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY,
        move |ctx| Ok(flag.set_in_sync_operation(ctx.get::<bool>(0)?)),
    )?;
    functions::create_function(
        conn,
        "powersync_clear",
        1,
        Determinism::Volatile,
        move |conn, args| {
            let flags = match args.first() {
                Some(Value::Integer(flags)) => *flags,
                _ => {
                    return Err(Error::invalid_argument(
                        "powersync_clear expects integer flags",
                    ));
                }
            };
            if flags & CLEAR_SOFT != 0 && database.sync_iteration_active.load(Ordering::SeqCst) {
                // Same code as the reference core (and powersync_trigger_resync): 3091.
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(functions::SQLITE_CONSTRAINT_DATATYPE),
                    Some(
                        "Cannot clear or trigger resync while a sync iteration is active."
                            .to_owned(),
                    ),
                )
                .into());
            }
            let raw_clears = database
                .schema
                .current()
                .map(|s| raw_table_clears(&s))
                .unwrap_or_default();
            clear_with_raw_tables(conn, flags, &raw_clears)?;
            Ok(Value::Text(String::new()))
        },
    )?;
    Ok(state)
}

/// While alive, `powersync_in_sync_operation()` returns 1 on the connection and the CRUD vtabs
/// ignore inserts (sync apply must not enqueue uploads). Dropping it restores the previous value.
pub struct SyncOperationGuard<'c> {
    conn: &'c Connection,
    previous: bool,
}

impl<'c> SyncOperationGuard<'c> {
    /// Marks `conn` (which must have had [`register_functions`] called) as applying sync data.
    pub fn enter(conn: &'c Connection) -> Result<Self> {
        let previous = conn
            .prepare_cached(&format!("SELECT {SET_SYNC_OPERATION_FN}(1)"))?
            .query_row([], |r| r.get(0))?;
        Ok(Self { conn, previous })
    }
}

impl Drop for SyncOperationGuard<'_> {
    fn drop(&mut self) {
        // Restoring cannot fail unless the connection is gone, in which case the flag is moot.
        let _ = self
            .conn
            .prepare_cached(&format!("SELECT {SET_SYNC_OPERATION_FN}(?)"))
            .and_then(|mut stmt| stmt.query_row([self.previous], |r| r.get::<_, bool>(0)));
    }
}
