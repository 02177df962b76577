// SPDX-License-Identifier: Apache-2.0
//! Oplog storage: applying data lines to `ps_oplog`/`ps_buckets` (sync-protocol.md §5),
//! deleting buckets (§7) and progress counters (§8). Every statement is a cached prepared
//! statement; op data is stored verbatim.

use rusqlite::{Connection, OptionalExtension, params};

use super::line::{DataLine, OpType, OplogEntry};
use super::new_keys::NewKeyFilters;
use crate::Result;

const U32_MASK: i64 = 0xffff_ffff;

/// Adds a run of data lines' counters and checksum deltas to a bucket (`?3`: a CLEAR reset it).
pub(crate) const UPDATE_BUCKET_SQL: &str = "UPDATE ps_buckets SET
   last_op = coalesce(?2, last_op),
   add_checksum = ((CASE WHEN ?3 THEN 0 ELSE add_checksum END) + ?4) & ?8,
   op_checksum = ((CASE WHEN ?3 THEN 0 ELSE op_checksum END) + ?5) & ?8,
   last_applied_op = CASE WHEN ?3 THEN 0 ELSE last_applied_op END,
   count_since_last = count_since_last + ?6,
   downloaded_size = downloaded_size + ?7
 WHERE id = ?1";
pub(crate) const INSERT_BUCKET_SQL: &str =
    "INSERT INTO ps_buckets(name) VALUES (?1) ON CONFLICT(name) DO NOTHING";
pub(crate) const BUCKET_BY_NAME_SQL: &str =
    "SELECT id, last_applied_op FROM ps_buckets WHERE name = ?1";
/// Marks every row of a bucket for re-evaluation (CLEAR, bucket deletion).
pub(crate) const MARK_BUCKET_ROWS_SQL: &str =
    "INSERT OR IGNORE INTO ps_updated_rows(row_type, row_id)
 SELECT row_type, row_id FROM ps_oplog
 WHERE bucket = ?1 AND row_type IS NOT NULL AND row_id IS NOT NULL";
pub(crate) const DELETE_BUCKET_OPS_SQL: &str = "DELETE FROM ps_oplog WHERE bucket = ?1";
pub(crate) const SUPERSEDED_OPS_SQL: &str =
    "SELECT rowid, hash FROM ps_oplog WHERE bucket = ?1 AND key = ?2";
pub(crate) const DELETE_OP_SQL: &str = "DELETE FROM ps_oplog WHERE rowid = ?1";
pub(crate) const INSERT_OP_SQL: &str =
    "INSERT INTO ps_oplog(bucket, op_id, key, row_type, row_id, data, hash)
 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
/// Marks one row for re-evaluation at the next apply (also used by local writes).
pub(crate) const MARK_ROW_SQL: &str =
    "INSERT OR IGNORE INTO ps_updated_rows(row_type, row_id) VALUES (?1, ?2)";
pub(crate) const BUCKET_ID_SQL: &str = "SELECT id FROM ps_buckets WHERE name = ?1";
pub(crate) const DELETE_BUCKET_SQL: &str = "DELETE FROM ps_buckets WHERE id = ?1";
pub(crate) const REQUESTED_BUCKETS_SQL: &str = "SELECT name, last_op FROM ps_buckets
 WHERE pending_delete = 0 AND name != '$local' ORDER BY id";
pub(crate) const STORED_CHECKSUMS_SQL: &str =
    "SELECT add_checksum, op_checksum FROM ps_buckets WHERE name = ?1";
pub(crate) const PROGRESS_COUNTERS_SQL: &str =
    "SELECT count_at_last, count_since_last FROM ps_buckets WHERE name = ?1";
pub(crate) const RESET_PROGRESS_SQL: &str =
    "UPDATE ps_buckets SET count_at_last = 0, count_since_last = 0";

/// Stores the ops of one data line. `line_size` is the byte length of the raw line.
/// Returns the number of ops stored.
pub fn store_data_line(
    conn: &Connection,
    line: &DataLine<'_>,
    line_size: usize,
    filters: &mut NewKeyFilters,
    expected_keys: &dyn Fn(&str) -> Option<i64>,
) -> Result<i64> {
    store_data_lines(conn, &[(line, line_size)], filters, expected_keys)?;
    Ok(op_count(line))
}

/// Number of ops in a data line (what progress counts).
pub fn op_count(line: &DataLine<'_>) -> i64 {
    i64::try_from(line.data.len()).unwrap_or(i64::MAX)
}

/// Per-bucket bookkeeping while storing a run of data lines.
struct BucketWrite<'a> {
    name: &'a str,
    id: i64,
    /// Nothing of this bucket is published yet (initial-sync optimisation: a superseded
    /// REMOVE needs no `ps_updated_rows` entry).
    unpublished: bool,
    /// Checksum deltas (wrapping u32) and whether a CLEAR reset the stored values.
    add_delta: u32,
    op_delta: u32,
    cleared: bool,
    /// Op id of the last op of the last line (lines are in ascending op id order).
    last_op: Option<i64>,
    count: i64,
    size: i64,
}

/// An op waiting to be written, with its oplog key (`type/id/subkey`).
struct PendingOp<'l, 'a> {
    bucket: usize,
    key: Option<String>,
    op: &'l OplogEntry<'a>,
}

/// Stores the ops of consecutive data lines (`(line, byte size)`, in stream order) with the
/// same result as storing them one by one: ops of the same bucket and key keep their
/// relative order, and a CLEAR is applied exactly where it occurs.
///
/// Between CLEARs the ops are written sorted by bucket and key. The three `ps_oplog`
/// indexes are keyed by `(bucket, key)`, `(row_type, row_id)` and `(bucket, op_id)`, so
/// sorted inserts walk the first two in order instead of touching a random leaf page per op
/// (which is what makes large initial syncs slow once the indexes outgrow the page cache),
/// and the bulk apply later reads the rows back in nearly sequential rowid order.
///
/// `filters` remembers which keys each bucket may hold (see `new_keys`); `expected_keys`
/// gives a bucket's op count from the checkpoint, to size a new filter.
pub fn store_data_lines(
    conn: &Connection,
    lines: &[(&DataLine<'_>, usize)],
    filters: &mut NewKeyFilters,
    expected_keys: &dyn Fn(&str) -> Option<i64>,
) -> Result<()> {
    let mut buckets: Vec<BucketWrite<'_>> = Vec::new();
    let mut pending: Vec<PendingOp<'_, '_>> = Vec::new();
    for (line, size) in lines {
        let slot = bucket_slot(conn, &mut buckets, line.bucket.as_ref())?;
        let bucket = &mut buckets[slot];
        bucket.count += op_count(line);
        bucket.size += i64::try_from(*size).unwrap_or(i64::MAX);
        if let Some(last) = line.data.last() {
            bucket.last_op = Some(last.op_id);
        }
        for op in &line.data {
            match op.op {
                OpType::Clear => {
                    write_sorted(conn, &mut buckets, &mut pending, filters, expected_keys)?;
                    clear_bucket(conn, &mut buckets[slot], op.checksum)?;
                }
                OpType::Move => {
                    let bucket = &mut buckets[slot];
                    bucket.add_delta = bucket.add_delta.wrapping_add(op.checksum);
                }
                OpType::Put | OpType::Remove => pending.push(PendingOp {
                    bucket: slot,
                    key: oplog_key(op),
                    op,
                }),
            }
        }
    }
    write_sorted(conn, &mut buckets, &mut pending, filters, expected_keys)?;
    let mut update = conn.prepare_cached(UPDATE_BUCKET_SQL)?;
    for b in &buckets {
        update.execute(params![
            b.id,
            b.last_op,
            b.cleared,
            i64::from(b.add_delta),
            i64::from(b.op_delta),
            b.count,
            b.size,
            U32_MASK
        ])?;
    }
    Ok(())
}

/// The index of `name` in `buckets`, creating the bucket row on first sight.
fn bucket_slot<'a>(
    conn: &Connection,
    buckets: &mut Vec<BucketWrite<'a>>,
    name: &'a str,
) -> Result<usize> {
    if let Some(slot) = buckets.iter().position(|b| b.name == name) {
        return Ok(slot);
    }
    conn.prepare_cached(INSERT_BUCKET_SQL)?.execute([name])?;
    let (id, last_applied_op): (i64, i64) = conn
        .prepare_cached(BUCKET_BY_NAME_SQL)?
        .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))?;
    buckets.push(BucketWrite {
        name,
        id,
        unpublished: last_applied_op == 0,
        add_delta: 0,
        op_delta: 0,
        cleared: false,
        last_op: None,
        count: 0,
        size: 0,
    });
    Ok(buckets.len() - 1)
}

/// `type/id/subkey` (subkey `null` when absent), or `None` for an op without a row.
fn oplog_key(op: &OplogEntry<'_>) -> Option<String> {
    let (t, id) = (op.object_type.as_deref()?, op.object_id.as_deref()?);
    let subkey = op.subkey.as_deref().unwrap_or("null");
    let mut key = String::with_capacity(t.len() + id.len() + subkey.len() + 2);
    key.push_str(t);
    key.push('/');
    key.push_str(id);
    key.push('/');
    key.push_str(subkey);
    Some(key)
}

/// CLEAR: every row of the bucket is re-evaluated at the next apply and its ops go away;
/// the bucket's checksum restarts from the CLEAR op's.
fn clear_bucket(conn: &Connection, bucket: &mut BucketWrite<'_>, checksum: u32) -> Result<()> {
    conn.prepare_cached(MARK_BUCKET_ROWS_SQL)?
        .execute([bucket.id])?;
    conn.prepare_cached(DELETE_BUCKET_OPS_SQL)?
        .execute([bucket.id])?;
    bucket.cleared = true;
    bucket.unpublished = true;
    bucket.add_delta = checksum;
    bucket.op_delta = 0;
    Ok(())
}

/// Writes the pending PUT/REMOVE ops sorted by (bucket, key), stable so that ops of one key
/// stay in stream order; each op first removes the ops it supersedes (same bucket and key).
fn write_sorted(
    conn: &Connection,
    buckets: &mut [BucketWrite<'_>],
    pending: &mut Vec<PendingOp<'_, '_>>,
    filters: &mut NewKeyFilters,
    expected_keys: &dyn Fn(&str) -> Option<i64>,
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    pending.sort_by(|a, b| (a.bucket, &a.key).cmp(&(b.bucket, &b.key)));
    // A plain lookup (then a rowid delete only when something matched) is much cheaper than
    // DELETE … RETURNING, and during an initial sync nothing matches.
    let mut superseded = conn.prepare_cached(SUPERSEDED_OPS_SQL)?;
    let mut delete_op = conn.prepare_cached(DELETE_OP_SQL)?;
    let mut insert = conn.prepare_cached(INSERT_OP_SQL)?;
    let mut mark_updated = conn.prepare_cached(MARK_ROW_SQL)?;
    let mut superseded_rows: Vec<i64> = Vec::new();
    for PendingOp { bucket, key, op } in pending.drain(..) {
        let b = &mut buckets[bucket];
        let name = b.name;
        let mut filter = filters.for_bucket(conn, b.id, || expected_keys(name))?;
        let mut superseded_any = false;
        let maybe_stored = match (&key, &filter) {
            (Some(key), Some(filter)) => filter.may_contain(key),
            _ => true,
        };
        if let (Some(key), true) = (&key, maybe_stored) {
            superseded_rows.clear();
            let mut rows = superseded.query(params![b.id, key])?;
            while let Some(row) = rows.next()? {
                superseded_rows.push(row.get(0)?);
                let hash = row.get::<_, i64>(1)? as u32;
                b.add_delta = b.add_delta.wrapping_add(hash);
                b.op_delta = b.op_delta.wrapping_sub(hash);
                superseded_any = true;
            }
            drop(rows);
            for rowid in &superseded_rows {
                delete_op.execute([rowid])?;
            }
        }
        if op.op == OpType::Put {
            if let (Some(key), Some(filter)) = (&key, filter.as_mut()) {
                filter.insert(key);
            }
            insert.execute(params![
                b.id,
                op.op_id,
                key,
                op.object_type.as_deref(),
                op.object_id.as_deref(),
                op.data.as_deref(),
                i64::from(op.checksum as i32),
            ])?;
            b.op_delta = b.op_delta.wrapping_add(op.checksum);
        } else {
            b.add_delta = b.add_delta.wrapping_add(op.checksum);
            if let (true, false, Some(t), Some(id)) = (
                superseded_any,
                b.unpublished,
                &op.object_type,
                &op.object_id,
            ) {
                mark_updated.execute(params![t.as_ref(), id.as_ref()])?;
            }
        }
    }
    Ok(())
}

/// Deletes a bucket: its rows go to `ps_updated_rows`, its ops and row are removed.
pub fn delete_bucket(conn: &Connection, name: &str) -> Result<()> {
    let id: Option<i64> = conn
        .prepare_cached(BUCKET_ID_SQL)?
        .query_row([name], |r| r.get(0))
        .optional()?;
    let Some(id) = id else {
        return Ok(());
    };
    conn.prepare_cached(MARK_BUCKET_ROWS_SQL)?.execute([id])?;
    conn.prepare_cached(DELETE_BUCKET_OPS_SQL)?.execute([id])?;
    conn.prepare_cached(DELETE_BUCKET_SQL)?.execute([id])?;
    Ok(())
}

/// Names of every bucket the request lists (`pending_delete = 0`) with its `last_op`.
pub fn requested_buckets(conn: &Connection) -> Result<Vec<(String, i64)>> {
    let mut stmt = conn.prepare_cached(REQUESTED_BUCKETS_SQL)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Stored checksum of a bucket: `(add, op)`; `(0, 0)` when it has no row.
pub fn stored_checksums(conn: &Connection, name: &str) -> Result<(u32, u32)> {
    let row: Option<(i64, i64)> = conn
        .prepare_cached(STORED_CHECKSUMS_SQL)?
        .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.map_or((0, 0), |(add, op)| (add as u32, op as u32)))
}

/// Persisted progress counters `(count_at_last, count_since_last)`; zeros when unknown.
pub fn progress_counters(conn: &Connection, name: &str) -> Result<(i64, i64)> {
    Ok(conn
        .prepare_cached(PROGRESS_COUNTERS_SQL)?
        .query_row([name], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or((0, 0)))
}

/// Resets every bucket's progress counters (a bucket shrank).
pub fn reset_progress_counters(conn: &Connection) -> Result<()> {
    conn.prepare_cached(RESET_PROGRESS_SQL)?.execute([])?;
    Ok(())
}
