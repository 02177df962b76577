// SPDX-License-Identifier: Apache-2.0
//! Raw tables (storage.md §3.6): synced rows whose `object_type` names a raw table are written
//! with the table's `put`/`delete` statements (explicit, or inferred from the local table's
//! columns) instead of `ps_data__<type>`.

use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;
use serde_json::{Map, Value};

use crate::{Error, Result};

/// One bound parameter of a raw-table statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawParam {
    /// The row id.
    Id,
    /// One column of the synced row.
    Column(String),
    /// A JSON object of every synced value not bound by name.
    Rest,
}

/// A statement with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawStatement {
    /// SQL text.
    pub sql: String,
    /// Parameters in order.
    pub params: Vec<RawParam>,
}

/// A raw table from the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTable {
    /// The service `object_type`.
    pub name: String,
    /// Local table (defaults to `name`).
    pub table_name: String,
    /// Columns that are synced (all when absent).
    pub synced_columns: Option<Vec<String>>,
    /// Explicit put statement.
    pub put: Option<RawStatement>,
    /// Explicit delete statement.
    pub delete: Option<RawStatement>,
}

fn parse_statement(value: Option<&Value>) -> Result<Option<RawStatement>> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let sql = value
        .get("sql")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::invalid_argument("raw table statement needs sql"))?;
    let mut params = Vec::new();
    for p in value
        .get("params")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
    {
        params.push(match p {
            Value::String(s) if s == "Id" => RawParam::Id,
            Value::String(s) if s == "Rest" => RawParam::Rest,
            Value::Object(o) => match o.get("Column").and_then(Value::as_str) {
                Some(c) => RawParam::Column(c.to_string()),
                None => return Err(Error::invalid_argument("unknown raw table parameter")),
            },
            _ => return Err(Error::invalid_argument("unknown raw table parameter")),
        });
    }
    Ok(Some(RawStatement {
        sql: sql.to_string(),
        params,
    }))
}

/// Reads `schema.raw_tables` of a `start` payload schema.
pub fn parse_raw_tables(schema: Option<&Value>) -> Result<Vec<RawTable>> {
    let Some(tables) = schema
        .and_then(|s| s.get("raw_tables"))
        .and_then(Value::as_array)
    else {
        return Ok(Vec::new());
    };
    tables
        .iter()
        .map(|t| {
            let name = t
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::invalid_argument("raw table needs a name"))?;
            Ok(RawTable {
                name: name.to_string(),
                table_name: t
                    .get("table_name")
                    .and_then(Value::as_str)
                    .unwrap_or(name)
                    .to_string(),
                synced_columns: t.get("synced_columns").and_then(Value::as_array).map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                }),
                put: parse_statement(t.get("put"))?,
                delete: parse_statement(t.get("delete"))?,
            })
        })
        .collect()
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The put and delete statements of `table`, inferring missing ones from its columns.
pub fn statements(conn: &Connection, table: &RawTable) -> Result<(RawStatement, RawStatement)> {
    let inferred_columns = || -> Result<Vec<String>> {
        let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")?;
        let columns = stmt
            .query_map([&table.table_name], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(columns
            .into_iter()
            .filter(|c| c != "id")
            .filter(|c| table.synced_columns.as_ref().is_none_or(|s| s.contains(c)))
            .collect())
    };
    let put = match &table.put {
        Some(p) => p.clone(),
        None => {
            let columns = inferred_columns()?;
            let names: Vec<String> = columns.iter().map(|c| quote(c)).collect();
            let marks = vec!["?"; columns.len() + 1].join(", ");
            let updates: Vec<String> = names
                .iter()
                .map(|c| format!("{c} = excluded.{c}"))
                .collect();
            let conflict = if updates.is_empty() {
                "DO NOTHING".to_string()
            } else {
                format!("DO UPDATE SET {}", updates.join(", "))
            };
            let mut column_list = vec!["id".to_string()];
            column_list.extend(names);
            RawStatement {
                sql: format!(
                    "INSERT INTO {}({}) VALUES ({marks}) ON CONFLICT(id) {conflict}",
                    quote(&table.table_name),
                    column_list.join(", ")
                ),
                params: std::iter::once(RawParam::Id)
                    .chain(columns.into_iter().map(RawParam::Column))
                    .collect(),
            }
        }
    };
    let delete = table.delete.clone().unwrap_or_else(|| RawStatement {
        sql: format!("DELETE FROM {} WHERE id = ?", quote(&table.table_name)),
        params: vec![RawParam::Id],
    });
    Ok((put, delete))
}

fn json_to_sql(value: Option<&Value>) -> SqlValue {
    match value {
        None | Some(Value::Null) => SqlValue::Null,
        Some(Value::Bool(b)) => SqlValue::Integer(i64::from(*b)),
        Some(Value::Number(n)) => n.as_i64().map_or_else(
            || SqlValue::Real(n.as_f64().unwrap_or(0.0)),
            SqlValue::Integer,
        ),
        Some(Value::String(s)) => SqlValue::Text(s.clone()),
        Some(other) => SqlValue::Text(other.to_string()),
    }
}

/// Runs `statement` for row `id` with `data` (a JSON object text, or `None` for deletes).
pub fn execute(
    conn: &Connection,
    statement: &RawStatement,
    id: &str,
    data: Option<&str>,
) -> Result<()> {
    let object: Map<String, Value> = match data {
        Some(text) => serde_json::from_str(text).unwrap_or_default(),
        None => Map::new(),
    };
    let named: Vec<&str> = statement
        .params
        .iter()
        .filter_map(|p| match p {
            RawParam::Column(c) => Some(c.as_str()),
            _ => None,
        })
        .collect();
    let values: Vec<SqlValue> = statement
        .params
        .iter()
        .map(|p| match p {
            RawParam::Id => SqlValue::Text(id.to_string()),
            RawParam::Column(c) => json_to_sql(object.get(c)),
            RawParam::Rest => {
                let rest: Map<String, Value> = object
                    .iter()
                    .filter(|(k, _)| !named.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                SqlValue::Text(Value::Object(rest).to_string())
            }
        })
        .collect();
    conn.prepare_cached(&statement.sql)?
        .execute(rusqlite::params_from_iter(values))?;
    Ok(())
}
