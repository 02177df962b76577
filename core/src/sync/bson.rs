// SPDX-License-Identifier: Apache-2.0
//! A small, bounds-checked BSON reader for sync lines (sync-protocol.md §3).
//!
//! Only the element types the service sends are supported: documents, arrays, strings, int32,
//! int64, double, bool and null. Anything else, truncated input, or nesting deeper than
//! [`MAX_DEPTH`] is an error; the reader never panics. Documents become `serde_json::Value`s so
//! the JSON and BSON paths share one typed decoder.

use serde_json::{Map, Number, Value};

/// Deepest nesting accepted (sync lines nest at most four levels).
pub const MAX_DEPTH: usize = 32;

/// Why a BSON document could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BsonError(pub String);

impl std::fmt::Display for BsonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(what: &str) -> Result<T, BsonError> {
    Err(BsonError(what.to_string()))
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BsonError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.bytes.len());
        match end {
            Some(end) => {
                let slice = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(slice)
            }
            None => err("unexpected end of document"),
        }
    }

    fn byte(&mut self) -> Result<u8, BsonError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], BsonError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn i32(&mut self) -> Result<i32, BsonError> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    fn cstring(&mut self) -> Result<&'a str, BsonError> {
        let rest = &self.bytes[self.pos.min(self.bytes.len())..];
        let Some(nul) = rest.iter().position(|b| *b == 0) else {
            return err("unterminated element name");
        };
        let name = self.take(nul)?;
        self.pos += 1;
        std::str::from_utf8(name).or_else(|_| err("element name is not UTF-8"))
    }

    fn string(&mut self) -> Result<&'a str, BsonError> {
        let len = self.i32()?;
        let len = usize::try_from(len).ok().filter(|l| *l >= 1);
        let Some(len) = len else {
            return err("invalid string length");
        };
        let bytes = self.take(len)?;
        let (text, nul) = bytes.split_at(len - 1);
        if nul != [0] {
            return err("string is not NUL-terminated");
        }
        std::str::from_utf8(text).or_else(|_| err("string is not UTF-8"))
    }

    /// Reads a document (or array) starting at the current position.
    fn document(&mut self, depth: usize, as_array: bool) -> Result<Value, BsonError> {
        if depth > MAX_DEPTH {
            return err("document nested too deeply");
        }
        let start = self.pos;
        let len = usize::try_from(self.i32()?).unwrap_or(0);
        if len < 5 {
            return err("invalid document length");
        }
        let end = start
            .checked_add(len)
            .filter(|e| *e <= self.bytes.len())
            .ok_or_else(|| BsonError("document length exceeds input".into()))?;
        let mut map = Map::new();
        let mut items = Vec::new();
        loop {
            if self.pos >= end {
                return err("document is missing its terminator");
            }
            let kind = self.byte()?;
            if kind == 0 {
                break;
            }
            let name = self.cstring()?;
            let value = match kind {
                0x01 => {
                    let f = f64::from_le_bytes(self.array()?);
                    Value::Number(
                        Number::from_f64(f).ok_or_else(|| BsonError("non-finite double".into()))?,
                    )
                }
                0x02 => Value::String(self.string()?.to_string()),
                0x03 => self.document(depth + 1, false)?,
                0x04 => self.document(depth + 1, true)?,
                0x08 => match self.byte()? {
                    0 => Value::Bool(false),
                    1 => Value::Bool(true),
                    _ => return err("invalid boolean"),
                },
                0x0A => Value::Null,
                0x10 => Value::from(self.i32()?),
                0x12 => Value::from(i64::from_le_bytes(self.array()?)),
                _ => return err("unsupported BSON element type"),
            };
            if self.pos > end {
                return err("element overruns its document");
            }
            if as_array {
                items.push(value);
            } else {
                map.insert(name.to_string(), value);
            }
        }
        if self.pos != end {
            return err("document length does not match its contents");
        }
        Ok(if as_array {
            Value::Array(items)
        } else {
            Value::Object(map)
        })
    }
}

/// Parses exactly one BSON document spanning all of `bytes`.
pub fn parse_document(bytes: &[u8]) -> Result<Value, BsonError> {
    let mut reader = Reader { bytes, pos: 0 };
    let value = reader.document(0, false)?;
    if reader.pos != bytes.len() {
        return err("trailing bytes after document");
    }
    Ok(value)
}

/// Test helper and documentation of the format: encodes a JSON value as BSON (objects only at
/// the top level; integers become int64 unless they fit int32).
pub fn encode_document(value: &Value) -> Vec<u8> {
    fn element(out: &mut Vec<u8>, name: &str, value: &Value) {
        let kind_pos = out.len();
        out.push(0);
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        let kind = match value {
            Value::Null => 0x0A,
            Value::Bool(b) => {
                out.push(u8::from(*b));
                0x08
            }
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    if let Ok(small) = i32::try_from(i) {
                        out.extend_from_slice(&small.to_le_bytes());
                        0x10
                    } else {
                        out.extend_from_slice(&i.to_le_bytes());
                        0x12
                    }
                } else {
                    out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_le_bytes());
                    0x01
                }
            }
            Value::String(s) => {
                let len = i32::try_from(s.len() + 1).unwrap_or(i32::MAX);
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(s.as_bytes());
                out.push(0);
                0x02
            }
            Value::Array(items) => {
                document(
                    out,
                    items.iter().enumerate().map(|(i, v)| (i.to_string(), v)),
                );
                0x04
            }
            Value::Object(map) => {
                document(out, map.iter().map(|(k, v)| (k.clone(), v)));
                0x03
            }
        };
        out[kind_pos] = kind;
    }
    fn document<'v>(out: &mut Vec<u8>, entries: impl Iterator<Item = (String, &'v Value)>) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        for (name, value) in entries {
            element(out, &name, value);
        }
        out.push(0);
        let len = i32::try_from(out.len() - start).unwrap_or(i32::MAX);
        out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    }
    let mut out = Vec::new();
    match value {
        Value::Object(map) => document(&mut out, map.iter().map(|(k, v)| (k.clone(), v))),
        other => document(&mut out, std::iter::once(("value".to_string(), other))),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_the_supported_types() {
        let value = json!({"a": 1, "b": 5_000_000_000i64, "c": 3573495687.0, "d": "x",
            "e": [true, false, null], "f": {"g": "h"}});
        let bytes = encode_document(&value);
        assert_eq!(parse_document(&bytes).expect("parse"), value);
    }

    #[test]
    fn rejects_truncated_and_garbage_input_without_panicking() {
        let bytes = encode_document(&json!({"data": {"bucket": "a", "data": [1, 2]}}));
        for cut in 0..bytes.len() {
            assert!(parse_document(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad_len = bytes.clone();
        bad_len[0] = 0xff;
        assert!(parse_document(&bad_len).is_err());
        assert!(
            parse_document(&[5, 0, 0, 0, 0, 0]).is_err(),
            "trailing bytes"
        );
        assert!(parse_document(&[0x0d, 0, 0, 0, 0x07, b'a', 0, 1, 2, 3, 4, 5, 0]).is_err());
    }

    #[test]
    fn rejects_deep_nesting() {
        let mut value = json!(1);
        for _ in 0..(MAX_DEPTH + 2) {
            value = json!({ "x": value });
        }
        assert!(parse_document(&encode_document(&value)).is_err());
    }
}
