// SPDX-License-Identifier: Apache-2.0
//! The PowerSync storage format as a SQLite extension: internal-schema migrations, the app
//! schema (views and triggers over `ps_data__*`), the upload queue, `ps_kv` and the write
//! barrier's gate, and the sync state machine (`powersync_control`).
//!
//! This is the bottom layer of the crate (docs/adr/0005-layers.md): it works on a plain
//! `rusqlite::Connection` and knows nothing of connection pools, threads or the network, like
//! the reference core it replaces. [`register`] is its one composition root: it installs every
//! SQL function and virtual table on a connection, all sharing one [`DatabaseState`].

pub mod crud;
mod functions;
pub mod gate;
#[doc(hidden)]
pub mod hot_statements;
pub mod kv;
pub mod migrations;
pub mod schema;
mod state;
pub mod sync;

use std::sync::Arc;

use rusqlite::Connection;

use crate::Result;
pub use state::DatabaseState;

/// Prepared statements cached per connection.
const STATEMENT_CACHE_CAPACITY: usize = 256;

/// Installs every SQL function and virtual table of the storage format on `conn`. Every
/// connection to one database file gets the same `state`.
pub fn register(conn: &Connection, state: &Arc<DatabaseState>) -> Result<()> {
    // The sync engine, CRUD and status paths cycle through far more than rusqlite's default
    // 16 cached statements per request; with the default, every checkpoint re-prepares them
    // (measured: prepare was a fifth of the CPU time of `request_checkpoint` round trips).
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    migrations::register_functions(conn, state)?;
    schema::register_functions(conn, state.schema.clone())?;
    crud::register_functions(conn, state.clone())?;
    kv::register_functions(conn)?;
    gate::register_functions(conn)?;
    sync::register_functions(conn, state)?;
    Ok(())
}

/// Brings the internal schema of the database `conn` is open on up to date
/// (`powersync_init()`); runs inside the caller's write transaction.
pub fn migrate_to_latest(conn: &Connection) -> Result<()> {
    conn.query_row("SELECT powersync_init()", [], |_| Ok(()))?;
    Ok(())
}
