// SPDX-License-Identifier: Apache-2.0
//! Bucket storage kept in the source database file, so that a service restarted on the same
//! file continues where the killed one stopped: the same op ids (clients resume with their
//! `after` positions, no checksum failures), the same write-checkpoint records (a checkpoint
//! request answered before the restart still resolves after it) and the same replication
//! position. The real PowerSync service keeps all of this in its bucket storage.
//!
//! Only for a service started with a database file; the in-memory source has nothing to
//! survive. Journalled store changes are written in the caller's transaction (replication
//! writes them in the one that takes the changes off `_psync_changes`).

use crate::store::{Op, OpKind, Persisted, Store, WriteCheckpoint};
use rusqlite::{Connection, OptionalExtension, params};

const TABLES: &str = "
    CREATE TABLE IF NOT EXISTS _psync_ops(
        op_id INTEGER PRIMARY KEY, bucket TEXT NOT NULL, definition INTEGER NOT NULL,
        kind TEXT NOT NULL, object_type TEXT NOT NULL, object_id TEXT NOT NULL,
        data TEXT, checksum INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS _psync_write_checkpoints(
        user_id TEXT NOT NULL, client_id TEXT NOT NULL, id INTEGER NOT NULL,
        source_position INTEGER NOT NULL, PRIMARY KEY (user_id, client_id));
    CREATE TABLE IF NOT EXISTS _psync_state(key TEXT PRIMARY KEY, value INTEGER NOT NULL);";

fn kind_name(kind: OpKind) -> &'static str {
    match kind {
        OpKind::Put => "PUT",
        OpKind::Remove => "REMOVE",
        OpKind::Move => "MOVE",
    }
}

fn kind_of(name: &str) -> OpKind {
    match name {
        "PUT" => OpKind::Put,
        "REMOVE" => OpKind::Remove,
        _ => OpKind::Move,
    }
}

/// Creates the tables; returns the stored store if an earlier run left one.
pub fn load(conn: &Connection) -> rusqlite::Result<Option<Store>> {
    conn.execute_batch(TABLES)?;
    let position: Option<i64> = conn
        .query_row(
            "SELECT value FROM _psync_state WHERE key = 'replicated_position'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let Some(position) = position else {
        return Ok(None);
    };
    let mut store = Store::journalled(true);
    let mut ops = conn.prepare(
        "SELECT op_id, bucket, definition, kind, object_type, object_id, data, checksum
         FROM _psync_ops ORDER BY op_id",
    )?;
    let mut rows = ops.query([])?;
    while let Some(row) = rows.next()? {
        let bucket: String = row.get(1)?;
        let definition: i64 = row.get(2)?;
        let op = Op {
            op_id: row.get(0)?,
            kind: kind_of(&row.get::<_, String>(3)?),
            object_type: row.get(4)?,
            object_id: row.get(5)?,
            data: row.get(6)?,
            checksum: row.get(7)?,
        };
        store.restore_op(&bucket, usize::try_from(definition).unwrap_or(0), op);
    }
    let mut checkpoints = conn
        .prepare("SELECT user_id, client_id, id, source_position FROM _psync_write_checkpoints")?;
    let mut rows = checkpoints.query([])?;
    while let Some(row) = rows.next()? {
        let wc = WriteCheckpoint {
            id: row.get(2)?,
            source_position: row.get(3)?,
        };
        store.restore_write_checkpoint(&row.get::<_, String>(0)?, &row.get::<_, String>(1)?, wc);
    }
    store.replicated_position = position;
    Ok(Some(store))
}

/// Writes the store's journal (and empties it). Run inside a transaction.
pub fn flush(conn: &Connection, store: &mut Store) -> rusqlite::Result<()> {
    let Some(journal) = store.journal.as_mut() else {
        return Ok(());
    };
    for change in std::mem::take(journal) {
        match change {
            Persisted::Op {
                bucket,
                definition,
                op,
            } => {
                conn.prepare_cached(
                    "INSERT INTO _psync_ops(op_id, bucket, definition, kind, object_type,
                     object_id, data, checksum) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                )?
                .execute(params![
                    op.op_id,
                    bucket,
                    i64::try_from(definition).unwrap_or(0),
                    kind_name(op.kind),
                    op.object_type,
                    op.object_id,
                    op.data,
                    op.checksum
                ])?;
            }
            Persisted::Moved(op_id) => {
                conn.execute(
                    "UPDATE _psync_ops SET kind = 'MOVE', object_type = '', object_id = '',
                     data = NULL WHERE op_id = ?",
                    [op_id],
                )?;
            }
            Persisted::WriteCheckpoint(user, client, wc) => {
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO _psync_write_checkpoints VALUES (?, ?, ?, ?)",
                )?
                .execute(params![user, client, wc.id, wc.source_position])?;
            }
            Persisted::Forgot(Some(client)) => {
                conn.execute(
                    "DELETE FROM _psync_write_checkpoints WHERE client_id = ?",
                    [client],
                )?;
            }
            Persisted::Forgot(None) => {
                conn.execute("DELETE FROM _psync_write_checkpoints", [])?;
            }
            Persisted::ReplicatedPosition(position) => {
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO _psync_state VALUES ('replicated_position', ?)",
                )?
                .execute([position])?;
            }
        }
    }
    Ok(())
}
