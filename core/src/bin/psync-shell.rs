// SPDX-License-Identifier: Apache-2.0
//! `psync-shell DB [SQL]`: runs SQL against a database opened through the core (so the
//! migrations ran and every core SQL function is available).
//!
//! Statements come from the argument or, without one, from stdin, one per line (blank lines
//! are skipped). Each statement prints exactly one JSON line: `{"rows": [[...], ...]}` or
//! `{"error": "..."}`. Blobs print as `{"blob": "<hex>"}`. Statements run in autocommit
//! mode on the writer connection, so transactions are exactly the `BEGIN`/`COMMIT`/
//! `ROLLBACK` the input contains. The exit status is 1 if any statement (or the open)
//! failed.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use psync_core::Database;
use rusqlite::Connection;
use rusqlite::types::ValueRef;
use serde_json::{Value as Json, json};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let (path, single) = match args.as_slice() {
        [path] => (path, None),
        [path, sql] => (path, Some(sql.clone())),
        _ => {
            let _ = writeln!(std::io::stderr(), "usage: psync-shell DB [SQL]");
            return ExitCode::from(2);
        }
    };
    let db = match Database::open(path) {
        Ok(db) => db,
        Err(e) => {
            let _ = emit(&mut out, &json!({ "error": e.to_string() }));
            return ExitCode::FAILURE;
        }
    };

    let mut failed = false;
    let mut run = |sql: &str, out: &mut std::io::StdoutLock<'_>| -> std::io::Result<()> {
        let result = db
            .with_writer_connection(|conn| Ok(run_statement(conn, sql)))
            .unwrap_or_else(|e| Err(e.to_string()));
        let line = match result {
            Ok(rows) => json!({ "rows": rows }),
            Err(message) => {
                failed = true;
                json!({ "error": message })
            }
        };
        emit(out, &line)
    };

    let io_result = match single {
        Some(sql) => run(&sql, &mut out),
        None => (|| {
            for line in std::io::stdin().lock().lines() {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                run(&line, &mut out)?;
            }
            Ok(())
        })(),
    };
    let closed = db.close();
    if io_result.is_err() || closed.is_err() || failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn emit(out: &mut impl Write, line: &Json) -> std::io::Result<()> {
    writeln!(out, "{line}")?;
    out.flush()
}

/// Runs one statement to completion, returning its rows as JSON arrays.
fn run_statement(conn: &Connection, sql: &str) -> Result<Vec<Json>, String> {
    let run = || -> rusqlite::Result<Vec<Json>> {
        let mut stmt = conn.prepare(sql)?;
        let columns = stmt.column_count();
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(value_to_json(row.get_ref(i)?));
            }
            out.push(Json::Array(values));
        }
        Ok(out)
    };
    run().map_err(|e| error_message(&e))
}

/// SQLite's own message, without rusqlite's decoration.
fn error_message(error: &rusqlite::Error) -> String {
    match error {
        rusqlite::Error::SqliteFailure(_, Some(message)) => message.clone(),
        rusqlite::Error::SqlInputError { msg, .. } => msg.clone(),
        other => other.to_string(),
    }
}

fn value_to_json(value: ValueRef<'_>) -> Json {
    match value {
        ValueRef::Null => Json::Null,
        ValueRef::Integer(i) => json!(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number),
        ValueRef::Text(t) => Json::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => {
            let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
            json!({ "blob": hex })
        }
    }
}
