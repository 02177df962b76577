// SPDX-License-Identifier: Apache-2.0
//! Up steps that need code rather than one SQL batch (versions 3, 5 and 6).

use rusqlite::Connection;

use crate::Result;

/// Version 3: `ps_kv` holding a fresh random client id.
pub(crate) fn create_kv_with_client_id(conn: &Connection, _from_version: i64) -> Result<()> {
    conn.execute_batch("CREATE TABLE ps_kv(key TEXT PRIMARY KEY NOT NULL, value BLOB);")?;
    let client_id = random_uuid_v4(conn)?;
    conn.execute(
        "INSERT INTO ps_kv(key, value) VALUES ('client_id', ?1)",
        [client_id],
    )?;
    Ok(())
}

/// A random (version 4) UUID in the usual lowercase hyphenated form, using SQLite's
/// `randomblob` as the randomness source.
pub(crate) fn random_uuid_v4(conn: &Connection) -> Result<String> {
    let bytes: Vec<u8> = conn.query_row("SELECT randomblob(16)", [], |row| row.get(0))?;
    let mut b = [0_u8; 16];
    for (dst, src) in b.iter_mut().zip(bytes.iter()) {
        *dst = *src;
    }
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// Quotes an SQL identifier (`"` doubled inside).
pub(crate) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Version 5: restructures buckets and oplog.
///
/// Triggers of generated views are written for the old layout, so they are dropped first:
/// every generated view is dropped (taking its triggers along) and recreated without them;
/// the next schema update adds current triggers. Views themselves stay so user triggers
/// referring to them keep working.
pub(crate) fn restructure_oplog(conn: &Connection, _from_version: i64) -> Result<()> {
    let views: Vec<(String, String)> = {
        let mut stmt = conn.prepare(
            "SELECT name, sql FROM sqlite_master
              WHERE type = 'view' AND sql GLOB '*-- powersync-auto-generated'
              ORDER BY name",
        )?;
        let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (name, sql) in views {
        conn.execute_batch(&format!("DROP VIEW IF EXISTS {}", quote_identifier(&name)))?;
        conn.execute_batch(&sql)?;
    }

    conn.execute_batch(
        "\
ALTER TABLE ps_buckets RENAME TO ps_buckets_old;
ALTER TABLE ps_oplog RENAME TO ps_oplog_old;

CREATE TABLE ps_buckets(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  last_applied_op INTEGER NOT NULL DEFAULT 0,
  last_op INTEGER NOT NULL DEFAULT 0,
  target_op INTEGER NOT NULL DEFAULT 0,
  add_checksum INTEGER NOT NULL DEFAULT 0,
  op_checksum INTEGER NOT NULL DEFAULT 0,
  pending_delete INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE UNIQUE INDEX ps_buckets_name ON ps_buckets (name);

CREATE TABLE ps_oplog(
  bucket INTEGER NOT NULL,
  op_id INTEGER NOT NULL,
  row_type TEXT,
  row_id TEXT,
  key TEXT,
  data TEXT,
  hash INTEGER NOT NULL) STRICT;

CREATE INDEX ps_oplog_row ON ps_oplog (row_type, row_id);
CREATE INDEX ps_oplog_opid ON ps_oplog (bucket, op_id);
CREATE INDEX ps_oplog_key ON ps_oplog (bucket, key);

CREATE TABLE ps_updated_rows(
  row_type TEXT,
  row_id TEXT,
  PRIMARY KEY(row_type, row_id)) STRICT, WITHOUT ROWID;

INSERT INTO ps_buckets(name, last_applied_op, last_op, target_op, add_checksum, op_checksum,
                       pending_delete)
  SELECT name, last_applied_op, last_op, target_op, add_checksum, op_checksum, pending_delete
    FROM ps_buckets_old;
DROP TABLE ps_buckets_old;

-- Only live PUTs (legacy op code 3) are kept.
INSERT INTO ps_oplog(bucket, op_id, row_type, row_id, key, data, hash)
  SELECT b.id, o.op_id, o.row_type, o.row_id, o.key, o.data, o.hash
    FROM ps_oplog_old o JOIN ps_buckets b ON b.name = o.bucket
   WHERE o.superseded = 0 AND o.op = 3
   ORDER BY o.bucket, o.op_id;

-- Rows touched by other ops must be re-evaluated at the next apply.
INSERT OR IGNORE INTO ps_updated_rows(row_type, row_id)
  SELECT row_type, row_id FROM ps_oplog_old WHERE op != 3;

-- Checksums of dropped ops move from op_checksum to add_checksum.
UPDATE ps_buckets SET add_checksum = 0xffffffff & (add_checksum +
  (SELECT ifnull(sum(o.hash), 0) FROM ps_oplog_old o
    WHERE o.bucket = ps_buckets.name AND (o.superseded = 1 OR o.op != 3)));
UPDATE ps_buckets SET op_checksum = 0xffffffff & (op_checksum -
  (SELECT ifnull(sum(o.hash), 0) FROM ps_oplog_old o
    WHERE o.bucket = ps_buckets.name AND (o.superseded = 1 OR o.op != 3)));

DROP TABLE ps_oplog_old;
",
    )?;
    Ok(())
}

/// Version 6: the v0.3.5 data fix. Old cores sometimes removed ops from the oplog without
/// recording the row in `ps_updated_rows`, leaving rows in `ps_data__*` that no bucket holds
/// any more. Recording them lets the next apply delete them. Skipped for brand-new databases.
pub(crate) fn v035_fix_if_upgrading(conn: &Connection, from_version: i64) -> Result<()> {
    if from_version == 0 {
        return Ok(());
    }
    let tables: Vec<String> = {
        let mut stmt = conn.prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'ps_data__*'",
        )?;
        let rows = stmt.query_map([], |row| row.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for table in tables {
        let Some(row_type) = table.strip_prefix("ps_data__") else {
            continue;
        };
        let quoted = quote_identifier(&table);
        conn.execute(
            &format!(
                "INSERT OR IGNORE INTO ps_updated_rows(row_type, row_id)
                   SELECT ?1, id FROM {quoted} AS t
                    WHERE NOT EXISTS (SELECT 1 FROM ps_oplog
                                       WHERE row_type = ?1 AND row_id = t.id)"
            ),
            [row_type],
        )?;
    }
    Ok(())
}
