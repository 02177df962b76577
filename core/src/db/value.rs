// SPDX-License-Identifier: Apache-2.0
//! Owned SQLite values and result rows, independent of rusqlite's borrowed types so they can
//! cross threads and the FFI layer.

use std::sync::Arc;

use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

/// One SQLite value, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A 64-bit signed integer.
    Integer(i64),
    /// A 64-bit float.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Raw bytes.
    Blob(Vec<u8>),
}

impl Value {
    /// `true` for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The integer, if this is an integer.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The number as a float, if this is a real or an integer.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Real(f) => Some(*f),
            Value::Integer(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// The text, if this is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes, if this is a blob.
    pub fn as_blob(&self) -> Option<&[u8]> {
        match self {
            Value::Blob(b) => Some(b),
            _ => None,
        }
    }

    /// Copies a borrowed rusqlite value. Invalid UTF-8 in text is replaced rather than
    /// rejected, because SQLite does not validate text it stores.
    pub fn from_ref(value: ValueRef<'_>) -> Self {
        match value {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(f) => Value::Real(f),
            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Integer(i64::from(v))
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Integer(i64::from(v))
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Integer(i64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Blob(v.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl FromSql for Value {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Ok(Value::from_ref(value))
    }
}

/// One result row: the statement's column names (shared between the rows of a query) and
/// the values.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    /// Builds a row; `values` must be in the order of `columns`.
    pub fn new(columns: Arc<[String]>, values: Vec<Value>) -> Self {
        Row { columns, values }
    }

    /// Column names, in statement order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Values, in statement order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// Consumes the row, returning its values.
    pub fn into_values(self) -> Vec<Value> {
        self.values
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// `true` when the statement returned no columns.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The value at `index`, if there is such a column.
    pub fn get(&self, index: usize) -> Option<&Value> {
        self.values.get(index)
    }

    /// The value of the first column named `name` (case-sensitive), if any.
    pub fn get_by_name(&self, name: &str) -> Option<&Value> {
        let index = self.columns.iter().position(|c| c == name)?;
        self.values.get(index)
    }

    /// Reads every row of an executed rusqlite query into owned rows.
    pub(crate) fn collect_all(mut rows: rusqlite::Rows<'_>) -> rusqlite::Result<Vec<Row>> {
        let columns = match rows.as_ref() {
            Some(stmt) => column_names(stmt),
            None => Arc::from(Vec::new()),
        };
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(Row::from_rusqlite(&columns, row)?);
        }
        Ok(out)
    }

    /// Reads the first row of an executed rusqlite query, if any.
    pub(crate) fn collect_first(mut rows: rusqlite::Rows<'_>) -> rusqlite::Result<Option<Row>> {
        let columns = match rows.as_ref() {
            Some(stmt) => column_names(stmt),
            None => Arc::from(Vec::new()),
        };
        match rows.next()? {
            Some(row) => Ok(Some(Row::from_rusqlite(&columns, row)?)),
            None => Ok(None),
        }
    }

    fn from_rusqlite(columns: &Arc<[String]>, row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
        let mut values = Vec::with_capacity(columns.len());
        for index in 0..columns.len() {
            values.push(Value::from_ref(row.get_ref(index)?));
        }
        Ok(Row::new(Arc::clone(columns), values))
    }
}

fn column_names(stmt: &rusqlite::Statement<'_>) -> Arc<[String]> {
    stmt.column_names()
        .map(str::to_owned)
        .collect::<Vec<_>>()
        .into()
}

/// Parameter sets for [`crate::Database::execute_batch`] from JSON text: an array of arrays of
/// `null`, booleans (stored as 0/1), numbers (integers that fit in 64 bits stay integers) and
/// strings. Hosts whose per-value marshalling is slow encode the sets with their native JSON
/// encoder and cross the FFI once; blobs cannot be expressed and need the typed path.
pub fn param_sets_from_json(text: &str) -> crate::Result<Vec<Vec<Value>>> {
    serde_json::from_str::<Vec<Vec<JsonParam>>>(text)
        .map(|sets| {
            sets.into_iter()
                .map(|set| set.into_iter().map(|p| p.0).collect())
                .collect()
        })
        .map_err(|e| crate::Error::invalid_argument(format!("parameter sets: {e}")))
}

/// One JSON parameter, decoded straight into a [`Value`].
struct JsonParam(Value);

impl<'de> serde::Deserialize<'de> for JsonParam {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(JsonParamVisitor)
            .map(JsonParam)
    }
}

struct JsonParamVisitor;

impl serde::de::Visitor<'_> for JsonParamVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("null, a boolean, a number or a string")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Integer(i64::from(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Integer(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Integer)
            .map_err(|_| E::custom(format!("integer {v} does not fit in 64 bits")))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Real(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Text(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Text(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_pick_the_matching_variant() {
        assert_eq!(Value::from(3_i32), Value::Integer(3));
        assert_eq!(Value::from(true), Value::Integer(1));
        assert_eq!(Value::from("a"), Value::Text("a".into()));
        assert_eq!(Value::from(None::<i64>), Value::Null);
        assert_eq!(Value::from(Some(1.5)), Value::Real(1.5));
        assert_eq!(Value::from(&[1_u8, 2][..]), Value::Blob(vec![1, 2]));
    }

    #[test]
    fn row_getters_by_index_and_name() {
        let row = Row::new(
            Arc::from(vec!["a".to_owned(), "b".to_owned()]),
            vec![Value::Integer(1), Value::Null],
        );
        assert_eq!(row.get(0), Some(&Value::Integer(1)));
        assert_eq!(row.get_by_name("b"), Some(&Value::Null));
        assert_eq!(row.get_by_name("c"), None);
        assert_eq!(row.get(2), None);
        assert_eq!(row.len(), 2);
    }
}
