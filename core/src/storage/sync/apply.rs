// SPDX-License-Identifier: Apache-2.0
//! Validating and applying a checkpoint (`sync_local`, client-state-machine.md §4).

use std::collections::{HashMap, HashSet};

use rusqlite::Connection;

use super::raw::{self, RawStatement, RawTable};
use super::state::TargetCheckpoint;
use super::storage;
use crate::Result;
use crate::storage::crud::SyncOperationGuard;
use crate::storage::gate::{self, gate_open};

/// Priority code of a full (complete) checkpoint.
pub const FULL_SYNC_PRIORITY: i32 = i32::MAX;

pub(crate) const SET_LAST_OP_SQL: &str =
    "UPDATE ps_buckets SET last_op = ?2 WHERE name IN (SELECT value FROM json_each(?1))";
pub(crate) const MARK_ALL_APPLIED_SQL: &str = "UPDATE ps_buckets SET last_applied_op = last_op";
pub(crate) const CLEAR_UPDATED_ROWS_SQL: &str = "DELETE FROM ps_updated_rows";
pub(crate) const MARK_SCOPE_APPLIED_SQL: &str = "UPDATE ps_buckets SET last_applied_op = last_op
 WHERE name IN (SELECT value FROM json_each(?1))";
pub(crate) const DELETE_SYNC_STATE_BELOW_SQL: &str =
    "DELETE FROM ps_sync_state WHERE priority < ?1";
pub(crate) const SET_SYNC_STATE_SQL: &str =
    "INSERT OR REPLACE INTO ps_sync_state(priority, last_synced_at) VALUES (?1, ?2)";
pub(crate) const SET_COUNTERS_SQL: &str =
    "UPDATE ps_buckets SET count_at_last = ?2, count_since_last = 0 WHERE name = ?1";
pub(crate) const NOTHING_PUBLISHED_SQL: &str =
    "SELECT NOT EXISTS (SELECT 1 FROM ps_buckets WHERE last_applied_op > 0)";
pub(crate) const TABLE_EXISTS_SQL: &str =
    "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)";
pub(crate) const UNTYPED_UPSERT_SQL: &str =
    "REPLACE INTO ps_untyped(type, id, data) VALUES (?1, ?2, ?3)";
pub(crate) const UNTYPED_DELETE_SQL: &str = "DELETE FROM ps_untyped WHERE type = ?1 AND id = ?2";

/// A bucket whose stored checksum does not match the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecksumMismatch {
    /// Bucket name.
    pub bucket: String,
    /// Checksum the service reported.
    pub expected: u32,
    /// Stored op checksum.
    pub op: u32,
    /// Stored add checksum.
    pub add: u32,
}

impl ChecksumMismatch {
    /// The reference log fragment: `a (expected 0x…, got 0x… = 0x… (op) + 0x… (add))`.
    pub fn describe(&self) -> String {
        format!(
            "{} (expected 0x{:08x}, got 0x{:08x} = 0x{:08x} (op) + 0x{:08x} (add))",
            self.bucket,
            self.expected,
            self.op.wrapping_add(self.add),
            self.op,
            self.add
        )
    }
}

/// Outcome of [`sync_local`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// Checksums did not match; the buckets were deleted.
    ChecksumFailure(Vec<ChecksumMismatch>),
    /// The apply gate is closed (pending local writes).
    PendingLocalChanges,
    /// Applied.
    Applied,
}

/// Validates and applies `target` (all buckets, or those with priority `<= priority`).
pub fn sync_local(
    conn: &Connection,
    target: &TargetCheckpoint,
    priority: Option<i32>,
    raw_tables: &[RawTable],
    now_micros: i64,
) -> Result<ApplyOutcome> {
    let in_scope: Vec<&str> = target
        .buckets
        .iter()
        .filter(|(_, b)| priority.is_none_or(|p| b.priority <= p))
        .map(|(name, _)| name.as_str())
        .collect();

    // 1. Validate.
    let mut failures = Vec::new();
    for name in &in_scope {
        let expected = target.buckets.get(*name).map_or(0, |b| b.checksum);
        let (add, op) = storage::stored_checksums(conn, name)?;
        if add.wrapping_add(op) != expected {
            failures.push(ChecksumMismatch {
                bucket: (*name).to_string(),
                expected,
                op,
                add,
            });
        }
    }
    if !failures.is_empty() {
        for failure in &failures {
            storage::delete_bucket(conn, &failure.bucket)?;
        }
        return Ok(ApplyOutcome::ChecksumFailure(failures));
    }

    // 2. Record position (persists even if the gate blocks).
    let scope_json = serde_json::to_string(&in_scope)?;
    conn.prepare_cached(SET_LAST_OP_SQL)?
        .execute(rusqlite::params![scope_json, target.last_op_id])?;
    if let (None, Some(w)) = (priority, target.write_checkpoint) {
        gate::set_last_seen(conn, Some(w))?;
    }

    // 3. Gate (priority 0 ignores it).
    if priority != Some(0) && !gate_open(conn)? {
        return Ok(ApplyOutcome::PendingLocalChanges);
    }

    // 4.–5. Collect and write rows.
    {
        let _guard = SyncOperationGuard::enter(conn)?;
        publish_rows(conn, priority.map(|_| scope_json.as_str()), raw_tables)?;
    }

    // 6. Mark applied.
    match priority {
        None => {
            conn.prepare_cached(MARK_ALL_APPLIED_SQL)?.execute([])?;
            conn.prepare_cached(CLEAR_UPDATED_ROWS_SQL)?.execute([])?;
        }
        Some(_) => {
            conn.prepare_cached(MARK_SCOPE_APPLIED_SQL)?
                .execute([&scope_json])?;
        }
    }
    let code = priority.unwrap_or(FULL_SYNC_PRIORITY);
    conn.prepare_cached(DELETE_SYNC_STATE_BELOW_SQL)?
        .execute([code])?;
    conn.prepare_cached(SET_SYNC_STATE_SQL)?
        .execute(rusqlite::params![code, now_micros])?;

    // 7. Progress counters after a full apply.
    if priority.is_none() {
        let mut stmt = conn.prepare_cached(SET_COUNTERS_SQL)?;
        for (name, bucket) in &target.buckets {
            if let Some(count) = bucket.count {
                stmt.execute(rusqlite::params![name, count])?;
            }
        }
    }
    Ok(ApplyOutcome::Applied)
}

/// Rows touched since the last apply. `CROSS JOIN` fixes the loop order (SQLite never
/// reorders it): buckets outside, then the `(bucket, op_id)` index range of each bucket's
/// unapplied ops. With a plain `JOIN` and most ops in one bucket, SQLite walks the whole
/// `(row_type, row_id)` index (from the `row_type IS NOT NULL` below, saving the sort) and
/// looks each op's bucket up: every checkpoint then costs as much as the whole op log
/// (`core/tests/engine/query_plans.rs` checks the plan).
pub(crate) const FULL_ROWS_SQL: &str = "
WITH updated(row_type, row_id) AS (
  SELECT o.row_type, o.row_id FROM ps_buckets b
    CROSS JOIN ps_oplog o ON o.bucket = b.id AND o.op_id > b.last_applied_op
  UNION SELECT row_type, row_id FROM ps_updated_rows)
SELECT u.row_type, u.row_id,
  (SELECT r.data FROM ps_oplog r WHERE r.row_type = u.row_type AND r.row_id = u.row_id
   ORDER BY r.op_id DESC LIMIT 1)
FROM updated u WHERE u.row_type IS NOT NULL AND u.row_id IS NOT NULL
ORDER BY u.row_type";

/// Bulk mode is used for a full apply while nothing is published yet (initial sync, resync,
/// soft clear): every row with an op is in scope, so one ordered pass per row type over the
/// `(row_type, row_id)` index replaces the union/temp-b-tree and the correlated lookups. Bare
/// `data` comes from the row holding `max(op_id)`.
///
/// Bulk mode, one row type (raw and untyped destinations).
pub(crate) const BULK_TYPE_ROWS_SQL: &str = "
SELECT row_type, row_id, data, max(op_id) FROM ps_oplog
WHERE row_type = ?1 AND row_id IS NOT NULL
GROUP BY row_id";

/// Distinct row types in `ps_oplog`, by skipping through the `(row_type, row_id)` index.
pub(crate) const OPLOG_TYPES_SQL: &str = "WITH RECURSIVE t(x) AS (
   SELECT min(row_type) FROM ps_oplog
   UNION ALL
   SELECT (SELECT min(row_type) FROM ps_oplog WHERE row_type > t.x) FROM t
   WHERE t.x IS NOT NULL)
 SELECT x FROM t WHERE x IS NOT NULL";

fn oplog_types(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(OPLOG_TYPES_SQL)?;
    let types = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(types)
}

/// Row types with a PUT op that carries no data (normally none). One sequential scan of
/// `ps_oplog`, much cheaper than the grouped pass per type that would look for such rows.
pub(crate) const NULL_DATA_TYPES_SQL: &str = "SELECT DISTINCT row_type FROM ps_oplog NOT INDEXED
 WHERE data IS NULL AND row_type IS NOT NULL";

fn types_with_null_data(conn: &Connection) -> Result<HashSet<String>> {
    let mut stmt = conn.prepare_cached(NULL_DATA_TYPES_SQL)?;
    let types = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<HashSet<String>>>()?;
    Ok(types)
}

/// The quoted name of the data table of `row_type`.
fn data_table(row_type: &str) -> String {
    format!("\"ps_data__{}\"", row_type.replace('"', "\"\""))
}

/// The latest op of every row of type `?1` (bulk mode).
const BULK_LATEST_SQL: &str = "SELECT row_id, data, max(op_id) FROM ps_oplog
 WHERE row_type = ?1 AND row_id IS NOT NULL GROUP BY row_id";

/// Bulk mode, typed table: writes every row whose latest op has data.
pub(crate) fn bulk_typed_insert_sql(row_type: &str) -> String {
    format!(
        "INSERT OR REPLACE INTO {}(id, data)
         SELECT row_id, data FROM ({BULK_LATEST_SQL}) WHERE data IS NOT NULL",
        data_table(row_type)
    )
}

/// Bulk mode, typed table: removes rows whose latest op has no data.
pub(crate) fn bulk_typed_delete_sql(row_type: &str) -> String {
    format!(
        "DELETE FROM {} WHERE id IN (SELECT row_id FROM ({BULK_LATEST_SQL}) WHERE data IS NULL)",
        data_table(row_type)
    )
}

/// Upsert of one row into the data table of `row_type`.
pub(crate) fn typed_upsert_sql(row_type: &str) -> String {
    format!(
        "REPLACE INTO {}(id, data) VALUES (?1, ?2)",
        data_table(row_type)
    )
}

/// Deletion of one row from the data table of `row_type`.
pub(crate) fn typed_delete_sql(row_type: &str) -> String {
    format!("DELETE FROM {} WHERE id = ?1", data_table(row_type))
}

/// Bulk mode for a typed table: the latest op of every row, in one set-based statement, and
/// a second one for rows whose latest op has no data (only when `ps_oplog` has such ops).
fn bulk_publish_typed(conn: &Connection, row_type: &str, null_data: bool) -> Result<()> {
    conn.prepare_cached(&bulk_typed_insert_sql(row_type))?
        .execute([row_type])?;
    if null_data {
        conn.prepare_cached(&bulk_typed_delete_sql(row_type))?
            .execute([row_type])?;
    }
    Ok(())
}

/// Bulk mode: rows marked for re-evaluation that no op mentions any more (deleted).
pub(crate) const BULK_ORPHANS_SQL: &str = "
SELECT u.row_type, u.row_id, NULL FROM ps_updated_rows u
WHERE NOT EXISTS (SELECT 1 FROM ps_oplog o WHERE o.row_type = u.row_type AND o.row_id = u.row_id)";

/// Rows touched since the last apply in the buckets of one priority (`?1`: JSON list of bucket
/// names); `CROSS JOIN` as in [`FULL_ROWS_SQL`].
pub(crate) const PARTIAL_ROWS_SQL: &str = "
WITH scope(id, last_applied_op) AS (
  SELECT id, last_applied_op FROM ps_buckets WHERE name IN (SELECT value FROM json_each(?1))),
updated(row_type, row_id) AS (
  SELECT DISTINCT o.row_type, o.row_id FROM scope s
    CROSS JOIN ps_oplog o ON o.bucket = s.id AND o.op_id > s.last_applied_op)
SELECT u.row_type, u.row_id,
  (SELECT r.data FROM ps_oplog r WHERE r.row_type = u.row_type AND r.row_id = u.row_id
     AND r.bucket IN (SELECT id FROM scope)
   ORDER BY r.op_id DESC LIMIT 1)
FROM updated u WHERE u.row_type IS NOT NULL AND u.row_id IS NOT NULL
ORDER BY u.row_type";

/// Destinations resolved so far in one apply.
struct Destinations<'r> {
    raw_tables: &'r [RawTable],
    by_type: HashMap<String, Destination>,
}

/// Where rows of one type go.
enum Destination {
    Typed {
        upsert: String,
        delete: String,
    },
    Raw {
        put: RawStatement,
        delete: RawStatement,
    },
    Untyped,
}

fn destination(conn: &Connection, row_type: &str, raw_tables: &[RawTable]) -> Result<Destination> {
    if let Some(table) = raw_tables.iter().find(|t| t.name == row_type) {
        let (put, delete) = raw::statements(conn, table)?;
        return Ok(Destination::Raw { put, delete });
    }
    let table = format!("ps_data__{row_type}");
    let exists: bool = conn
        .prepare_cached(TABLE_EXISTS_SQL)?
        .query_row([&table], |r| r.get(0))?;
    if !exists {
        return Ok(Destination::Untyped);
    }
    Ok(Destination::Typed {
        upsert: typed_upsert_sql(row_type),
        delete: typed_delete_sql(row_type),
    })
}

fn publish_rows(
    conn: &Connection,
    partial_scope: Option<&str>,
    raw_tables: &[RawTable],
) -> Result<()> {
    let mut destinations = Destinations {
        raw_tables,
        by_type: HashMap::new(),
    };
    if let Some(scope) = partial_scope {
        return publish_query(conn, PARTIAL_ROWS_SQL, Some(scope), &mut destinations);
    }
    let nothing_published: bool = conn
        .prepare_cached(NOTHING_PUBLISHED_SQL)?
        .query_row([], |r| r.get(0))?;
    if nothing_published {
        // Typed tables are filled with one INSERT … SELECT each; raw and untyped rows go
        // through the per-row path.
        let mut per_row_types = Vec::new();
        let null_data = types_with_null_data(conn)?;
        for row_type in oplog_types(conn)? {
            let d = destination(conn, &row_type, raw_tables)?;
            if let Destination::Typed { .. } = d {
                bulk_publish_typed(conn, &row_type, null_data.contains(&row_type))?;
            } else {
                per_row_types.push(row_type.clone());
            }
            destinations.by_type.insert(row_type, d);
        }
        for row_type in per_row_types {
            publish_query(conn, BULK_TYPE_ROWS_SQL, Some(&row_type), &mut destinations)?;
        }
        publish_query(conn, BULK_ORPHANS_SQL, None, &mut destinations)
    } else {
        publish_query(conn, FULL_ROWS_SQL, None, &mut destinations)
    }
}

/// Writes every `(row_type, row_id, data)` row `sql` yields to its destination table.
fn publish_query(
    conn: &Connection,
    sql: &str,
    param: Option<&str>,
    destinations: &mut Destinations<'_>,
) -> Result<()> {
    let mut select = conn.prepare_cached(sql)?;
    let mut rows = match param {
        None => select.query([])?,
        Some(p) => select.query([p])?,
    };
    let mut untyped_upsert = conn.prepare_cached(UNTYPED_UPSERT_SQL)?;
    let mut untyped_delete = conn.prepare_cached(UNTYPED_DELETE_SQL)?;
    while let Some(row) = rows.next()? {
        let row_type = row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?;
        let row_id = row.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
        let data = row
            .get_ref(2)?
            .as_str_or_null()
            .map_err(rusqlite::Error::from)?;
        if !destinations.by_type.contains_key(row_type) {
            let d = destination(conn, row_type, destinations.raw_tables)?;
            destinations.by_type.insert(row_type.to_string(), d);
        }
        match destinations.by_type.get(row_type) {
            Some(Destination::Raw { put, delete }) => match data {
                Some(_) => raw::execute(conn, put, row_id, data)?,
                None => raw::execute(conn, delete, row_id, None)?,
            },
            Some(Destination::Typed { upsert, delete }) => match data {
                Some(data) => {
                    conn.prepare_cached(upsert)?
                        .execute(rusqlite::params![row_id, data])?;
                }
                None => {
                    conn.prepare_cached(delete)?.execute([row_id])?;
                }
            },
            _ => match data {
                Some(data) => {
                    untyped_upsert.execute(rusqlite::params![row_type, row_id, data])?;
                }
                None => {
                    untyped_delete.execute([row_type, row_id])?;
                }
            },
        }
    }
    Ok(())
}
