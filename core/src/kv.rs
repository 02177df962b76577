// SPDX-License-Identifier: Apache-2.0
//! `ps_kv` state: the client id and the checkpoint-request keys (storage.md §1.8,
//! client-state-machine.md §5), with typed accessors and the SQL functions
//! `powersync_client_id()`, `uuid()`, `powersync_next_checkpoint_request_id()` and
//! `powersync_probe_local_target_op(x)`.

use std::ffi::c_int;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, ffi};

use crate::db::Value;
use crate::ext::{self, Determinism};
use crate::{Error, Result};

/// Sentinel "pending local writes, no concrete id yet" target; never a real id.
pub const MAX_OP_ID: i64 = i64::MAX;
/// Key of this database's stable client id.
pub const CLIENT_ID_KEY: &str = "client_id";
/// Key of the apply-gate target.
pub const TARGET_KEY: &str = "target_checkpoint_request_id";
/// Key of the checkpoint-request allocation counter.
pub const LAST_REQUESTED_KEY: &str = "last_requested_checkpoint_request_id";
/// Key of the last write checkpoint seen in a validated full checkpoint.
pub const LAST_SEEN_KEY: &str = "last_seen_checkpoint_request_id";
/// Key of the last write checkpoint applied with a full checkpoint.
pub const LAST_APPLIED_KEY: &str = "last_applied_checkpoint_request_id";

/// SQLite's CONSTRAINT_DATATYPE extended code, used for bad checkpoint request ids.
pub const SQLITE_CONSTRAINT_DATATYPE: c_int = 3091;

fn constraint_datatype(message: &str) -> Error {
    rusqlite::Error::SqliteFailure(
        ffi::Error::new(SQLITE_CONSTRAINT_DATATYPE),
        Some(message.to_string()),
    )
    .into()
}

pub(crate) const GET_INTEGER_SQL: &str = "SELECT CAST(value AS INTEGER) FROM ps_kv WHERE key = ?";
pub(crate) const GET_TEXT_SQL: &str = "SELECT value FROM ps_kv WHERE key = ?";
pub(crate) const SET_SQL: &str = "INSERT OR REPLACE INTO ps_kv(key, value) VALUES (?, ?)";
pub(crate) const DELETE_SQL: &str = "DELETE FROM ps_kv WHERE key = ?";
/// Bumps the checkpoint-request counter `?1` (created at 1) and returns it.
pub(crate) const NEXT_ID_SQL: &str = "INSERT INTO ps_kv(key, value) VALUES (?1, 1)
 ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1
 RETURNING CAST(value AS INTEGER)";

/// Reads an integer key; `None` when absent or NULL.
pub fn get_i64(conn: &Connection, key: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached(GET_INTEGER_SQL)?
        .query_row([key], |r| r.get::<_, Option<i64>>(0))
        .optional()?
        .flatten())
}

/// Writes an integer key, or deletes it when `value` is `None`.
pub fn set_i64(conn: &Connection, key: &str, value: Option<i64>) -> Result<()> {
    match value {
        Some(v) => conn
            .prepare_cached(SET_SQL)?
            .execute(rusqlite::params![key, v])?,
        None => conn.prepare_cached(DELETE_SQL)?.execute([key])?,
    };
    Ok(())
}

/// The database's client id; errors when migrations never created one.
pub fn client_id(conn: &Connection) -> Result<String> {
    conn.prepare_cached(GET_TEXT_SQL)?
        .query_row([CLIENT_ID_KEY], |r| r.get::<_, String>(0))
        .optional()?
        .ok_or_else(|| Error::storage("No client_id found in ps_kv"))
}

/// The apply-gate target (`None` = no gate).
pub fn target(conn: &Connection) -> Result<Option<i64>> {
    get_i64(conn, TARGET_KEY)
}

/// Sets the apply-gate target; `None` or `Some(0)` removes the gate.
pub fn set_target(conn: &Connection, target: Option<i64>) -> Result<()> {
    set_i64(conn, TARGET_KEY, target.filter(|t| *t != 0))
}

/// The checkpoint-request allocation counter.
pub fn last_requested(conn: &Connection) -> Result<Option<i64>> {
    get_i64(conn, LAST_REQUESTED_KEY)
}

/// Sets (seeds) or deletes the allocation counter.
pub fn set_last_requested(conn: &Connection, value: Option<i64>) -> Result<()> {
    set_i64(conn, LAST_REQUESTED_KEY, value)
}

/// The last write checkpoint seen in a validated full checkpoint.
pub fn last_seen(conn: &Connection) -> Result<Option<i64>> {
    get_i64(conn, LAST_SEEN_KEY)
}

/// Sets or deletes the last seen write checkpoint.
pub fn set_last_seen(conn: &Connection, value: Option<i64>) -> Result<()> {
    set_i64(conn, LAST_SEEN_KEY, value)
}

/// The last write checkpoint applied with a full checkpoint.
pub fn last_applied(conn: &Connection) -> Result<Option<i64>> {
    get_i64(conn, LAST_APPLIED_KEY)
}

/// Sets or deletes the last applied write checkpoint.
pub fn set_last_applied(conn: &Connection, value: Option<i64>) -> Result<()> {
    set_i64(conn, LAST_APPLIED_KEY, value)
}

/// Allocates the next checkpoint request id (`last_requested + 1`) in one statement, inside the
/// caller's transaction, so a rollback hands the same id out again.
///
/// This is the raw allocator: without a counter it starts at 1 (the engine's
/// `next_checkpoint_request_id` command refuses to run unseeded before calling it).
pub fn next_checkpoint_request_id(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached(NEXT_ID_SQL)?
        .query_row([LAST_REQUESTED_KEY], |r| r.get(0))?)
}

/// Parses a target argument: `None` for NULL, else a non-negative integer (or decimal string).
/// Errors carry SQLite code 3091 (CONSTRAINT_DATATYPE) like the reference core.
pub fn parse_target_arg(value: ValueRef<'_>) -> Result<Option<i64>> {
    let id = match value {
        ValueRef::Null => return Ok(None),
        ValueRef::Integer(i) => i,
        ValueRef::Text(t) => std::str::from_utf8(t)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .ok_or_else(|| {
                constraint_datatype("checkpoint request id must be an integer or integer string")
            })?,
        _ => {
            return Err(constraint_datatype(
                "checkpoint request id must be an integer or integer string",
            ));
        }
    };
    if id < 0 {
        return Err(constraint_datatype(
            "target checkpoint request id must be a non-negative integer",
        ));
    }
    Ok(Some(id))
}

/// `powersync_probe_local_target_op(x)`: `None` probes, `Some(0)` removes the gate, a positive
/// id stores it. Returns the previous target. Never touches the allocation counter.
pub fn probe_local_target_op(conn: &Connection, new_target: Option<i64>) -> Result<Option<i64>> {
    let previous = target(conn)?;
    if let Some(t) = new_target {
        set_target(conn, Some(t))?;
    }
    Ok(previous)
}

/// A random UUID v4 in its canonical lowercase text form.
pub fn uuid_v4() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::storage(format!("no randomness available: {e}")))?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// Registers the `ps_kv` SQL functions on `conn`.
pub fn register_functions(conn: &Connection) -> Result<()> {
    use rusqlite::functions::FunctionFlags;
    let flags = FunctionFlags::SQLITE_UTF8;
    register_client_id(conn)?;
    conn.create_scalar_function("uuid", 0, flags, |_| {
        uuid_v4().map_err(crate::crud::to_sql_error)
    })?;
    conn.create_scalar_function(
        "powersync_next_checkpoint_request_id",
        0,
        flags | FunctionFlags::SQLITE_DIRECTONLY,
        |ctx| {
            // SAFETY: as above.
            let conn = unsafe { ctx.get_connection()? };
            next_checkpoint_request_id(&conn).map_err(crate::crud::to_sql_error)
        },
    )?;
    register_probe(conn)
}

/// `powersync_client_id()` reports a missing id as `SQLITE_ABORT` like the reference core, so
/// it goes through [`ext::create_function`] (rusqlite's wrapper would report SQLITE_ERROR).
fn register_client_id(conn: &Connection) -> Result<()> {
    ext::create_function(
        conn,
        "powersync_client_id",
        0,
        Determinism::Volatile,
        |conn, _| {
            let id = conn
                .prepare_cached(GET_TEXT_SQL)?
                .query_row([CLIENT_ID_KEY], |r| r.get::<_, String>(0))
                .optional()?;
            match id {
                Some(id) => Ok(Value::Text(id)),
                None => Err(rusqlite::Error::SqliteFailure(
                    ffi::Error::new(ffi::SQLITE_ABORT),
                    Some("No client_id found in ps_kv".to_owned()),
                )
                .into()),
            }
        },
    )
}

/// `powersync_probe_local_target_op` goes through [`ext::create_function`], which keeps the
/// 3091 error code (rusqlite's wrapper would report SQLITE_ERROR).
fn register_probe(conn: &Connection) -> Result<()> {
    ext::create_function(
        conn,
        "powersync_probe_local_target_op",
        -1,
        Determinism::Volatile,
        |conn, args| {
            let arg = match args.first() {
                None | Some(Value::Null) => ValueRef::Null,
                Some(Value::Integer(i)) => ValueRef::Integer(*i),
                Some(Value::Real(f)) => ValueRef::Real(*f),
                Some(Value::Text(t)) => ValueRef::Text(t.as_bytes()),
                Some(Value::Blob(b)) => ValueRef::Blob(b),
            };
            let previous = probe_local_target_op(conn, parse_target_arg(arg)?)?;
            Ok(previous.map_or(Value::Null, Value::Integer))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_is_v4_shaped() {
        let id = uuid_v4().expect("uuid");
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(id, uuid_v4().expect("uuid"));
    }

    #[test]
    fn target_arg_validation_uses_3091() {
        assert_eq!(
            parse_target_arg(ValueRef::Text(b"41")).expect("ok"),
            Some(41)
        );
        assert_eq!(parse_target_arg(ValueRef::Null).expect("ok"), None);
        for bad in [
            ValueRef::Integer(-1),
            ValueRef::Real(1.5),
            ValueRef::Text(b"x"),
        ] {
            let e = parse_target_arg(bad).expect_err("rejected");
            match e.kind() {
                crate::ErrorKind::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
                    assert_eq!(f.extended_code, 3091)
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}
