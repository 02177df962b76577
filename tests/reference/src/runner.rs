// SPDX-License-Identifier: Apache-2.0
//! Replays a [`Sequence`] into one core and records what happened.
//!
//! Every sequence runs against a fresh file database in WAL mode (as SDKs open it) inside a
//! temporary directory. Setup: `powersync_init()`, `ps_kv.client_id := <client_id>`,
//! `powersync_replace_schema(schema)`, each in its own transaction.
//!
//! Payload conversion for `control`: JSON null → NULL, integer → INTEGER, float → REAL,
//! string → TEXT, bool → 0/1, object/array → JSON TEXT, except that an object payload for
//! `line_binary` is encoded as a BSON document BLOB.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;
use serde_json::{Value, json};

use crate::normalise::normalise_timestamps;
use crate::sequence::{Action, Sequence};
use crate::snapshot::{query_rows, snapshot, sqlite_value_to_json};
use crate::{DatabaseState, open_ours, open_reference};

/// Which implementation a replay drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Core {
    /// The real PowerSync core 0.5.3 loaded from its shared library.
    Reference,
    /// Our `psync-core`, registered with `psync_core::storage::register`.
    Ours,
}

impl Core {
    /// Short label for reports.
    pub fn label(self) -> &'static str {
        match self {
            Core::Reference => "reference",
            Core::Ours => "ours",
        }
    }
}

/// Everything observed while replaying one sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// Results of the setup statements (init, client id, schema).
    pub setup: Vec<Value>,
    /// One result per step: `{"ok": value}` or `{"error": {"code", "message"}}`.
    pub steps: Vec<Value>,
    /// The state after every `snapshot` step.
    pub snapshots: Vec<Value>,
    /// The state after the last step.
    pub final_state: Value,
}

/// A live connection to one core over a file database.
pub struct Session {
    core: Core,
    path: PathBuf,
    conn: Connection,
    _state: Option<Arc<DatabaseState>>,
    locker: Option<Connection>,
    _dir: Option<tempfile::TempDir>,
}

fn open_core(core: Core, path: &Path) -> Result<(Connection, Option<Arc<DatabaseState>>), String> {
    let (conn, state) = match core {
        Core::Reference => (open_reference(path).map_err(|e| e.to_string())?, None),
        Core::Ours => {
            let (conn, state) = open_ours(path).map_err(|e| e.to_string())?;
            (conn, Some(state))
        }
    };
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(|e| e.to_string())?;
    // Durability is irrelevant for replays; skipping fsync keeps the suites fast.
    conn.pragma_update(None, "synchronous", "OFF")
        .map_err(|e| e.to_string())?;
    // Fail fast on locks: the BUSY scenarios rely on seeing SQLITE_BUSY immediately.
    conn.busy_timeout(std::time::Duration::ZERO)
        .map_err(|e| e.to_string())?;
    Ok((conn, state))
}

/// Converts a step argument from JSON to an SQLite value.
pub fn json_to_sql(value: &Value) -> SqlValue {
    match value {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        Value::Object(_) | Value::Array(_) => SqlValue::Text(value.to_string()),
    }
}

fn control_payload(command: &str, payload: &Value) -> Result<SqlValue, String> {
    if command == "line_binary" && payload.is_object() {
        let document = bson::to_document(payload).map_err(|e| format!("bson: {e}"))?;
        let mut bytes = Vec::new();
        document
            .to_writer(&mut bytes)
            .map_err(|e| format!("bson: {e}"))?;
        return Ok(SqlValue::Blob(bytes));
    }
    Ok(json_to_sql(payload))
}

/// `{"error": {"code": <extended code>, "message": <text>}}` for a failed step.
pub fn error_json(error: &rusqlite::Error) -> Value {
    match error {
        rusqlite::Error::SqliteFailure(failure, message) => json!({"error": {
            "code": failure.extended_code,
            "message": message.clone().unwrap_or_else(|| failure.to_string()),
        }}),
        other => json!({"error": {"code": null, "message": other.to_string()}}),
    }
}

/// Turns a function result into JSON; JSON text results (instructions) are parsed.
fn result_json(value: rusqlite::types::ValueRef<'_>) -> Value {
    if let rusqlite::types::ValueRef::Text(text) = value {
        let text = String::from_utf8_lossy(text);
        if (text.starts_with('[') || text.starts_with('{'))
            && let Ok(parsed) = serde_json::from_str::<Value>(&text)
        {
            return parsed;
        }
        return Value::String(text.into_owned());
    }
    sqlite_value_to_json(value)
}

impl Session {
    /// Opens a fresh database in a new temporary directory and runs the sequence's setup.
    pub fn create(core: Core, sequence: &Sequence) -> Result<(Self, Vec<Value>), String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("test.db");
        let (conn, state) = open_core(core, &path)?;
        let mut session = Self {
            core,
            path,
            conn,
            _state: state,
            locker: None,
            _dir: Some(dir),
        };
        let mut setup = vec![session.in_transaction(&[("SELECT powersync_init()".into(), vec![])])];
        setup.push(session.in_transaction(&[(
            "UPDATE ps_kv SET value = ? WHERE key = 'client_id'".into(),
            vec![Value::String(sequence.client_id.clone())],
        )]));
        if let Some(schema) = &sequence.schema {
            setup.push(session.replace_schema(schema));
        }
        Ok((session, setup))
    }

    /// The connection (for extra assertions in tests).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Which core this session drives.
    pub fn core(&self) -> Core {
        self.core
    }

    fn replace_schema(&mut self, schema: &Value) -> Value {
        self.in_transaction(&[(
            "SELECT powersync_replace_schema(?)".into(),
            vec![Value::String(schema.to_string())],
        )])
    }

    /// Runs one statement, returning its rows (if it has columns) or the change count.
    fn statement(&self, sql: &str, args: &[Value]) -> rusqlite::Result<Value> {
        let args: Vec<SqlValue> = args.iter().map(json_to_sql).collect();
        let column_count = self.conn.prepare(sql)?.column_count();
        if column_count > 0 {
            let rows = query_rows(&self.conn, sql, &args)?;
            // A single-cell result is reported as its value, which keeps expectations short.
            if rows.len() == 1
                && column_count == 1
                && let Some(Value::Object(row)) = rows.first()
                && let Some(value) = row.values().next()
            {
                let mut value = match value {
                    Value::String(text) => {
                        result_json(rusqlite::types::ValueRef::Text(text.as_bytes()))
                    }
                    other => other.clone(),
                };
                normalise_timestamps(&mut value);
                return Ok(value);
            }
            let mut rows = Value::Array(rows);
            normalise_timestamps(&mut rows);
            Ok(rows)
        } else {
            let changes = self
                .conn
                .execute(sql, rusqlite::params_from_iter(args.iter()))?;
            Ok(json!({ "changes": changes }))
        }
    }

    /// Runs statements in one `BEGIN IMMEDIATE` transaction; rolls back on the first error.
    fn in_transaction(&mut self, statements: &[(String, Vec<Value>)]) -> Value {
        if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
            return error_json(&e);
        }
        let mut results = Vec::new();
        for (sql, args) in statements {
            match self.statement(sql, args) {
                Ok(value) => results.push(value),
                Err(e) => {
                    let _ = self.conn.execute_batch("ROLLBACK");
                    return error_json(&e);
                }
            }
        }
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            let _ = self.conn.execute_batch("ROLLBACK");
            return error_json(&e);
        }
        if results.len() == 1 {
            json!({ "ok": results.pop() })
        } else {
            json!({ "ok": results })
        }
    }

    /// Calls `powersync_control(command, payload)` in its own transaction.
    pub fn control(&mut self, command: &str, payload: &Value) -> Value {
        let payload = match control_payload(command, payload) {
            Ok(payload) => payload,
            Err(message) => return json!({"error": {"code": null, "message": message}}),
        };
        if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
            return error_json(&e);
        }
        let result = self.conn.query_row(
            "SELECT powersync_control(?, ?)",
            rusqlite::params![command, payload],
            |row| Ok(result_json(row.get_ref(0)?)),
        );
        match result {
            Ok(mut value) => match self.conn.execute_batch("COMMIT") {
                Ok(()) => {
                    normalise_timestamps(&mut value);
                    json!({ "ok": value })
                }
                Err(e) => {
                    let _ = self.conn.execute_batch("ROLLBACK");
                    error_json(&e)
                }
            },
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                error_json(&e)
            }
        }
    }

    /// Performs one action, returning its result JSON.
    pub fn perform(&mut self, action: &Action, snapshots: &mut Vec<Value>) -> Value {
        match action {
            Action::Control { command, payload } => self.control(command, payload),
            Action::Sql { sql, args } => match self.statement(sql, args) {
                Ok(value) => json!({ "ok": value }),
                Err(e) => error_json(&e),
            },
            Action::SqlTx(statements) => self.in_transaction(statements),
            Action::Schema(schema) => self.replace_schema(schema),
            // Neither core reads an injectable clock through SQL yet; timestamps are normalised.
            Action::Clock(_) => json!({ "ok": null }),
            Action::Lock => {
                let result = Connection::open(&self.path).and_then(|locker| {
                    locker.execute_batch("BEGIN EXCLUSIVE")?;
                    Ok(locker)
                });
                match result {
                    Ok(locker) => {
                        self.locker = Some(locker);
                        json!({ "ok": null })
                    }
                    Err(e) => error_json(&e),
                }
            }
            Action::Unlock => {
                if let Some(locker) = self.locker.take() {
                    let _ = locker.execute_batch("ROLLBACK");
                }
                json!({ "ok": null })
            }
            Action::Reopen => match open_core(self.core, &self.path) {
                Ok((conn, state)) => {
                    self.conn = conn;
                    self._state = state;
                    json!({ "ok": null })
                }
                Err(message) => json!({"error": {"code": null, "message": message}}),
            },
            Action::Snapshot => match snapshot(&self.conn) {
                Ok(state) => {
                    snapshots.push(state);
                    json!({ "ok": null })
                }
                Err(e) => error_json(&e),
            },
        }
    }
}

/// Replays `sequence` into a fresh database driven by `core`.
pub fn replay(core: Core, sequence: &Sequence) -> Result<Recording, String> {
    let (mut session, setup) = Session::create(core, sequence)?;
    let mut snapshots = Vec::new();
    let mut steps = Vec::with_capacity(sequence.steps.len());
    for step in &sequence.steps {
        steps.push(session.perform(&step.action, &mut snapshots));
    }
    if let Some(locker) = session.locker.take() {
        let _ = locker.execute_batch("ROLLBACK");
    }
    let final_state = snapshot(&session.conn).map_err(|e| format!("final snapshot: {e}"))?;
    Ok(Recording {
        setup,
        steps,
        snapshots,
        final_state,
    })
}

/// Checks a recording (of either core) against the spec expectations written in the sequence.
/// Returns one message per violated expectation.
pub fn check_expectations(sequence: &Sequence, recording: &Recording) -> Vec<String> {
    let mut failures = Vec::new();
    for (index, setup) in recording.setup.iter().enumerate() {
        if setup.get("error").is_some() {
            failures.push(format!("setup {index} failed: {setup}"));
        }
    }
    for (index, (step, result)) in sequence.steps.iter().zip(&recording.steps).enumerate() {
        let describe = || {
            step.to_json()
                .to_string()
                .chars()
                .take(160)
                .collect::<String>()
        };
        if let Some(pattern) = &step.expect {
            match result.get("ok") {
                Some(value) => {
                    if let Err(e) = crate::matcher::matches(pattern, value) {
                        failures.push(format!("step {index} {}: {e}", describe()));
                    }
                }
                None => failures.push(format!(
                    "step {index} {}: expected success, got {result}",
                    describe()
                )),
            }
        }
        if let Some(pattern) = &step.expect_error {
            match result.get("error") {
                Some(error) => {
                    if let Err(e) = crate::matcher::matches(pattern, error) {
                        failures.push(format!("step {index} {}: {e}", describe()));
                    }
                }
                None => failures.push(format!(
                    "step {index} {}: expected an error, got {result}",
                    describe()
                )),
            }
        }
    }
    if let Some(pattern) = &sequence.expect_final
        && let Err(e) = crate::matcher::matches(pattern, &recording.final_state)
    {
        failures.push(format!("final state: {e}"));
    }
    failures
}
