// SPDX-License-Identifier: Apache-2.0
//! The source database (the "app backend" SQLite) and its change capture.
//!
//! Every configured table gets triggers that append to `_psync_changes`; replication reads
//! that log. This way rows written directly by tests (or another process on the same file)
//! replicate exactly like uploads.

use crate::config::{SyncConfig, TableConfig};
use crate::error::ApiError;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params};
use serde_json::Value;
use std::path::Path;

/// One captured row change.
#[derive(Debug, Clone)]
pub struct Change {
    /// Position in the change log.
    pub seq: i64,
    /// Table name.
    pub table: String,
    /// Row id.
    pub id: String,
    /// Row data as JSON text; `None` for a delete.
    pub data: Option<String>,
}

/// Opens (or creates) the source database and installs tables and triggers.
pub fn open(path: Option<&Path>, config: &SyncConfig) -> rusqlite::Result<Connection> {
    let conn = match path {
        Some(path) => Connection::open(path)?,
        None => Connection::open_in_memory()?,
    };
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    if path.is_some() {
        conn.pragma_update(None, "journal_mode", "WAL")?;
    }
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _psync_changes(
             seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL,
             row_id TEXT NOT NULL, data TEXT);",
    )?;
    for table in &config.tables {
        conn.execute_batch(&table_sql(table))?;
    }
    Ok(conn)
}

fn table_sql(table: &TableConfig) -> String {
    let name = &table.name;
    let columns: String = table.columns.iter().map(|c| format!(", \"{c}\"")).collect();
    let json = |row: &str| {
        let mut parts = vec![format!("'id', {row}.id")];
        parts.extend(
            table
                .columns
                .iter()
                .map(|c| format!("'{c}', {row}.\"{c}\"")),
        );
        format!("json_object({})", parts.join(", "))
    };
    format!(
        "CREATE TABLE IF NOT EXISTS \"{name}\"(id TEXT PRIMARY KEY NOT NULL{columns});
         DROP TRIGGER IF EXISTS \"_psync_{name}_insert\";
         DROP TRIGGER IF EXISTS \"_psync_{name}_update\";
         DROP TRIGGER IF EXISTS \"_psync_{name}_delete\";
         CREATE TRIGGER \"_psync_{name}_insert\" AFTER INSERT ON \"{name}\" BEGIN
           INSERT INTO _psync_changes(tbl, row_id, data) VALUES ('{name}', NEW.id, {new});
         END;
         CREATE TRIGGER \"_psync_{name}_update\" AFTER UPDATE ON \"{name}\" BEGIN
           INSERT INTO _psync_changes(tbl, row_id, data)
             SELECT '{name}', OLD.id, NULL WHERE OLD.id IS NOT NEW.id;
           INSERT INTO _psync_changes(tbl, row_id, data) VALUES ('{name}', NEW.id, {new});
         END;
         CREATE TRIGGER \"_psync_{name}_delete\" AFTER DELETE ON \"{name}\" BEGIN
           INSERT INTO _psync_changes(tbl, row_id, data) VALUES ('{name}', OLD.id, NULL);
         END;",
        new = json("NEW"),
    )
}

/// The newest change-log position (0 when nothing was ever written).
pub fn source_position(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '_psync_changes'), 0)",
        [],
        |r| r.get(0),
    )
}

/// Reads every current row as a PUT change (initial replication of an existing database) and
/// clears the change log, returning the rows and the log position they reflect.
pub fn snapshot(conn: &Connection, config: &SyncConfig) -> rusqlite::Result<(Vec<Change>, i64)> {
    let position = source_position(conn)?;
    let mut changes = Vec::new();
    for table in &config.tables {
        let mut parts = vec!["'id', id".to_owned()];
        parts.extend(table.columns.iter().map(|c| format!("'{c}', \"{c}\"")));
        let sql = format!(
            "SELECT id, json_object({}) FROM \"{}\" ORDER BY rowid",
            parts.join(", "),
            table.name
        );
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt.query_map([], |r| {
            Ok(Change {
                seq: position,
                table: table.name.clone(),
                id: r.get(0)?,
                data: r.get(1)?,
            })
        })?;
        for row in rows {
            changes.push(row?);
        }
    }
    conn.execute(
        "DELETE FROM _psync_changes WHERE seq <= ?",
        params![position],
    )?;
    Ok((changes, position))
}

/// Takes the changes after `after` from the log (and removes them from it).
pub fn take_changes(conn: &Connection, after: i64) -> rusqlite::Result<Vec<Change>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, tbl, row_id, data FROM _psync_changes WHERE seq > ? ORDER BY seq",
    )?;
    let rows = stmt.query_map(params![after], |r| {
        Ok(Change {
            seq: r.get(0)?,
            table: r.get(1)?,
            id: r.get(2)?,
            data: r.get(3)?,
        })
    })?;
    let changes = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    if let Some(last) = changes.last() {
        conn.execute(
            "DELETE FROM _psync_changes WHERE seq <= ?",
            params![last.seq],
        )?;
    }
    Ok(changes)
}

/// Converts a JSON value to a SQLite value (objects/arrays become JSON text).
pub fn json_to_sql(value: &Value) -> SqlValue {
    match value {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        other => SqlValue::Text(other.to_string()),
    }
}

struct Entry<'a> {
    op: &'a str,
    table: &'a TableConfig,
    id: &'a str,
    data: Option<&'a serde_json::Map<String, Value>>,
}

fn parse_entry<'a>(config: &'a SyncConfig, entry: &'a Value) -> Result<Entry<'a>, String> {
    let obj = entry.as_object().ok_or("entry is not an object")?;
    let op = obj.get("op").and_then(Value::as_str).ok_or("missing op")?;
    if !matches!(op, "PUT" | "PATCH" | "DELETE") {
        return Err(format!("unknown op {op:?}"));
    }
    let table_name = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or("missing type")?;
    let table = config
        .table(table_name)
        .ok_or_else(|| format!("unknown type {table_name:?}"))?;
    let id = obj
        .get("id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("missing id")?;
    let data = match obj.get("data") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map),
        Some(_) => return Err("data is not an object".to_owned()),
    };
    if let Some(map) = data {
        for key in map.keys() {
            if key == "id" {
                if map.get("id").and_then(Value::as_str) != Some(id) {
                    return Err("data.id differs from id".to_owned());
                }
            } else if !table.columns.contains(key) {
                return Err(format!("unknown column {key:?} for type {table_name:?}"));
            }
        }
    }
    Ok(Entry {
        op,
        table,
        id,
        data,
    })
}

/// Applies an upload batch (ps_crud JSON shape) in one transaction; any bad entry rolls back
/// the whole batch and names the entry index. PUT without data writes a row with only its id;
/// PATCH of a missing row changes nothing.
pub fn apply_batch(
    conn: &mut Connection,
    config: &SyncConfig,
    body: &Value,
) -> Result<usize, ApiError> {
    let batch = body
        .get("batch")
        .and_then(Value::as_array)
        .ok_or_else(|| ApiError::validation(vec!["batch: expected an array".to_owned()]))?;
    let entries = batch
        .iter()
        .enumerate()
        .map(|(i, e)| parse_entry(config, e).map_err(|why| ApiError::upload_rejected(400, i, &why)))
        .collect::<Result<Vec<_>, _>>()?;
    let tx = conn
        .transaction()
        .map_err(|e| ApiError::internal(&e.to_string()))?;
    for (index, entry) in entries.iter().enumerate() {
        apply_entry(&tx, entry)
            .map_err(|e| ApiError::upload_rejected(422, index, &e.to_string()))?;
    }
    tx.commit()
        .map_err(|e| ApiError::internal(&e.to_string()))?;
    Ok(entries.len())
}

fn apply_entry(tx: &rusqlite::Transaction<'_>, entry: &Entry<'_>) -> rusqlite::Result<()> {
    let table = &entry.table.name;
    let columns: Vec<(&String, &Value)> = entry
        .data
        .map(|m| m.iter().filter(|(k, _)| *k != "id").collect())
        .unwrap_or_default();
    match entry.op {
        "PUT" => {
            let names: String = columns.iter().map(|(c, _)| format!(", \"{c}\"")).collect();
            let marks: String = columns.iter().map(|_| ", ?").collect();
            let sql = format!("INSERT OR REPLACE INTO \"{table}\"(id{names}) VALUES (?{marks})");
            let mut values = vec![SqlValue::Text(entry.id.to_owned())];
            values.extend(columns.iter().map(|(_, v)| json_to_sql(v)));
            tx.execute(&sql, rusqlite::params_from_iter(values))?;
        }
        "PATCH" => {
            if columns.is_empty() {
                return Ok(());
            }
            let sets: Vec<String> = columns
                .iter()
                .map(|(c, _)| format!("\"{c}\" = ?"))
                .collect();
            let sql = format!("UPDATE \"{table}\" SET {} WHERE id = ?", sets.join(", "));
            let mut values: Vec<SqlValue> = columns.iter().map(|(_, v)| json_to_sql(v)).collect();
            values.push(SqlValue::Text(entry.id.to_owned()));
            tx.execute(&sql, rusqlite::params_from_iter(values))?;
        }
        _ => {
            tx.execute(
                &format!("DELETE FROM \"{table}\" WHERE id = ?"),
                params![entry.id],
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn triggers_capture_insert_update_delete() {
        let config = SyncConfig::default();
        let conn = open(None, &config).expect("open");
        conn.execute(
            "INSERT INTO lists(id, name, owner_id) VALUES ('l1', 'a', 'u1')",
            [],
        )
        .expect("insert");
        conn.execute("UPDATE lists SET id = 'l2' WHERE id = 'l1'", [])
            .expect("update");
        conn.execute("DELETE FROM lists", []).expect("delete");
        let changes = take_changes(&conn, 0).expect("changes");
        let summary: Vec<(String, bool)> = changes
            .iter()
            .map(|c| (c.id.clone(), c.data.is_some()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("l1".to_owned(), true),
                ("l1".to_owned(), false),
                ("l2".to_owned(), true),
                ("l2".to_owned(), false)
            ]
        );
        assert_eq!(
            changes[0].data.as_deref(),
            Some(r#"{"id":"l1","name":"a","owner_id":"u1","created_at":null}"#)
        );
        assert!(take_changes(&conn, 0).expect("again").is_empty());
        assert_eq!(source_position(&conn).expect("pos"), 4);
    }

    #[test]
    fn bad_entry_rolls_back_whole_batch() {
        let config = SyncConfig::default();
        let mut conn = open(None, &config).expect("open");
        let body = json!({"batch": [
            {"op": "PUT", "type": "lists", "id": "l1", "data": {"name": "x"}},
            {"op": "PUT", "type": "nope", "id": "l2", "data": {}}
        ]});
        let err = apply_batch(&mut conn, &config, &body).expect_err("rejected");
        assert_eq!(err.status, 400);
        assert_eq!(
            err.details.as_ref().and_then(|d| d.get("index")),
            Some(&json!(1))
        );
        let count: i64 = conn
            .query_row("SELECT count(*) FROM lists", [], |r| r.get(0))
            .expect("q");
        assert_eq!(count, 0);
    }

    #[test]
    fn put_patch_delete_apply() {
        let config = SyncConfig::default();
        let mut conn = open(None, &config).expect("open");
        let body = json!({"batch": [
            {"op": "PUT", "type": "todos", "id": "t1", "data": {"description": "a", "completed": false}},
            {"op": "PATCH", "type": "todos", "id": "t1", "data": {"completed": true}},
            {"op": "PUT", "type": "todos", "id": "t2", "data": {"description": "b"}},
            {"op": "DELETE", "type": "todos", "id": "t2"}
        ]});
        assert_eq!(apply_batch(&mut conn, &config, &body).expect("ok"), 4);
        let (desc, done): (String, i64) = conn
            .query_row("SELECT description, completed FROM todos", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("row");
        assert_eq!((desc.as_str(), done), ("a", 1));
    }
}
