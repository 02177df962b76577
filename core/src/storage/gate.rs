// SPDX-License-Identifier: Apache-2.0
//! The write barrier's one home: the apply gate and the checkpoint-request ids behind it
//! (storage.md §1.8, client-state-machine.md §5).
//!
//! Downloaded data is published only while the gate is open: no local write waits for upload
//! and the target checkpoint request (if any) has been seen in a validated checkpoint. The
//! counter (`last_requested`), the acknowledged floor (`max(last_seen, last_applied)`), the
//! seed and the target are all `ps_kv` keys read and written here, by the sync engine and the
//! client alike. SQL functions: `powersync_next_checkpoint_request_id()` and
//! `powersync_probe_local_target_op(x)`.

use rusqlite::Connection;
use rusqlite::types::ValueRef;

use super::crud::queue::has_pending_crud;
use super::functions::{self, Determinism, constraint_datatype};
use super::kv::{get_i64, set_i64};
use crate::Result;
use crate::value::Value;

/// Sentinel "pending local writes, no concrete id yet" target; never a real id.
pub const MAX_OP_ID: i64 = i64::MAX;
/// Key of the apply-gate target.
pub const TARGET_KEY: &str = "target_checkpoint_request_id";
/// Key of the checkpoint-request allocation counter.
pub const LAST_REQUESTED_KEY: &str = "last_requested_checkpoint_request_id";
/// Key of the last write checkpoint seen in a validated full checkpoint.
pub const LAST_SEEN_KEY: &str = "last_seen_checkpoint_request_id";
/// Key of the last write checkpoint applied with a full checkpoint.
pub const LAST_APPLIED_KEY: &str = "last_applied_checkpoint_request_id";

/// Bumps the checkpoint-request counter `?1` (created at 1) and returns it.
pub(crate) const NEXT_ID_SQL: &str = "INSERT INTO ps_kv(key, value) VALUES (?1, 1)
 ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1
 RETURNING CAST(value AS INTEGER)";

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

/// Gate open ⇔ `ps_crud` empty ∧ (no target ∨ target ≤ last_seen).
pub fn gate_open(conn: &Connection) -> Result<bool> {
    if has_pending_crud(conn)? {
        return Ok(false);
    }
    match target(conn)? {
        None => Ok(true),
        Some(target) => Ok(target <= last_seen(conn)?.unwrap_or(0)),
    }
}

/// Highest write checkpoint id the stream is known to have acknowledged to this database
/// (`max(last_seen, last_applied)`, 0 when neither exists). Ids at or below it are never
/// proposed, seeded or allocated (docs/adr/0001-checkpoint-request-floor.md).
pub fn acknowledged_floor(conn: &Connection) -> Result<i64> {
    let seen = last_seen(conn)?.unwrap_or(0);
    let applied = last_applied(conn)?.unwrap_or(0);
    // A floor of MAX_OP_ID would make `next` overflow; the service never acknowledges it.
    Ok(seen.max(applied).clamp(0, MAX_OP_ID - 1))
}

/// Initial id proposed in requests mode: `max(last_requested, concrete target, floor, 1)`
/// (reference: without the floor). Nothing is written.
pub fn initial_request_id(conn: &Connection) -> Result<i64> {
    let counter = last_requested(conn)?.unwrap_or(0);
    let target = target(conn)?
        .filter(|t| *t > 0 && *t != MAX_OP_ID)
        .unwrap_or(0);
    Ok(counter.max(target).max(acknowledged_floor(conn)?).max(1))
}

/// Registers the gate's SQL functions on `conn`.
pub fn register_functions(conn: &Connection) -> Result<()> {
    use rusqlite::functions::FunctionFlags;
    let flags = FunctionFlags::SQLITE_UTF8;
    conn.create_scalar_function(
        "powersync_next_checkpoint_request_id",
        0,
        flags | FunctionFlags::SQLITE_DIRECTONLY,
        |ctx| {
            // SAFETY: as above.
            let conn = unsafe { ctx.get_connection()? };
            next_checkpoint_request_id(&conn).map_err(functions::to_rusqlite_error)
        },
    )?;
    register_probe(conn)
}

/// `powersync_probe_local_target_op` goes through [`functions::create_function`], which keeps the
/// 3091 error code (rusqlite's wrapper would report SQLITE_ERROR).
fn register_probe(conn: &Connection) -> Result<()> {
    functions::create_function(
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
