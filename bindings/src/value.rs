// SPDX-License-Identifier: Apache-2.0
//! SQLite values and rows as they cross the FFI.

use psync_core::{Row as CoreRow, Value as CoreValue};

/// One SQLite value.
#[derive(Debug, Clone, PartialEq, uniffi::Enum)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A 64-bit signed integer.
    Integer {
        /// The integer.
        value: i64,
    },
    /// A 64-bit float.
    Real {
        /// The float.
        value: f64,
    },
    /// UTF-8 text.
    Text {
        /// The text.
        value: String,
    },
    /// Raw bytes.
    Blob {
        /// The bytes.
        value: Vec<u8>,
    },
}

impl From<Value> for CoreValue {
    fn from(value: Value) -> Self {
        match value {
            Value::Null => CoreValue::Null,
            Value::Integer { value } => CoreValue::Integer(value),
            Value::Real { value } => CoreValue::Real(value),
            Value::Text { value } => CoreValue::Text(value),
            Value::Blob { value } => CoreValue::Blob(value),
        }
    }
}

impl From<CoreValue> for Value {
    fn from(value: CoreValue) -> Self {
        match value {
            CoreValue::Null => Value::Null,
            CoreValue::Integer(value) => Value::Integer { value },
            CoreValue::Real(value) => Value::Real { value },
            CoreValue::Text(value) => Value::Text { value },
            CoreValue::Blob(value) => Value::Blob { value },
        }
    }
}

impl Value {
    /// The SQLite value of a JSON value from the upload queue: SQLite wrote these documents
    /// with `json_object`, so they hold scalars (booleans as 0/1); anything nested stays JSON
    /// text.
    pub(crate) fn from_json(value: serde_json::Value) -> Self {
        match value {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(value) => Value::Integer {
                value: i64::from(value),
            },
            serde_json::Value::Number(number) => match number.as_i64() {
                Some(value) => Value::Integer { value },
                None => Value::Real {
                    value: number.as_f64().unwrap_or(f64::NAN),
                },
            },
            serde_json::Value::String(value) => Value::Text { value },
            nested => Value::Text {
                value: nested.to_string(),
            },
        }
    }
}

/// Converts foreign parameters to core values.
pub(crate) fn to_core_params(params: Vec<Value>) -> Vec<CoreValue> {
    params.into_iter().map(CoreValue::from).collect()
}

/// One result row: column names and values in the same order.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Row {
    /// Column names, as the query named them.
    pub columns: Vec<String>,
    /// Values, one per column.
    pub values: Vec<Value>,
}

impl From<CoreRow> for Row {
    fn from(row: CoreRow) -> Self {
        let columns = row.columns().to_vec();
        Row {
            columns,
            values: row.into_values().into_iter().map(Value::from).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_core() {
        let values = vec![
            Value::Null,
            Value::Integer { value: -7 },
            Value::Real { value: 1.5 },
            Value::Text { value: "x".into() },
            Value::Blob {
                value: vec![0, 255],
            },
        ];
        let back: Vec<Value> = to_core_params(values.clone())
            .into_iter()
            .map(Value::from)
            .collect();
        assert_eq!(back, values);
    }
}
