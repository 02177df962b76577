// SPDX-License-Identifier: Apache-2.0
//! Internal-schema migrations (PowerSync storage versions 1–14, storage.md §5).
//!
//! The version is `max(id)` of `ps_migration`. Going up applies each missing version (the
//! `versions` module keeps each version's SQL in one place) and records its down
//! statements; going down executes the down statements *stored in the file*, so a file
//! written by a newer core is downgraded with that core's own SQL.

mod legacy;
mod versions;

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension};

use crate::storage::functions::{Determinism, create_function, require_transaction};
use crate::storage::state::DatabaseState;
use crate::value::Value;
use crate::{Error, Result};

pub(crate) use legacy::quote_identifier;

/// The internal-schema version this core writes.
pub const LATEST_VERSION: i64 = 14;

/// Registers `powersync_init()`, `powersync_test_migration(v)` and
/// `powersync_drop_view(name)`.
pub(crate) fn register_functions(conn: &Connection, _state: &Arc<DatabaseState>) -> Result<()> {
    create_function(
        conn,
        "powersync_init",
        0,
        Determinism::Volatile,
        |conn, _| {
            require_transaction(conn, "powersync_init")?;
            migrate(conn, LATEST_VERSION)?;
            Ok(Value::Text(String::new()))
        },
    )?;
    create_function(
        conn,
        "powersync_test_migration",
        1,
        Determinism::Volatile,
        |conn, args| {
            require_transaction(conn, "powersync_test_migration")?;
            let target = match args.first() {
                Some(Value::Integer(v)) => *v,
                _ => return Err(Error::invalid_argument("target version must be an integer")),
            };
            migrate(conn, target)?;
            Ok(Value::Text(String::new()))
        },
    )?;
    // Called by stored down migrations (versions 5 and 10); must keep existing.
    create_function(
        conn,
        "powersync_drop_view",
        1,
        Determinism::Volatile,
        |conn, args| {
            let Some(Value::Text(name)) = args.first() else {
                return Err(Error::invalid_argument("view name must be text"));
            };
            conn.execute_batch(&format!("DROP VIEW IF EXISTS {}", quote_identifier(name)))?;
            Ok(Value::Null)
        },
    )?;
    Ok(())
}

/// The internal-schema version of the database on `conn` (0 = none yet).
pub fn current_version(conn: &Connection) -> Result<i64> {
    let has_table: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ps_migration'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    if has_table.is_none() {
        return Ok(0);
    }
    Ok(
        conn.query_row("SELECT ifnull(max(id), 0) FROM ps_migration", [], |row| {
            row.get(0)
        })?,
    )
}

/// Migrates the database on `conn` up or down to exactly `target`. Must run inside a
/// transaction (the caller's); on error the caller rolls back.
pub fn migrate(conn: &Connection, target: i64) -> Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS ps_migration(id INTEGER PRIMARY KEY, down_migrations TEXT)",
    )?;
    let start_version = current_version(conn)?;
    let mut current = start_version;

    while current > target {
        for sql in stored_down_statements(conn, target)? {
            conn.execute_batch(&sql).map_err(|e| {
                Error::storage(format!("down migration from version {current} failed: {e}"))
            })?;
        }
        let new_version = current_version(conn)?;
        if new_version >= current {
            return Err(Error::storage(format!(
                "down migration from version {current} did not update the version"
            )));
        }
        current = new_version;
    }

    if current < 1 {
        conn.execute_batch(versions::V1_UP)?;
        record_version(conn, 1, None)?;
    }
    for version in versions::VERSIONS {
        if current < version.number && target >= version.number {
            match version.up {
                versions::Up::Sql(sql) => conn.execute_batch(sql)?,
                versions::Up::Code(apply) => apply(conn, start_version)?,
            }
            let down = down_json(version.down, version.down_with_params);
            record_version(conn, version.number, Some(&down))?;
        }
    }
    Ok(())
}

/// The down statements stored for the newest version above `target`.
fn stored_down_statements(conn: &Connection, target: i64) -> Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT e.value ->> 'sql'
           FROM (SELECT down_migrations FROM ps_migration
                  WHERE id > ?1 ORDER BY id DESC LIMIT 1) m,
                json_each(m.down_migrations) e
          ORDER BY e.key",
    )?;
    let rows = stmt.query_map([target], |row| row.get::<_, Option<String>>(0))?;
    let mut statements = Vec::new();
    for sql in rows {
        if let Some(sql) = sql? {
            statements.push(sql);
        }
    }
    Ok(statements)
}

fn record_version(conn: &Connection, version: i64, down: Option<&str>) -> Result<()> {
    conn.execute(
        "INSERT INTO ps_migration(id, down_migrations) VALUES (?1, ?2)",
        rusqlite::params![version, down],
    )?;
    Ok(())
}

/// Serializes down statements the way the reference core stores them: compact JSON, one
/// `{"sql": ...}` object per statement, with `"params": []` after `sql` for version 2.
fn down_json(statements: &[&str], with_params: bool) -> String {
    let mut out = String::from("[");
    for (i, sql) in statements.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"sql\":");
        // Serializing a plain string cannot fail.
        out.push_str(&serde_json::Value::from(*sql).to_string());
        if with_params {
            out.push_str(",\"params\":[]");
        }
        out.push('}');
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests;
