// SPDX-License-Identifier: Apache-2.0
//! Calls into the sans-network sync engine: thin blocking adapters over it (`db.state().sync`). Every call runs
//! in its own write transaction; callers run these on `spawn_blocking`.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::Database;
use crate::Result;

pub(crate) use crate::storage::sync::SyncEngine;
pub(crate) use crate::storage::sync::types::{
    CheckpointMode, CheckpointRequestTarget, CoreSyncStatus, Instruction, LogSeverity,
    StartSyncStream, SyncCommand,
};

fn engine(db: &Database) -> &SyncEngine {
    &db.state().sync
}

/// Microseconds since the epoch (the engine never reads the clock itself).
pub(crate) fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Sends one command to the engine.
pub(crate) fn control(db: &Database, command: SyncCommand) -> Result<Vec<Instruction>> {
    db.write(|tx| engine(db).control(tx.connection(), command, now_micros()))
}

/// Sends a batch of sync lines in one write transaction (see `SyncEngine::control_lines`).
pub(crate) fn control_lines(db: &Database, lines: &[SyncCommand]) -> Result<Vec<Instruction>> {
    db.write(|tx| engine(db).control_lines(tx.connection(), lines, now_micros()))
}

/// Stores the id the service accepted during the reconcile POST.
pub(crate) fn seed(db: &Database, id: i64) -> Result<i64> {
    db.write(|tx| engine(db).seed_checkpoint_request_id(tx.connection(), id))
}

/// Allocates `count` consecutive checkpoint request ids in one transaction (requires a
/// seeded iteration).
pub(crate) fn next_ids(db: &Database, count: usize) -> Result<Vec<i64>> {
    db.write(|tx| {
        (0..count)
            .map(|_| engine(db).next_checkpoint_request_id(tx.connection()))
            .collect()
    })
}

/// Reads the checkpoint request counter (the highest id allocated so far) without allocating.
/// Runs in a write transaction so it observes every committed allocation.
pub(crate) fn current_id(db: &Database) -> Result<Option<i64>> {
    db.write(|tx| engine(db).current_checkpoint_request_id(tx.connection()))
}

/// Sets the apply-gate target inside the caller's transaction.
pub(crate) fn set_target(db: &Database, conn: &rusqlite::Connection, id: i64) -> Result<()> {
    engine(db).target_checkpoint_request_id(conn, Some(id))?;
    Ok(())
}

/// Seeds with `id` only if it is above the current counter (concurrent allocations may
/// already have moved past it), then allocates the next id; one transaction.
pub(crate) fn seed_above_and_next(db: &Database, id: i64) -> Result<i64> {
    db.write(|tx| {
        let conn = tx.connection();
        let current = crate::storage::gate::last_requested(conn)?;
        if current.is_none_or(|c| c < id) {
            engine(db).seed_checkpoint_request_id(conn, id)?;
        }
        engine(db).next_checkpoint_request_id(conn)
    })
}
