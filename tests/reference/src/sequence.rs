// SPDX-License-Identifier: Apache-2.0
//! The language-neutral command-sequence format (`tests/sequences/*.json`).
//!
//! A sequence file is one JSON object:
//!
//! ```json
//! {"name": "c24-simple-iteration", "scenario": "24", "description": "…",
//!  "schema": {"tables": [...]},            // optional; default: the `items(col text)` schema
//!  "client_id": "test-test-test-test",      // optional; this is the default
//!  "steps": [
//!    {"control": ["start", null], "expect": [...]},
//!    {"control": ["line_text", {"checkpoint": {...}}]},
//!    {"sql": ["INSERT INTO items (id, col) VALUES (?, ?)", ["local", "data"]]},
//!    {"sql_tx": [["DELETE FROM ps_crud", []], ["SELECT 1", []]]},
//!    {"schema": {"tables": [...]}},
//!    {"clock": "+10m"},
//!    {"lock": "exclusive"}, {"unlock": null},
//!    {"reopen": null}, {"snapshot": null}
//!  ],
//!  "expect_final": {"items": [{"id": "row-0", "col": "hi"}]}}
//! ```
//!
//! Steps are replayed in order; each `control` call runs in its own `BEGIN IMMEDIATE`
//! transaction (as every SDK does), rolled back when it fails. `expect` / `expect_error` are
//! patterns (see [`crate::matcher`]) stating what the spec says the step returns; they are
//! checked against the reference core.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The schema most scenarios use: one synced table `items(col TEXT)`.
pub fn default_schema() -> Value {
    serde_json::json!({"tables": [{"name": "items", "columns": [{"name": "col", "type": "text"}]}]})
}

/// Client id the scenarios assume.
pub const DEFAULT_CLIENT_ID: &str = "test-test-test-test";

/// One replayable command sequence.
#[derive(Debug, Clone)]
pub struct Sequence {
    /// Unique name (file stem).
    pub name: String,
    /// Scenario number(s) in scenarios.md, if any.
    pub scenario: Option<String>,
    /// Schema applied after `powersync_init`; `None` applies no schema.
    pub schema: Option<Value>,
    /// Value stored as `ps_kv.client_id` after init.
    pub client_id: String,
    /// Steps in replay order.
    pub steps: Vec<Step>,
    /// Pattern the final state must match on the reference.
    pub expect_final: Option<Value>,
}

/// One step and what the spec says it returns.
#[derive(Debug, Clone)]
pub struct Step {
    /// The action to perform.
    pub action: Action,
    /// Pattern for the successful result.
    pub expect: Option<Value>,
    /// Pattern for the error object `{"code", "message"}`.
    pub expect_error: Option<Value>,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// `powersync_control(command, payload)` in its own transaction.
    Control {
        /// Command name.
        command: String,
        /// Payload (see [`crate::runner`] for the JSON → SQLite conversion).
        payload: Value,
    },
    /// One statement in autocommit mode; rows are recorded when it returns columns.
    Sql {
        /// Statement text.
        sql: String,
        /// Positional arguments.
        args: Vec<Value>,
    },
    /// Several statements in one transaction.
    SqlTx(Vec<(String, Vec<Value>)>),
    /// `powersync_replace_schema(schema)` in a transaction.
    Schema(Value),
    /// Advance the injected clock (ours); the reference reads the wall clock, so timestamps
    /// are normalised in every recording anyway.
    Clock(String),
    /// A second connection takes `BEGIN EXCLUSIVE` (to provoke SQLITE_BUSY).
    Lock,
    /// The second connection releases its lock.
    Unlock,
    /// Close and reopen the connection (process restart).
    Reopen,
    /// Record the current state in the recording.
    Snapshot,
}

impl Sequence {
    /// Parses a sequence from its JSON form.
    pub fn from_json(name: &str, value: &Value) -> Result<Self, String> {
        let object = value
            .as_object()
            .ok_or("a sequence must be a JSON object")?;
        let steps = object
            .get("steps")
            .and_then(Value::as_array)
            .ok_or("missing \"steps\" array")?
            .iter()
            .enumerate()
            .map(|(index, step)| Step::from_json(step).map_err(|e| format!("step {index}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let schema = match object.get("schema") {
            None => Some(default_schema()),
            Some(Value::Null) => None,
            Some(schema) => Some(schema.clone()),
        };
        Ok(Self {
            name: object
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(name)
                .to_owned(),
            scenario: object.get("scenario").map(|s| match s {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
            schema,
            client_id: object
                .get("client_id")
                .and_then(Value::as_str)
                .unwrap_or(DEFAULT_CLIENT_ID)
                .to_owned(),
            steps,
            expect_final: object.get("expect_final").cloned(),
        })
    }

    /// Serialises the sequence back into the file format.
    pub fn to_json(&self) -> Value {
        let mut object = serde_json::Map::new();
        object.insert("name".into(), Value::String(self.name.clone()));
        if let Some(scenario) = &self.scenario {
            object.insert("scenario".into(), Value::String(scenario.clone()));
        }
        object.insert("schema".into(), self.schema.clone().unwrap_or(Value::Null));
        object.insert("client_id".into(), Value::String(self.client_id.clone()));
        object.insert(
            "steps".into(),
            Value::Array(self.steps.iter().map(Step::to_json).collect()),
        );
        if let Some(expect) = &self.expect_final {
            object.insert("expect_final".into(), expect.clone());
        }
        Value::Object(object)
    }

    /// Reads one sequence file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let value: Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("sequence");
        Self::from_json(stem, &value).map_err(|e| format!("{}: {e}", path.display()))
    }
}

pub use psync_test_support::paths::sequences_dir;

/// Loads every `*.json` directly inside `dir`, sorted by file name.
pub fn load_dir(dir: &Path) -> Result<Vec<Sequence>, String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    paths.iter().map(|path| Sequence::load(path)).collect()
}

fn pair(value: &Value) -> Result<(String, Vec<Value>), String> {
    match value {
        Value::String(sql) => Ok((sql.clone(), Vec::new())),
        Value::Array(items) => {
            let sql = items
                .first()
                .and_then(Value::as_str)
                .ok_or("expected [sql, args]")?;
            let args = match items.get(1) {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(args)) => args.clone(),
                Some(_) => return Err("sql arguments must be an array".into()),
            };
            Ok((sql.to_owned(), args))
        }
        _ => Err("expected [sql, args] or a string".into()),
    }
}

impl Step {
    /// Parses one step object.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        let object = value.as_object().ok_or("a step must be an object")?;
        let mut action = None;
        for (key, body) in object {
            let parsed = match key.as_str() {
                "expect" | "expect_error" | "note" => continue,
                "control" => {
                    let items = body
                        .as_array()
                        .ok_or("control expects [command, payload]")?;
                    let command = items
                        .first()
                        .and_then(Value::as_str)
                        .ok_or("control command must be a string")?;
                    Action::Control {
                        command: command.to_owned(),
                        payload: items.get(1).cloned().unwrap_or(Value::Null),
                    }
                }
                "sql" => {
                    let (sql, args) = pair(body)?;
                    Action::Sql { sql, args }
                }
                "sql_tx" => Action::SqlTx(
                    body.as_array()
                        .ok_or("sql_tx expects a list of [sql, args]")?
                        .iter()
                        .map(pair)
                        .collect::<Result<_, _>>()?,
                ),
                "schema" => Action::Schema(body.clone()),
                "clock" => Action::Clock(body.as_str().ok_or("clock expects \"+10m\"")?.into()),
                "lock" => Action::Lock,
                "unlock" => Action::Unlock,
                "reopen" => Action::Reopen,
                "snapshot" => Action::Snapshot,
                other => return Err(format!("unknown step kind {other:?}")),
            };
            if action.replace(parsed).is_some() {
                return Err("a step must have exactly one action".into());
            }
        }
        Ok(Self {
            action: action.ok_or("a step needs an action")?,
            expect: object.get("expect").cloned(),
            expect_error: object.get("expect_error").cloned(),
        })
    }

    /// A step without expectations.
    pub fn new(action: Action) -> Self {
        Self {
            action,
            expect: None,
            expect_error: None,
        }
    }

    /// Serialises the step back into the file format.
    pub fn to_json(&self) -> Value {
        let pair_json = |sql: &str, args: &[Value]| serde_json::json!([sql, args]);
        let (key, body) = match &self.action {
            Action::Control { command, payload } => {
                ("control", serde_json::json!([command, payload]))
            }
            Action::Sql { sql, args } => ("sql", pair_json(sql, args)),
            Action::SqlTx(statements) => (
                "sql_tx",
                Value::Array(statements.iter().map(|(s, a)| pair_json(s, a)).collect()),
            ),
            Action::Schema(schema) => ("schema", schema.clone()),
            Action::Clock(delta) => ("clock", Value::String(delta.clone())),
            Action::Lock => ("lock", Value::String("exclusive".into())),
            Action::Unlock => ("unlock", Value::Null),
            Action::Reopen => ("reopen", Value::Null),
            Action::Snapshot => ("snapshot", Value::Null),
        };
        let mut object = serde_json::Map::new();
        object.insert(key.into(), body);
        if let Some(expect) = &self.expect {
            object.insert("expect".into(), expect.clone());
        }
        if let Some(expect) = &self.expect_error {
            object.insert("expect_error".into(), expect.clone());
        }
        Value::Object(object)
    }
}
