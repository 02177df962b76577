// SPDX-License-Identifier: Apache-2.0
//! Reading the upload queue (`ps_crud`) and completing uploaded entries
//! (client-state-machine.md §6, storage.md §3.4).

use rusqlite::{Connection, OptionalExtension};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::storage::gate;
use crate::{Error, Result};

/// Whether local writes wait for upload (stops at the first row).
pub(crate) const CRUD_PENDING_SQL: &str = "SELECT EXISTS (SELECT 1 FROM ps_crud)";
pub(crate) const CRUD_BATCH_SQL: &str =
    "SELECT id, data, tx_id FROM ps_crud ORDER BY id ASC LIMIT ?";
pub(crate) const FIRST_CRUD_SQL: &str = "SELECT id, tx_id FROM ps_crud ORDER BY id ASC LIMIT 1";
/// The queued writes from id `?` on. `ps_crud` has no index on `tx_id`, so a transaction's
/// writes are read from its first id on until another transaction's begin: they have
/// consecutive ids (queued inside one SQLite write transaction).
pub(crate) const CRUD_FROM_SQL: &str =
    "SELECT id, data, tx_id FROM ps_crud WHERE id >= ? ORDER BY id ASC";
/// The first queued write after id `?`.
pub(crate) const CRUD_AFTER_SQL: &str =
    "SELECT id, tx_id FROM ps_crud WHERE id > ? ORDER BY id ASC LIMIT 1";
pub(crate) const CRUD_BY_ID_SQL: &str = "SELECT id, data, tx_id FROM ps_crud WHERE id = ?";
pub(crate) const DELETE_UPLOADED_SQL: &str = "DELETE FROM ps_crud WHERE id <= ?";
/// The id of the oldest queued write.
pub(crate) const FIRST_CRUD_ID_SQL: &str = "SELECT id FROM ps_crud ORDER BY id LIMIT 1";
/// The highest `ps_crud` id ever handed out (AUTOINCREMENT), to notice writes made meanwhile.
pub(crate) const CRUD_SEQUENCE_SQL: &str = "SELECT seq FROM sqlite_sequence WHERE name = 'ps_crud'";

/// The kind of a queued local write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateType {
    /// Insert or replace the whole row (`PUT`).
    Put,
    /// Update some columns (`PATCH`).
    Patch,
    /// Delete the row (`DELETE`).
    Delete,
}

impl UpdateType {
    /// The wire name: `PUT`, `PATCH` or `DELETE`.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateType::Put => "PUT",
            UpdateType::Patch => "PATCH",
            UpdateType::Delete => "DELETE",
        }
    }
}

/// One queued local write.
#[derive(Debug, Clone, PartialEq)]
pub struct CrudEntry {
    /// `ps_crud.id`, increasing in write order.
    pub client_id: i64,
    /// Local transaction id (`ps_crud.tx_id`).
    pub transaction_id: Option<i64>,
    /// What the write did.
    pub op: UpdateType,
    /// Table name (not the view name).
    pub table: String,
    /// Row id.
    pub id: String,
    /// PUT: all non-null columns; PATCH: changed columns (`null` = cleared).
    pub data: Option<Map<String, Value>>,
    /// Previous values when the table tracks them.
    pub previous_values: Option<Map<String, Value>>,
    /// Metadata when the table tracks it.
    pub metadata: Option<String>,
}

#[derive(Deserialize)]
struct StoredEntry {
    op: String,
    #[serde(rename = "type")]
    table: String,
    id: String,
    #[serde(default)]
    data: Option<Map<String, Value>>,
    #[serde(default)]
    old: Option<Map<String, Value>>,
    #[serde(default)]
    metadata: Option<String>,
}

impl CrudEntry {
    fn from_row(client_id: i64, transaction_id: Option<i64>, data: &str) -> Result<Self> {
        let stored: StoredEntry = serde_json::from_str(data)
            .map_err(|_| Error::storage(format!("ps_crud row {client_id} is not a valid entry")))?;
        let op = match stored.op.as_str() {
            "PUT" => UpdateType::Put,
            "PATCH" => UpdateType::Patch,
            "DELETE" => UpdateType::Delete,
            _ => {
                return Err(Error::storage(format!(
                    "ps_crud row {client_id} has an unknown op"
                )));
            }
        };
        Ok(Self {
            client_id,
            transaction_id,
            op,
            table: stored.table,
            id: stored.id,
            data: stored.data,
            previous_values: stored.old,
            metadata: stored.metadata,
        })
    }
}

/// A batch of queued writes, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct CrudBatch {
    /// The entries.
    pub entries: Vec<CrudEntry>,
    /// More entries are queued after these.
    pub has_more: bool,
}

/// All queued writes of one local transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct CrudTransaction {
    /// The local transaction id (`None` for entries written without one).
    pub transaction_id: Option<i64>,
    /// The entries, oldest first.
    pub entries: Vec<CrudEntry>,
}

/// Reads entries; with `only_tx`, stops at the first entry of another transaction.
fn read_entries(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    only_tx: Option<i64>,
) -> Result<Vec<CrudEntry>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, Option<i64>>(2)?,
        ))
    })?;
    let mut entries = Vec::new();
    for row in rows {
        let (id, data, tx_id) = row?;
        if only_tx.is_some_and(|tx| tx_id != Some(tx)) {
            break;
        }
        let data = data.ok_or_else(|| Error::storage(format!("ps_crud row {id} has no data")))?;
        entries.push(CrudEntry::from_row(id, tx_id, &data)?);
    }
    Ok(entries)
}

/// Up to `limit` queued writes, oldest first.
pub fn get_crud_batch(conn: &Connection, limit: usize) -> Result<Option<CrudBatch>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX).max(1);
    let mut entries = read_entries(conn, CRUD_BATCH_SQL, [limit.saturating_add(1)], None)?;
    if entries.is_empty() {
        return Ok(None);
    }
    let has_more = entries.len() as i64 > limit;
    entries.truncate(limit as usize);
    Ok(Some(CrudBatch { entries, has_more }))
}

/// All writes of the oldest queued transaction.
pub fn get_next_crud_transaction(conn: &Connection) -> Result<Option<CrudTransaction>> {
    let first: Option<(i64, Option<i64>)> = conn
        .prepare_cached(FIRST_CRUD_SQL)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    transaction_starting_at(conn, first)
}

/// The queued local transaction after the one whose last write is `after_client_id`, to walk
/// the whole queue without completing anything (the SDKs' `crud_transactions()`).
pub fn get_crud_transaction_after(
    conn: &Connection,
    after_client_id: i64,
) -> Result<Option<CrudTransaction>> {
    let first: Option<(i64, Option<i64>)> = conn
        .prepare_cached(CRUD_AFTER_SQL)?
        .query_row([after_client_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    transaction_starting_at(conn, first)
}

/// The id of the oldest queued write; the upload loop compares it between rounds to notice
/// an `upload_data` that completed nothing.
pub fn first_crud_id(conn: &Connection) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(FIRST_CRUD_ID_SQL)?
        .query_row([], |r| r.get(0))
        .optional()?)
}

/// The highest `ps_crud` id ever handed out; unchanged between two reads means no write was
/// queued in between, even if the queue was emptied meanwhile.
pub fn crud_sequence(conn: &Connection) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(CRUD_SEQUENCE_SQL)?
        .query_row([], |r| r.get(0))
        .optional()?)
}

/// Whether any write is queued for upload.
pub fn has_pending_crud(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare_cached(CRUD_PENDING_SQL)?
        .query_row([], |r| r.get(0))?)
}

/// Size of the upload queue (the SDKs' `upload_queue_stats()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UploadQueueStats {
    /// Queued writes.
    pub count: u64,
    /// Bytes of their data (the JSON documents in `ps_crud`).
    pub size_bytes: u64,
}

/// The queue's size, read in one statement.
const UPLOAD_QUEUE_STATS_SQL: &str = "SELECT count(*), coalesce(sum(length(data)), 0) FROM ps_crud";

/// Counts the queued writes and the bytes of their data.
pub fn upload_queue_stats(conn: &Connection) -> Result<UploadQueueStats> {
    let (count, size): (i64, i64) = conn
        .prepare_cached(UPLOAD_QUEUE_STATS_SQL)?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(UploadQueueStats {
        count: u64::try_from(count).unwrap_or(0),
        size_bytes: u64::try_from(size).unwrap_or(0),
    })
}

/// The transaction whose first write is `first` (`(id, tx_id)`), if any.
fn transaction_starting_at(
    conn: &Connection,
    first: Option<(i64, Option<i64>)>,
) -> Result<Option<CrudTransaction>> {
    let Some((first_id, tx_id)) = first else {
        return Ok(None);
    };
    let entries = match tx_id {
        Some(tx) => read_entries(conn, CRUD_FROM_SQL, [first_id], Some(tx))?,
        None => read_entries(conn, CRUD_BY_ID_SQL, [first_id], None)?,
    };
    Ok(Some(CrudTransaction {
        transaction_id: tx_id,
        entries,
    }))
}

/// Removes uploaded entries up to `last_client_id` and sets the apply-gate target
/// (client-state-machine.md §6): `write_checkpoint` when the queue is now empty, else
/// `MAX_OP_ID`. Must run inside a write transaction.
pub fn complete_upload(
    conn: &Connection,
    last_client_id: i64,
    write_checkpoint: Option<i64>,
) -> Result<()> {
    crate::storage::functions::require_transaction(conn, "complete_upload")?;
    conn.prepare_cached(DELETE_UPLOADED_SQL)?
        .execute([last_client_id])?;
    let pending: bool = conn
        .prepare_cached(CRUD_PENDING_SQL)?
        .query_row([], |r| r.get(0))?;
    let target = match write_checkpoint {
        Some(wc) if !pending => wc,
        _ => gate::MAX_OP_ID,
    };
    gate::set_target(conn, Some(target))?;
    Ok(())
}

impl CrudBatch {
    /// Marks the batch uploaded; see [`complete_upload`].
    pub fn complete(&self, conn: &Connection, write_checkpoint: Option<i64>) -> Result<()> {
        match self.entries.last() {
            Some(last) => complete_upload(conn, last.client_id, write_checkpoint),
            None => Ok(()),
        }
    }
}

impl CrudTransaction {
    /// Marks the transaction uploaded; see [`complete_upload`].
    pub fn complete(&self, conn: &Connection, write_checkpoint: Option<i64>) -> Result<()> {
        match self.entries.last() {
            Some(last) => complete_upload(conn, last.client_id, write_checkpoint),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_every_documented_key() {
        let entry = CrudEntry::from_row(
            7,
            Some(3),
            r#"{"op":"PATCH","id":"t1","type":"todos","data":{"done":1},"old":{"done":0},"metadata":"m"}"#,
        )
        .expect("valid");
        assert_eq!(entry.op, UpdateType::Patch);
        assert_eq!(entry.table, "todos");
        assert_eq!(entry.previous_values.expect("old")["done"], 0);
        assert_eq!(entry.metadata.as_deref(), Some("m"));
    }

    #[test]
    fn corrupt_rows_are_reported_without_their_content() {
        for data in [
            r#"{"op":"MERGE","id":"secret","type":"t"}"#,
            "not json secret",
        ] {
            let err = CrudEntry::from_row(9, None, data).expect_err("rejected");
            let msg = err.to_string();
            assert!(msg.contains("ps_crud row 9"), "{msg}");
            assert!(!msg.contains("secret"), "{msg}");
        }
    }
}
