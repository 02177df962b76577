// SPDX-License-Identifier: Apache-2.0
//! [`Database`]: a PowerSync-format SQLite database, the composition of the connection pool
//! ([`crate::db`]) with the storage format ([`crate::storage`]).
//!
//! Every connection the pool opens gets the storage format's SQL functions, all sharing one
//! [`DatabaseState`]; opening runs the internal-schema migrations (`powersync_init()`) once, in
//! a write transaction. Everything else — reads, writes, transactions, listeners, closing —
//! is the pool's, reached through `Deref`.

use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use rusqlite::Connection;

use crate::Result;
use crate::db::{ConnectionInitializer, OpenOptions, Pool};
use crate::storage::{self, DatabaseState, schema::Schema};

/// A PowerSync-format SQLite database. Cheap to clone; clones share the connections.
#[derive(Clone, Debug)]
pub struct Database {
    pool: Pool,
    state: Arc<DatabaseState>,
}

/// Installs the storage format on each connection the pool opens.
struct StorageInitializer<'a> {
    state: &'a Arc<DatabaseState>,
}

impl ConnectionInitializer for StorageInitializer<'_> {
    fn init_connection(&self, conn: &Connection) -> Result<()> {
        storage::register(conn, self.state)
    }

    fn init_database(&self, conn: &Connection) -> Result<()> {
        storage::migrate_to_latest(conn)
    }
}

impl Database {
    /// Opens (or creates) the database file at `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, OpenOptions::default())
    }

    /// Opens (or creates) the database file at `path`.
    ///
    /// A file that is not a SQLite database, or whose schema cannot be read, is rejected with
    /// a storage error before anything is written to it.
    pub fn open_with(path: impl AsRef<Path>, options: OpenOptions) -> Result<Self> {
        let state = Arc::new(DatabaseState::new());
        let pool = Pool::open(path, options, &StorageInitializer { state: &state })?;
        Ok(Database { pool, state })
    }

    /// Opens a new, empty in-memory database with default options.
    pub fn open_in_memory() -> Result<Self> {
        Self::open_in_memory_with(OpenOptions::default())
    }

    /// Opens a new, empty in-memory database; see [`Pool::open_in_memory`] for how reads
    /// and writes share it.
    pub fn open_in_memory_with(options: OpenOptions) -> Result<Self> {
        let state = Arc::new(DatabaseState::new());
        let pool = Pool::open_in_memory(options, &StorageInitializer { state: &state })?;
        Ok(Database { pool, state })
    }

    /// State shared by this database's connections and SQL functions (the schema and the
    /// sync state machine).
    pub fn state(&self) -> &Arc<DatabaseState> {
        &self.state
    }

    /// Replaces the app schema (views, triggers, indexes; rows of dropped tables move to
    /// `ps_untyped`) in one write transaction, and remembers it for the sync engine.
    pub fn update_schema(&self, schema: Schema) -> Result<()> {
        self.pool
            .write(|tx| self.state.schema.replace(tx.connection(), schema))
    }
}

impl Deref for Database {
    type Target = Pool;

    fn deref(&self) -> &Pool {
        &self.pool
    }
}

#[cfg(test)]
mod tests;
