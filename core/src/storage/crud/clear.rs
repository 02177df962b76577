// SPDX-License-Identifier: Apache-2.0
//! `powersync_clear(flags)` (storage.md §4.1): wipe synced state, keep the client id.

use rusqlite::Connection;

use super::SyncOperationGuard;
use crate::Result;
use crate::storage::schema::{Schema, quote_identifier};

/// Flag bit: also empty local-only tables (`ps_data_local__*`).
pub const CLEAR_LOCAL: i64 = 1;
/// Flag bit: soft clear (keep `ps_oplog`/`ps_buckets`, reset `last_applied_op`).
pub const CLEAR_SOFT: i64 = 2;

/// Clears the database per storage.md §4.1, inside the caller's transaction.
///
/// The "no active sync iteration" check for soft clears is the sync engine's job (it knows about
/// iterations); it must check before calling this. `raw_table_clears` are the `clear` statements
/// of the schema's raw tables, which run with CRUD capture suppressed.
pub fn clear_with_raw_tables(
    conn: &Connection,
    flags: i64,
    raw_table_clears: &[String],
) -> Result<()> {
    crate::storage::functions::require_transaction(conn, "powersync_clear")?;
    if flags & CLEAR_SOFT != 0 {
        conn.execute_batch("UPDATE ps_buckets SET last_applied_op = 0")?;
    } else {
        conn.execute_batch("DELETE FROM ps_oplog; DELETE FROM ps_buckets;")?;
    }
    conn.execute_batch(
        "DELETE FROM ps_crud;
         DELETE FROM ps_untyped;
         DELETE FROM ps_updated_rows;
         DELETE FROM ps_kv WHERE key != 'client_id';
         DELETE FROM ps_sync_state;
         DELETE FROM ps_stream_subscriptions;",
    )?;

    let pattern = if flags & CLEAR_LOCAL != 0 {
        "ps_data_*"
    } else {
        "ps_data__*"
    };
    let tables: Vec<String> = {
        let mut stmt =
            conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB ?")?;
        let rows = stmt.query_map([pattern], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for table in tables {
        let quoted = quote_identifier(&table);
        // Delete one row first so update hooks see the table, then the rest in bulk.
        conn.execute_batch(&format!(
            "DELETE FROM {quoted} WHERE rowid IN (SELECT rowid FROM {quoted} LIMIT 1);
             DELETE FROM {quoted};"
        ))?;
    }

    if !raw_table_clears.is_empty() {
        let _guard = SyncOperationGuard::enter(conn)?;
        for sql in raw_table_clears {
            conn.execute_batch(sql)?;
        }
    }
    Ok(())
}

/// The `clear` statements of a schema's raw tables.
pub fn raw_table_clears(schema: &Schema) -> Vec<String> {
    schema
        .raw_tables
        .iter()
        .filter_map(|t| t.get("clear").and_then(|c| c.as_str()).map(str::to_string))
        .collect()
}

/// [`clear_with_raw_tables`] without raw tables.
pub fn clear(conn: &Connection, flags: i64) -> Result<()> {
    clear_with_raw_tables(conn, flags, &[])
}
