// SPDX-License-Identifier: Apache-2.0
//! Differential-testing support: loads the real PowerSync SQLite core 0.5.3 (the reference)
//! into rusqlite, replays language-neutral command sequences (`tests/sequences/*.json`) into
//! the reference and into our core, and compares what both return and store.
//!
//! Loading the real cores is shared test support (`psync_test_support::reference`, also used
//! by psync-core's schema tests) and re-exported here.

pub mod allowed;
pub mod fixtures;
pub mod generator;
pub mod matcher;
pub mod normalise;
pub mod runner;
pub mod sequence;
pub mod snapshot;
pub mod synthetic;

use std::path::Path;
use std::sync::Arc;

use rusqlite::Connection;

pub use psync_test_support::engine::DatabaseState;
pub use psync_test_support::reference::*;

/// Opens the database at `path` with our core's SQL functions registered.
pub fn open_ours(path: impl AsRef<Path>) -> rusqlite::Result<(Connection, Arc<DatabaseState>)> {
    let db = psync_test_support::engine::register(Connection::open(path)?);
    Ok((db.conn, db.state))
}
