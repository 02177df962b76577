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
/// `null`, booleans (stored as 0/1), numbers and strings. Hosts whose per-value marshalling is
/// slow encode the sets with their native JSON encoder and cross the FFI once; blobs cannot be
/// expressed and need the typed path.
///
/// A number written without a fraction or exponent is an integer and must fit in 64 bits (an
/// error otherwise, never a silent conversion to a float); any other number is a float.
pub fn param_sets_from_json(text: &str) -> crate::Result<Vec<Vec<Value>>> {
    let invalid = |what: String| crate::Error::invalid_argument(format!("parameter sets: {what}"));
    let sets: Vec<Vec<&serde_json::value::RawValue>> =
        serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
    sets.into_iter()
        .map(|set| {
            set.into_iter()
                .map(|raw| json_param(raw.get()).map_err(&invalid))
                .collect()
        })
        .collect()
}

/// One JSON parameter, from its text (already known to be valid JSON).
fn json_param(text: &str) -> Result<Value, String> {
    match text.as_bytes().first() {
        Some(b'n') => Ok(Value::Null),
        Some(b't') => Ok(Value::Integer(1)),
        Some(b'f') => Ok(Value::Integer(0)),
        Some(b'"') => serde_json::from_str(text)
            .map(Value::Text)
            .map_err(|e| e.to_string()),
        Some(b'-' | b'0'..=b'9') if text.contains(['.', 'e', 'E']) => text
            .parse()
            .map(Value::Real)
            .map_err(|_| format!("{text} is not a number")),
        Some(b'-' | b'0'..=b'9') => text
            .parse()
            .map(Value::Integer)
            .map_err(|_| format!("integer {text} does not fit in 64 bits")),
        _ => Err(format!(
            "{text} is not null, a boolean, a number or a string"
        )),
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
