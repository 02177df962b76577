// SPDX-License-Identifier: Apache-2.0
//! The internal-schema versions 1–14, one entry per version: its up step and the down
//! statements recorded in `ps_migration.down_migrations`.
//!
//! The DDL text here is part of the storage format: `sqlite_master` keeps it verbatim and
//! other PowerSync cores compare and execute it, so it must stay byte-for-byte identical to
//! what the reference core writes (checked against fixture files in the tests). The same
//! holds for the down statements, which an older core executes when it opens our file.

use rusqlite::Connection;

use super::legacy;
use crate::Result;

/// How a version is applied.
pub(crate) enum Up {
    /// A batch of statements.
    Sql(&'static str),
    /// Code, for versions that inspect existing objects. Gets the version the database had
    /// before this migration run started.
    Code(fn(&Connection, i64) -> Result<()>),
}

/// One internal-schema version.
pub(crate) struct Version {
    pub(crate) number: i64,
    pub(crate) up: Up,
    /// Statements restoring the previous version, in execution order.
    pub(crate) down: &'static [&'static str],
    /// Version 2's entries carry an (unused) empty `params` array.
    pub(crate) down_with_params: bool,
}

/// Filter selecting the views that PowerSync generated from a schema.
const DROP_AUTO_VIEWS: &str = "SELECT powersync_drop_view(view.name)
  FROM sqlite_master view
  WHERE view.type = 'view'
    AND view.sql GLOB  '*-- powersync-auto-generated'";

/// Version 1 is recorded with `down_migrations = NULL`; the runner creates it whenever the
/// database has no version yet.
pub(crate) const V1_UP: &str = "\
CREATE TABLE ps_oplog(
bucket TEXT NOT NULL,
op_id INTEGER NOT NULL,
op INTEGER NOT NULL,
row_type TEXT,
row_id TEXT,
key TEXT,
data TEXT,
hash INTEGER NOT NULL,
superseded INTEGER NOT NULL);

CREATE INDEX ps_oplog_by_row ON ps_oplog (row_type, row_id) WHERE superseded = 0;
CREATE INDEX ps_oplog_by_opid ON ps_oplog (bucket, op_id);
CREATE INDEX ps_oplog_by_key ON ps_oplog (bucket, key) WHERE superseded = 0;

CREATE TABLE ps_buckets(
name TEXT PRIMARY KEY,
last_applied_op INTEGER NOT NULL DEFAULT 0,
last_op INTEGER NOT NULL DEFAULT 0,
target_op INTEGER NOT NULL DEFAULT 0,
add_checksum INTEGER NOT NULL DEFAULT 0,
pending_delete INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE ps_untyped(type TEXT NOT NULL, id TEXT NOT NULL, data TEXT, PRIMARY KEY (type, id));

CREATE TABLE ps_crud (id INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT);
";

/// Versions 2..=14 in order.
pub(crate) static VERSIONS: &[Version] = &[
    // 2: local transaction ids for the upload queue.
    Version {
        number: 2,
        up: Up::Sql(
            "\
CREATE TABLE ps_tx(id INTEGER PRIMARY KEY NOT NULL, current_tx INTEGER, next_tx INTEGER);
INSERT INTO ps_tx(id, current_tx, next_tx) VALUES (1, NULL, 1);
ALTER TABLE ps_crud ADD COLUMN tx_id INTEGER;
",
        ),
        down: &[
            "DELETE FROM ps_migration WHERE id >= 2",
            "DROP TABLE ps_tx",
            "ALTER TABLE ps_crud DROP COLUMN tx_id",
        ],
        down_with_params: true,
    },
    // 3: key/value store with this database's client id.
    Version {
        number: 3,
        up: Up::Code(legacy::create_kv_with_client_id),
        down: &["DELETE FROM ps_migration WHERE id >= 3", "DROP TABLE ps_kv"],
        down_with_params: false,
    },
    // 4: per-bucket checksum of stored ops.
    Version {
        number: 4,
        up: Up::Sql(
            "\
ALTER TABLE ps_buckets ADD COLUMN op_checksum INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ps_buckets ADD COLUMN remove_operations INTEGER NOT NULL DEFAULT 0;
UPDATE ps_buckets SET op_checksum =
  (SELECT ifnull(sum(ps_oplog.hash), 0) & 0xffffffff
     FROM ps_oplog WHERE ps_oplog.bucket = ps_buckets.name);
",
        ),
        down: &[
            "DELETE FROM ps_migration WHERE id >= 4",
            "ALTER TABLE ps_buckets DROP COLUMN op_checksum",
            "ALTER TABLE ps_buckets DROP COLUMN remove_operations",
        ],
        down_with_params: false,
    },
    // 5: integer bucket ids, oplog holding only live PUTs, ps_updated_rows.
    Version {
        number: 5,
        up: Up::Code(legacy::restructure_oplog),
        down: &[
            DROP_AUTO_VIEWS,
            "ALTER TABLE ps_buckets RENAME TO ps_buckets_5",
            "ALTER TABLE ps_oplog RENAME TO ps_oplog_5",
            "CREATE TABLE ps_buckets(
  name TEXT PRIMARY KEY,
  last_applied_op INTEGER NOT NULL DEFAULT 0,
  last_op INTEGER NOT NULL DEFAULT 0,
  target_op INTEGER NOT NULL DEFAULT 0,
  add_checksum INTEGER NOT NULL DEFAULT 0,
  pending_delete INTEGER NOT NULL DEFAULT 0
, op_checksum INTEGER NOT NULL DEFAULT 0, remove_operations INTEGER NOT NULL DEFAULT 0)",
            "INSERT INTO ps_buckets(name, last_applied_op, last_op, target_op, add_checksum, op_checksum, pending_delete)
    SELECT name, last_applied_op, last_op, target_op, add_checksum, op_checksum, pending_delete FROM ps_buckets_5",
            "CREATE TABLE ps_oplog(
  bucket TEXT NOT NULL,
  op_id INTEGER NOT NULL,
  op INTEGER NOT NULL,
  row_type TEXT,
  row_id TEXT,
  key TEXT,
  data TEXT,
  hash INTEGER NOT NULL,
  superseded INTEGER NOT NULL)",
            "CREATE INDEX ps_oplog_by_row ON ps_oplog (row_type, row_id) WHERE superseded = 0",
            "CREATE INDEX ps_oplog_by_opid ON ps_oplog (bucket, op_id)",
            "CREATE INDEX ps_oplog_by_key ON ps_oplog (bucket, key) WHERE superseded = 0",
            "INSERT INTO ps_oplog(bucket, op_id, op, row_type, row_id, key, data, hash, superseded)
    SELECT ps_buckets_5.name, oplog.op_id, 3, oplog.row_type, oplog.row_id, oplog.key, oplog.data, oplog.hash, 0
    FROM ps_oplog_5 oplog
    JOIN ps_buckets_5
        ON ps_buckets_5.id = oplog.bucket",
            "DROP TABLE ps_oplog_5",
            "DROP TABLE ps_buckets_5",
            "INSERT INTO ps_oplog(bucket, op_id, op, row_type, row_id, hash, superseded)
    SELECT '$local', 1, 4, r.row_type, r.row_id, 0, 0
    FROM ps_updated_rows r",
            "INSERT OR REPLACE INTO ps_buckets(name, pending_delete, last_op, target_op) VALUES('$local', 1, 0, 9223372036854775807)",
            "DROP TABLE ps_updated_rows",
            "DELETE FROM ps_migration WHERE id >= 5",
        ],
        down_with_params: false,
    },
    // 6: v0.3.5 data fix (only for databases that existed before this run).
    Version {
        number: 6,
        up: Up::Code(legacy::v035_fix_if_upgrading),
        down: &["DELETE FROM ps_migration WHERE id >= 6"],
        down_with_params: false,
    },
    // 7: per-priority sync times, seeded from the old ps_kv entry.
    Version {
        number: 7,
        up: Up::Sql(
            "\
CREATE TABLE ps_sync_state (
  priority INTEGER NOT NULL,
  last_synced_at TEXT NOT NULL
) STRICT;
INSERT OR IGNORE INTO ps_sync_state (priority, last_synced_at)
  SELECT 2147483647, value FROM ps_kv WHERE key = 'last_synced_at';
",
        ),
        down: &[
            "INSERT OR REPLACE INTO ps_kv(key, value) SELECT 'last_synced_at', last_synced_at FROM ps_sync_state WHERE priority = 2147483647",
            "DROP TABLE ps_sync_state",
            "DELETE FROM ps_migration WHERE id >= 7",
        ],
        down_with_params: false,
    },
    // 8: one ps_sync_state row per priority.
    Version {
        number: 8,
        up: Up::Sql(
            "\
ALTER TABLE ps_sync_state RENAME TO ps_sync_state_old;
CREATE TABLE ps_sync_state (
  priority INTEGER NOT NULL PRIMARY KEY,
  last_synced_at TEXT NOT NULL
) STRICT;
INSERT INTO ps_sync_state (priority, last_synced_at)
  SELECT priority, max(last_synced_at) FROM ps_sync_state_old GROUP BY priority;
DROP TABLE ps_sync_state_old;
",
        ),
        down: &[
            "ALTER TABLE ps_sync_state RENAME TO ps_sync_state_new",
            "CREATE TABLE ps_sync_state (
  priority INTEGER NOT NULL,
  last_synced_at TEXT NOT NULL
) STRICT",
            "INSERT INTO ps_sync_state SELECT * FROM ps_sync_state_new",
            "DROP TABLE ps_sync_state_new",
            "DELETE FROM ps_migration WHERE id >= 8",
        ],
        down_with_params: false,
    },
    // 9: download progress counters.
    Version {
        number: 9,
        up: Up::Sql(
            "\
ALTER TABLE ps_buckets ADD COLUMN count_at_last INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ps_buckets ADD COLUMN count_since_last INTEGER NOT NULL DEFAULT 0;
",
        ),
        down: &[
            "ALTER TABLE ps_buckets DROP COLUMN count_at_last",
            "ALTER TABLE ps_buckets DROP COLUMN count_since_last",
            "DELETE FROM ps_migration WHERE id >= 9",
        ],
        down_with_params: false,
    },
    // 10: marker only. Views of version 10+ may use functions older cores lack, so going
    // down drops them; the next replace_schema recreates them.
    Version {
        number: 10,
        up: Up::Sql(""),
        down: &[DROP_AUTO_VIEWS, "DELETE FROM ps_migration WHERE id >= 10"],
        down_with_params: false,
    },
    // 11: sync stream subscriptions.
    Version {
        number: 11,
        up: Up::Sql(
            "\
CREATE TABLE ps_stream_subscriptions (
  id INTEGER NOT NULL PRIMARY KEY,
  stream_name TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT FALSE,
  is_default INTEGER NOT NULL DEFAULT FALSE,
  local_priority INTEGER,
  local_params TEXT NOT NULL DEFAULT 'null',
  ttl INTEGER,
  expires_at INTEGER,
  last_synced_at INTEGER,
  UNIQUE (stream_name, local_params)
) STRICT;
",
        ),
        down: &[
            "DROP TABLE ps_stream_subscriptions",
            "DELETE FROM ps_migration WHERE id >= 11",
        ],
        down_with_params: false,
    },
    // 12: downloaded byte counter.
    Version {
        number: 12,
        up: Up::Sql(
            "ALTER TABLE ps_buckets ADD COLUMN downloaded_size INTEGER NOT NULL DEFAULT 0;\n",
        ),
        down: &[
            "ALTER TABLE ps_buckets DROP COLUMN downloaded_size",
            "DELETE FROM ps_migration WHERE id >= 12",
        ],
        down_with_params: false,
    },
    // 13: timestamps in microseconds since the epoch.
    Version {
        number: 13,
        up: Up::Sql(
            "\
UPDATE ps_stream_subscriptions
   SET expires_at = expires_at * 1000000, last_synced_at = last_synced_at * 1000000;
ALTER TABLE ps_sync_state RENAME TO ps_sync_state_old;
CREATE TABLE ps_sync_state (
  priority INTEGER NOT NULL PRIMARY KEY,
  last_synced_at INTEGER NOT NULL
) STRICT;
INSERT INTO ps_sync_state (priority, last_synced_at)
  SELECT priority, unixepoch(last_synced_at) * 1000000 FROM ps_sync_state_old;
DROP TABLE ps_sync_state_old;
",
        ),
        down: &[
            "UPDATE ps_stream_subscriptions SET expires_at = expires_at / 1000000, last_synced_at = last_synced_at / 1000000",
            "ALTER TABLE ps_sync_state RENAME TO ps_sync_state_new",
            "CREATE TABLE ps_sync_state (
  priority INTEGER NOT NULL PRIMARY KEY,
  last_synced_at TEXT NOT NULL
) STRICT;",
            "INSERT INTO ps_sync_state (priority, last_synced_at) SELECT priority, datetime(last_synced_at / 1000000, 'unixepoch') FROM ps_sync_state_new",
            "DROP TABLE ps_sync_state_new",
            "DELETE FROM ps_migration WHERE id >= 13",
        ],
        down_with_params: false,
    },
    // 14: write-checkpoint bookkeeping moves from the `$local` bucket row to ps_kv.
    Version {
        number: 14,
        up: Up::Sql(
            "\
-- Keys left behind by an earlier 14 -> 13 downgrade are stale: `$local` is authoritative.
DELETE FROM ps_kv WHERE key IN ('last_applied_checkpoint_request_id',
  'last_seen_checkpoint_request_id', 'target_checkpoint_request_id');
INSERT INTO ps_kv(key, value)
  SELECT 'last_applied_checkpoint_request_id', last_applied_op
    FROM ps_buckets WHERE name = '$local' AND last_applied_op > 0;
INSERT INTO ps_kv(key, value)
  SELECT 'last_seen_checkpoint_request_id', last_op
    FROM ps_buckets WHERE name = '$local' AND last_op > 0;
INSERT INTO ps_kv(key, value)
  SELECT 'target_checkpoint_request_id', target_op
    FROM ps_buckets WHERE name = '$local' AND target_op > 0;
DELETE FROM ps_buckets WHERE name = '$local';
ALTER TABLE ps_buckets DROP COLUMN target_op;
",
        ),
        down: &[
            "ALTER TABLE ps_buckets RENAME TO ps_buckets_14",
            "DROP INDEX ps_buckets_name",
            "CREATE TABLE ps_buckets(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  last_applied_op INTEGER NOT NULL DEFAULT 0,
  last_op INTEGER NOT NULL DEFAULT 0,
  target_op INTEGER NOT NULL DEFAULT 0,
  add_checksum INTEGER NOT NULL DEFAULT 0,
  op_checksum INTEGER NOT NULL DEFAULT 0,
  pending_delete INTEGER NOT NULL DEFAULT 0
) STRICT",
            "CREATE UNIQUE INDEX ps_buckets_name ON ps_buckets (name)",
            "ALTER TABLE ps_buckets ADD COLUMN count_at_last INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE ps_buckets ADD COLUMN count_since_last INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE ps_buckets ADD COLUMN downloaded_size INTEGER NOT NULL DEFAULT 0",
            "INSERT INTO ps_buckets(
  id,
  name,
  last_applied_op,
  last_op,
  add_checksum,
  op_checksum,
  pending_delete,
  count_at_last,
  count_since_last,
  downloaded_size
)
SELECT
  id,
  name,
  last_applied_op,
  last_op,
  add_checksum,
  op_checksum,
  pending_delete,
  count_at_last,
  count_since_last,
  downloaded_size
FROM ps_buckets_14",
            "DROP TABLE ps_buckets_14",
            "INSERT INTO ps_buckets(name, pending_delete, last_op, last_applied_op, target_op)
SELECT '$local', 1, seen, applied, target
  FROM (
    SELECT
      IFNULL((SELECT CAST(value AS INTEGER) FROM ps_kv WHERE key = 'last_seen_checkpoint_request_id'), 0) AS seen,
      IFNULL((SELECT CAST(value AS INTEGER) FROM ps_kv WHERE key = 'last_applied_checkpoint_request_id'), 0) AS applied,
      (SELECT CAST(value AS INTEGER) FROM ps_kv WHERE key = 'target_checkpoint_request_id') AS target
  )
 WHERE EXISTS (
    SELECT 1 FROM ps_kv WHERE key = 'target_checkpoint_request_id'
 )
ON CONFLICT(name) DO UPDATE SET
  pending_delete = excluded.pending_delete,
  last_op = excluded.last_op,
  last_applied_op = excluded.last_applied_op,
  target_op = excluded.target_op",
            "DELETE FROM ps_migration WHERE id >= 14",
        ],
        down_with_params: false,
    },
];
