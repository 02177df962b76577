// SPDX-License-Identifier: Apache-2.0
//! Oplog storage: applying data lines to `ps_oplog`/`ps_buckets` (sync-protocol.md §5),
//! deleting buckets (§7) and progress counters (§8). Every statement is a cached prepared
//! statement; op data is stored verbatim.

use rusqlite::{Connection, OptionalExtension, params};

use super::line::{DataLine, OpType};
use crate::Result;

const U32_MASK: i64 = 0xffff_ffff;

/// Stores the ops of one data line. `line_size` is the byte length of the raw line.
/// Returns the number of ops stored.
pub fn store_data_line(conn: &Connection, line: &DataLine<'_>, line_size: usize) -> Result<i64> {
    let bucket = line.bucket.as_ref();
    conn.prepare_cached("INSERT INTO ps_buckets(name) VALUES (?1) ON CONFLICT(name) DO NOTHING")?
        .execute([bucket])?;
    let (bucket_id, last_applied_op): (i64, i64) = conn
        .prepare_cached("SELECT id, last_applied_op FROM ps_buckets WHERE name = ?1")?
        .query_row([bucket], |r| Ok((r.get(0)?, r.get(1)?)))?;

    // Look up superseded ops with a plain index SELECT and delete them by rowid: during an
    // initial sync the lookup almost never finds anything, and a SELECT is much cheaper than a
    // DELETE … RETURNING that finds nothing.
    let mut find_superseded = conn.prepare_cached(
        "SELECT rowid, hash FROM ps_oplog INDEXED BY ps_oplog_key WHERE bucket = ?1 AND key = ?2",
    )?;
    let mut delete_by_rowid = conn.prepare_cached("DELETE FROM ps_oplog WHERE rowid = ?1")?;
    let mut superseded_rows: Vec<i64> = Vec::new();
    let mut insert = conn.prepare_cached(
        "INSERT INTO ps_oplog(bucket, op_id, key, row_type, row_id, data, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut mark_updated = conn.prepare_cached(
        "INSERT OR IGNORE INTO ps_updated_rows(row_type, row_id) VALUES (?1, ?2)",
    )?;

    // Checksum deltas (wrapping u32) and whether a CLEAR reset the stored values.
    let mut add_delta: u32 = 0;
    let mut op_delta: u32 = 0;
    let mut cleared = false;
    // Initial-sync optimisation: nothing of this bucket is published yet.
    let mut bucket_empty = last_applied_op == 0;
    let mut last_op: Option<i64> = None;
    let mut key_buffer = String::new();

    for op in &line.data {
        last_op = Some(op.op_id);
        match op.op {
            OpType::Put | OpType::Remove => {
                let key = match (&op.object_type, &op.object_id) {
                    (Some(t), Some(id)) => {
                        key_buffer.clear();
                        key_buffer.push_str(t);
                        key_buffer.push('/');
                        key_buffer.push_str(id);
                        key_buffer.push('/');
                        key_buffer.push_str(op.subkey.as_deref().unwrap_or("null"));
                        Some(key_buffer.as_str())
                    }
                    _ => None,
                };
                let mut superseded_any = false;
                if let Some(key) = key {
                    superseded_rows.clear();
                    let mut rows = find_superseded.query(params![bucket_id, key])?;
                    while let Some(row) = rows.next()? {
                        superseded_rows.push(row.get(0)?);
                        let hash: i64 = row.get(1)?;
                        let hash = hash as u32;
                        add_delta = add_delta.wrapping_add(hash);
                        op_delta = op_delta.wrapping_sub(hash);
                        superseded_any = true;
                    }
                    drop(rows);
                    for rowid in &superseded_rows {
                        delete_by_rowid.execute([rowid])?;
                    }
                }
                if op.op == OpType::Put {
                    insert.execute(params![
                        bucket_id,
                        op.op_id,
                        key,
                        op.object_type.as_deref(),
                        op.object_id.as_deref(),
                        op.data.as_deref(),
                        i64::from(op.checksum as i32),
                    ])?;
                    op_delta = op_delta.wrapping_add(op.checksum);
                } else {
                    add_delta = add_delta.wrapping_add(op.checksum);
                    if let (true, false, Some(t), Some(id)) =
                        (superseded_any, bucket_empty, &op.object_type, &op.object_id)
                    {
                        mark_updated.execute(params![t.as_ref(), id.as_ref()])?;
                    }
                }
            }
            OpType::Move => add_delta = add_delta.wrapping_add(op.checksum),
            OpType::Clear => {
                conn.prepare_cached(
                    "INSERT OR IGNORE INTO ps_updated_rows(row_type, row_id)
                     SELECT row_type, row_id FROM ps_oplog
                     WHERE bucket = ?1 AND row_type IS NOT NULL AND row_id IS NOT NULL",
                )?
                .execute([bucket_id])?;
                conn.prepare_cached("DELETE FROM ps_oplog WHERE bucket = ?1")?
                    .execute([bucket_id])?;
                cleared = true;
                bucket_empty = true;
                add_delta = op.checksum;
                op_delta = 0;
            }
        }
    }

    let count = i64::try_from(line.data.len()).unwrap_or(i64::MAX);
    let size = i64::try_from(line_size).unwrap_or(i64::MAX);
    conn.prepare_cached(
        "UPDATE ps_buckets SET
           last_op = coalesce(?2, last_op),
           add_checksum = ((CASE WHEN ?3 THEN 0 ELSE add_checksum END) + ?4) & ?8,
           op_checksum = ((CASE WHEN ?3 THEN 0 ELSE op_checksum END) + ?5) & ?8,
           last_applied_op = CASE WHEN ?3 THEN 0 ELSE last_applied_op END,
           count_since_last = count_since_last + ?6,
           downloaded_size = downloaded_size + ?7
         WHERE id = ?1",
    )?
    .execute(params![
        bucket_id,
        last_op,
        cleared,
        i64::from(add_delta),
        i64::from(op_delta),
        count,
        size,
        U32_MASK
    ])?;
    Ok(count)
}

/// Deletes a bucket: its rows go to `ps_updated_rows`, its ops and row are removed.
pub fn delete_bucket(conn: &Connection, name: &str) -> Result<()> {
    let id: Option<i64> = conn
        .prepare_cached("SELECT id FROM ps_buckets WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?;
    let Some(id) = id else {
        return Ok(());
    };
    conn.prepare_cached(
        "INSERT OR IGNORE INTO ps_updated_rows(row_type, row_id)
         SELECT row_type, row_id FROM ps_oplog
         WHERE bucket = ?1 AND row_type IS NOT NULL AND row_id IS NOT NULL",
    )?
    .execute([id])?;
    conn.prepare_cached("DELETE FROM ps_oplog WHERE bucket = ?1")?
        .execute([id])?;
    conn.prepare_cached("DELETE FROM ps_buckets WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// Names of every bucket the request lists (`pending_delete = 0`) with its `last_op`.
pub fn requested_buckets(conn: &Connection) -> Result<Vec<(String, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, last_op FROM ps_buckets WHERE pending_delete = 0 AND name != '$local' ORDER BY id",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Stored checksum of a bucket: `(add, op)`; `(0, 0)` when it has no row.
pub fn stored_checksums(conn: &Connection, name: &str) -> Result<(u32, u32)> {
    let row: Option<(i64, i64)> = conn
        .prepare_cached("SELECT add_checksum, op_checksum FROM ps_buckets WHERE name = ?1")?
        .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.map_or((0, 0), |(add, op)| (add as u32, op as u32)))
}

/// Persisted progress counters `(count_at_last, count_since_last)`; zeros when unknown.
pub fn progress_counters(conn: &Connection, name: &str) -> Result<(i64, i64)> {
    Ok(conn
        .prepare_cached("SELECT count_at_last, count_since_last FROM ps_buckets WHERE name = ?1")?
        .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or((0, 0)))
}

/// Resets every bucket's progress counters (a bucket shrank).
pub fn reset_progress_counters(conn: &Connection) -> Result<()> {
    conn.prepare_cached("UPDATE ps_buckets SET count_at_last = 0, count_since_last = 0")?
        .execute([])?;
    Ok(())
}
