// SPDX-License-Identifier: Apache-2.0
//! Every SQL statement on the sync, apply, upload and checkpoint paths, in one list, so that
//! `core/tests/engine/query_plans.rs` can check their query plans on a large database: none may
//! scan `ps_oplog`, `ps_crud` or a data table, or walk one of their indexes from an open
//! range, unless listed here with the reason it must. Adding a statement is one line.
//!
//! Not listed: statements that empty whole tables by design (`powersync_clear`,
//! `powersync_trigger_resync`), stream subscribe/unsubscribe commands (app calls on a
//! small table), user-supplied raw-table statements, and the view triggers of local writes
//! (their plans are part of the schema's views, keyed by the row id).

use crate::storage::crud::{queue, vtab};
use crate::storage::sync::{apply, engine, new_keys, storage, streams};
use crate::storage::{gate, kv};

/// One statement the sync client runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotStatement {
    /// Where it runs and what it does.
    pub name: &'static str,
    /// The SQL as the code prepares it.
    pub sql: String,
    /// Why it may scan a large table or read an open range of it, or `None`: it must not.
    pub may_scan: Option<&'static str>,
}

fn hot(name: &'static str, sql: impl Into<String>) -> HotStatement {
    HotStatement {
        name,
        sql: sql.into(),
        may_scan: None,
    }
}

fn scans(name: &'static str, sql: impl Into<String>, why: &'static str) -> HotStatement {
    HotStatement {
        name,
        sql: sql.into(),
        may_scan: Some(why),
    }
}

/// Why the initial-sync apply reads all of `ps_oplog`.
const BULK: &str = "initial sync: publishes every row of the op log once, in one ordered pass";
/// Why an `EXISTS` over `ps_crud` shows as a scan.
const FIRST_ROW: &str = "EXISTS: stops at the first queued write";
/// Why reading the oldest queued writes shows as a scan.
const OLDEST: &str = "walks ps_crud in id order from the oldest write and stops at LIMIT";

/// The statements, with `row_type` filled in where the SQL names a data table.
pub fn hot_statements(row_type: &str) -> Vec<HotStatement> {
    vec![
        // Storing data lines.
        hot("storage: create bucket", storage::INSERT_BUCKET_SQL),
        hot("storage: bucket by name", storage::BUCKET_BY_NAME_SQL),
        hot("storage: bucket has ops", new_keys::BUCKET_HAS_OPS_SQL),
        hot(
            "storage: superseded ops of a key",
            storage::SUPERSEDED_OPS_SQL,
        ),
        hot("storage: delete op", storage::DELETE_OP_SQL),
        hot("storage: insert op", storage::INSERT_OP_SQL),
        hot("storage: mark row updated", storage::MARK_ROW_SQL),
        hot(
            "storage: update bucket counters",
            storage::UPDATE_BUCKET_SQL,
        ),
        hot("storage: mark bucket rows", storage::MARK_BUCKET_ROWS_SQL),
        hot("storage: delete bucket ops", storage::DELETE_BUCKET_OPS_SQL),
        hot("storage: bucket id", storage::BUCKET_ID_SQL),
        hot("storage: delete bucket", storage::DELETE_BUCKET_SQL),
        hot("storage: requested buckets", storage::REQUESTED_BUCKETS_SQL),
        hot("storage: stored checksums", storage::STORED_CHECKSUMS_SQL),
        hot("storage: progress counters", storage::PROGRESS_COUNTERS_SQL),
        hot("storage: reset progress", storage::RESET_PROGRESS_SQL),
        // Applying a checkpoint.
        hot("apply: set last_op", apply::SET_LAST_OP_SQL),
        scans(
            "apply: gate, crud pending",
            queue::CRUD_PENDING_SQL,
            FIRST_ROW,
        ),
        hot("apply: nothing published", apply::NOTHING_PUBLISHED_SQL),
        hot("apply: rows since last apply", apply::FULL_ROWS_SQL),
        hot("apply: rows of one priority", apply::PARTIAL_ROWS_SQL),
        scans(
            "apply: row types",
            apply::OPLOG_TYPES_SQL,
            "open range, but min() takes one index step per distinct type",
        ),
        scans(
            "apply: types with null data",
            apply::NULL_DATA_TYPES_SQL,
            BULK,
        ),
        // The bulk statements read all ops of one type, but through the (row_type, row_id)
        // index: a scan there would read every other type too.
        hot(
            "apply: bulk typed insert",
            apply::bulk_typed_insert_sql(row_type),
        ),
        hot(
            "apply: bulk typed delete",
            apply::bulk_typed_delete_sql(row_type),
        ),
        hot("apply: bulk rows of one type", apply::BULK_TYPE_ROWS_SQL),
        hot("apply: bulk orphans", apply::BULK_ORPHANS_SQL),
        hot("apply: table exists", apply::TABLE_EXISTS_SQL),
        hot("apply: typed upsert", apply::typed_upsert_sql(row_type)),
        hot("apply: typed delete", apply::typed_delete_sql(row_type)),
        hot("apply: untyped upsert", apply::UNTYPED_UPSERT_SQL),
        hot("apply: untyped delete", apply::UNTYPED_DELETE_SQL),
        hot("apply: mark all applied", apply::MARK_ALL_APPLIED_SQL),
        hot("apply: clear updated rows", apply::CLEAR_UPDATED_ROWS_SQL),
        hot(
            "apply: mark priority applied",
            apply::MARK_SCOPE_APPLIED_SQL,
        ),
        hot(
            "apply: delete lower sync state",
            apply::DELETE_SYNC_STATE_BELOW_SQL,
        ),
        hot("apply: set sync state", apply::SET_SYNC_STATE_SQL),
        hot("apply: set counters", apply::SET_COUNTERS_SQL),
        // Status and streams.
        hot("status: sync state", engine::SYNC_STATE_SQL),
        hot("streams: delete expired", streams::DELETE_EXPIRED_SQL),
        hot("streams: extend ttl", streams::EXTEND_TTL_SQL),
        hot(
            "streams: explicit subscriptions",
            streams::EXPLICIT_SUBSCRIPTIONS_SQL,
        ),
        hot("streams: deactivate", streams::DEACTIVATE_ALL_SQL),
        hot("streams: activate", streams::ACTIVATE_SQL),
        hot(
            "streams: subscription by id",
            streams::SUBSCRIPTION_BY_ID_SQL,
        ),
        hot("streams: insert default", streams::INSERT_DEFAULT_SQL),
        hot("streams: delete inactive", streams::DELETE_INACTIVE_SQL),
        hot("streams: snapshot", streams::SNAPSHOT_SQL),
        hot("streams: set synced", streams::SET_STREAM_SYNCED_SQL),
        // Checkpoint requests and ps_kv.
        hot("kv: get integer", kv::GET_INTEGER_SQL),
        hot("kv: get text", kv::GET_TEXT_SQL),
        hot("kv: set", kv::SET_SQL),
        hot("kv: delete", kv::DELETE_SQL),
        hot("kv: next checkpoint request id", gate::NEXT_ID_SQL),
        // Local writes and uploads.
        hot("crud: next local transaction", vtab::NEXT_TX_SQL),
        hot("crud: reclaim transaction id", vtab::RECLAIM_TX_SQL),
        hot("crud: queue write", vtab::INSERT_CRUD_SQL),
        hot("crud: queue manual write", vtab::INSERT_MANUAL_CRUD_SQL),
        scans("upload: batch", queue::CRUD_BATCH_SQL, OLDEST),
        scans("upload: first write", queue::FIRST_CRUD_SQL, OLDEST),
        scans(
            "upload: writes from id",
            queue::CRUD_FROM_SQL,
            "from the oldest write on; the reader stops after its transaction",
        ),
        hot("upload: write by id", queue::CRUD_BY_ID_SQL),
        scans(
            "upload: delete uploaded",
            queue::DELETE_UPLOADED_SQL,
            "reads exactly the uploaded (oldest) writes it deletes",
        ),
        scans("upload: first write id", queue::FIRST_CRUD_ID_SQL, OLDEST),
        hot("upload: crud sequence", queue::CRUD_SEQUENCE_SQL),
    ]
}
