// SPDX-License-Identifier: Apache-2.0
//! SQL functions of the sync engine: `powersync_control(command, payload)`,
//! `powersync_offline_sync_status()` and `powersync_trigger_resync(clear_progress)`.
//!
//! This adapter is the only place that reads the wall clock; the engine gets time injected.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ffi};

use super::engine::offline_status;
use super::types::{SyncCommand, instructions_to_json};
use crate::storage::functions::constraint_datatype;
use crate::storage::functions::{self, Determinism};
use crate::storage::gate;
use crate::storage::state::DatabaseState;
use crate::value::Value;
use crate::{Error, ErrorKind, Result};

const CONTROL: &str = "powersync_control";

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Protocol errors are reported with SQLITE_ABORT like the reference core.
fn protocol_error_as_abort(e: Error) -> Error {
    match e.kind() {
        ErrorKind::Protocol(message) => rusqlite::Error::SqliteFailure(
            ffi::Error::new(ffi::SQLITE_ABORT),
            Some(format!("{CONTROL}: Sync protocol error: {message}")),
        )
        .into(),
        _ => e,
    }
}

fn value_ref(value: &Value) -> ValueRef<'_> {
    match value {
        Value::Null => ValueRef::Null,
        Value::Integer(i) => ValueRef::Integer(*i),
        Value::Real(f) => ValueRef::Real(*f),
        Value::Text(t) => ValueRef::Text(t.as_bytes()),
        Value::Blob(b) => ValueRef::Blob(b),
    }
}

fn text_payload<'a>(payload: &'a Value, command: &str) -> Result<&'a str> {
    match payload {
        Value::Text(t) => Ok(t),
        _ => Err(Error::invalid_argument(format!(
            "{command} expects a text payload"
        ))),
    }
}

fn seed_arg(payload: &Value) -> Result<i64> {
    let id = gate::parse_target_arg(value_ref(payload))?.ok_or_else(|| {
        constraint_datatype("checkpoint request id must be an integer or integer string")
    })?;
    if id <= 0 {
        return Err(constraint_datatype(
            "checkpoint request id must be a positive integer",
        ));
    }
    Ok(id)
}

fn control(conn: &Connection, state: &DatabaseState, args: &[Value]) -> Result<Value> {
    functions::require_transaction(conn, CONTROL)?;
    let command = match args.first() {
        Some(Value::Text(c)) => c.as_str(),
        _ => return Err(Error::invalid_argument("unknown command")),
    };
    let payload = args.get(1).unwrap_or(&Value::Null);
    let engine = &state.sync;
    let as_int = |v: Option<i64>| Ok(v.map_or(Value::Null, Value::Integer));
    let command = match command {
        "start" => SyncCommand::Start(match payload {
            Value::Null => Default::default(),
            Value::Text(t) => serde_json::from_str(t)
                .map_err(|e| Error::invalid_argument(format!("invalid start payload: {e}")))?,
            _ => return Err(Error::invalid_argument("start expects a JSON payload")),
        }),
        "stop" => SyncCommand::Stop,
        "line_text" => SyncCommand::LineText(text_payload(payload, command)?.to_string()),
        "line_binary" => match payload {
            Value::Blob(b) => SyncCommand::LineBinary(b.clone()),
            _ => {
                return Err(Error::invalid_argument(
                    "line_binary expects a blob payload",
                ));
            }
        },
        "connection" => match text_payload(payload, command)? {
            "established" => SyncCommand::ConnectionEstablished,
            "end" => SyncCommand::ConnectionEnd,
            _ => return Err(constraint_datatype("unknown connection event")),
        },
        "completed_upload" => SyncCommand::CompletedUpload,
        "refreshed_token" => SyncCommand::RefreshedToken,
        "update_subscriptions" => SyncCommand::UpdateSubscriptions(
            serde_json::from_str(text_payload(payload, command)?)
                .map_err(|e| constraint_datatype(&format!("invalid subscriptions: {e}")))?,
        ),
        "subscriptions" => {
            let text = text_payload(payload, command)?.to_owned();
            engine.control(conn, SyncCommand::Subscriptions(text), now_micros())?;
            return Ok(Value::Null);
        }
        "seed_checkpoint_request_id" => {
            let id = seed_arg(payload)?;
            return Ok(Value::Integer(engine.seed_checkpoint_request_id(conn, id)?));
        }
        "next_checkpoint_request_id" => {
            return Ok(Value::Integer(engine.next_checkpoint_request_id(conn)?));
        }
        "current_checkpoint_request_id" => {
            return as_int(engine.current_checkpoint_request_id(conn)?);
        }
        "target_checkpoint_request_id" => {
            let target = gate::parse_target_arg(value_ref(payload))?;
            return as_int(engine.target_checkpoint_request_id(conn, target)?);
        }
        _ => return Err(Error::invalid_argument("unknown command")),
    };
    let instructions = engine.control(conn, command, now_micros())?;
    Ok(Value::Text(instructions_to_json(&instructions)?))
}

/// Registers the sync SQL functions on `conn`.
pub fn register_functions(conn: &Connection, state: &Arc<DatabaseState>) -> Result<()> {
    let s = state.clone();
    functions::create_function(
        conn,
        CONTROL,
        -1,
        Determinism::Volatile,
        move |conn, args| control(conn, &s, args).map_err(protocol_error_as_abort),
    )?;
    functions::create_function(
        conn,
        "powersync_offline_sync_status",
        0,
        Determinism::Volatile,
        |conn, _| {
            let status = offline_status(conn)?;
            Ok(Value::Text(serde_json::to_string(&status)?))
        },
    )?;
    let s = state.clone();
    functions::create_function(
        conn,
        "powersync_trigger_resync",
        1,
        Determinism::Volatile,
        move |conn, args| {
            functions::require_transaction(conn, "powersync_trigger_resync")?;
            if s.sync_iteration_active.load(Ordering::SeqCst) {
                return Err(constraint_datatype(
                    "Cannot clear or trigger resync while a sync iteration is active.",
                ));
            }
            conn.execute("UPDATE ps_buckets SET last_applied_op = 0", [])?;
            let clear_progress =
                !matches!(args.first(), None | Some(Value::Null | Value::Integer(0)));
            if clear_progress {
                conn.execute("DELETE FROM ps_sync_state", [])?;
                conn.execute(
                    "UPDATE ps_stream_subscriptions SET last_synced_at = NULL",
                    [],
                )?;
            }
            // The reference core returns an empty text, not NULL.
            Ok(Value::Text(String::new()))
        },
    )
}
