// SPDX-License-Identifier: Apache-2.0
//! The one BSON reader for sync lines (sync-protocol.md §3): a serde
//! [`Deserializer`](serde::Deserializer) reading them directly, without building an
//! intermediate `serde_json::Value`: strings are borrowed from the input (BSON strings are not
//! escaped, so op data is never copied before it is bound to SQLite).
//!
//! Only the element types the service sends are accepted (documents, arrays, strings, int32,
//! int64, doubles, bools, null); every length is checked against its container, nesting is
//! limited to [`MAX_DEPTH`], and it never panics. [`parse_document`] reads into a
//! `serde_json::Value` through the same code, for callers that want the generic form.
//! Encoding is never needed in production; tests encode with the `bson` crate, an independent
//! implementation.

use serde::de::value::{BorrowedStrDeserializer, MapAccessDeserializer};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::forward_to_deserialize_any;

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

impl de::Error for BsonError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        BsonError(msg.to_string())
    }
}

impl std::error::Error for BsonError {}

type Result<T> = std::result::Result<T, BsonError>;

fn err<T>(what: &str) -> Result<T> {
    Err(BsonError(what.to_string()))
}

struct Reader<'de> {
    bytes: &'de [u8],
    pos: usize,
}

impl<'de> Reader<'de> {
    fn take(&mut self, n: usize) -> Result<&'de [u8]> {
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

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    fn cstring(&mut self) -> Result<&'de str> {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let Some(nul) = rest.iter().position(|b| *b == 0) else {
            return err("unterminated element name");
        };
        let name = self.take(nul)?;
        self.pos += 1;
        std::str::from_utf8(name).or_else(|_| err("element name is not UTF-8"))
    }

    fn string(&mut self) -> Result<&'de str> {
        let len = usize::try_from(self.i32()?).ok().filter(|l| *l >= 1);
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

    /// Reads a document header; returns the absolute end offset.
    fn document_start(&mut self, depth: usize) -> Result<usize> {
        if depth > MAX_DEPTH {
            return err("document nested too deeply");
        }
        let start = self.pos;
        let len = usize::try_from(self.i32()?).unwrap_or(0);
        if len < 5 {
            return err("invalid document length");
        }
        start
            .checked_add(len)
            .filter(|e| *e <= self.bytes.len())
            .ok_or_else(|| BsonError("document length exceeds input".into()))
    }
}

/// Decodes one BSON document spanning all of `bytes` into `T`.
pub fn from_slice<'de, T: de::Deserialize<'de>>(bytes: &'de [u8]) -> Result<T> {
    let mut reader = Reader { bytes, pos: 0 };
    let value = T::deserialize(Element {
        reader: &mut reader,
        kind: 0x03,
        depth: 0,
    })?;
    if reader.pos != bytes.len() {
        return err("trailing bytes after document");
    }
    Ok(value)
}

/// One element whose type byte (and name) has been read.
struct Element<'r, 'de> {
    reader: &'r mut Reader<'de>,
    kind: u8,
    depth: usize,
}

/// The elements of a document or array.
struct Elements<'r, 'de> {
    reader: &'r mut Reader<'de>,
    end: usize,
    depth: usize,
    pending_kind: u8,
    /// The terminator was read; later calls report the end again without reading.
    done: bool,
}

impl<'r, 'de> Elements<'r, 'de> {
    /// Reads the next type byte and name; `None` at the terminator.
    fn advance(&mut self) -> Result<Option<&'de str>> {
        if self.done {
            return Ok(None);
        }
        if self.reader.pos >= self.end {
            return err("document is missing its terminator");
        }
        let kind = self.reader.byte()?;
        if kind == 0 {
            if self.reader.pos != self.end {
                return err("document length does not match its contents");
            }
            self.done = true;
            return Ok(None);
        }
        self.pending_kind = kind;
        Ok(Some(self.reader.cstring()?))
    }

    fn value<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let value = seed.deserialize(Element {
            reader: self.reader,
            kind: self.pending_kind,
            depth: self.depth,
        })?;
        if self.reader.pos > self.end {
            return err("element overruns its document");
        }
        Ok(value)
    }
}

impl<'de> MapAccess<'de> for Elements<'_, 'de> {
    type Error = BsonError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        match self.advance()? {
            None => Ok(None),
            Some(name) => seed
                .deserialize(BorrowedStrDeserializer::new(name))
                .map(Some),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        self.value(seed)
    }
}

impl<'de> SeqAccess<'de> for Elements<'_, 'de> {
    type Error = BsonError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        match self.advance()? {
            None => Ok(None),
            Some(_) => self.value(seed).map(Some),
        }
    }
}

impl<'r, 'de> Element<'r, 'de> {
    fn elements(self) -> Result<Elements<'r, 'de>> {
        let end = self.reader.document_start(self.depth + 1)?;
        Ok(Elements {
            reader: self.reader,
            end,
            depth: self.depth + 1,
            pending_kind: 0,
            done: false,
        })
    }

    /// Skips over a remaining map or sequence that the visitor did not consume.
    fn finish(elements: &mut Elements<'_, 'de>) -> Result<()> {
        while elements.advance()?.is_some() {
            elements.value(std::marker::PhantomData::<de::IgnoredAny>)?;
        }
        Ok(())
    }
}

impl<'de> de::Deserializer<'de> for Element<'_, 'de> {
    type Error = BsonError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.kind {
            0x01 => {
                let f = f64::from_le_bytes(self.reader.array()?);
                if !f.is_finite() {
                    return err("non-finite double");
                }
                visitor.visit_f64(f)
            }
            0x02 => visitor.visit_borrowed_str(self.reader.string()?),
            0x03 => {
                let mut elements = self.elements()?;
                let value = visitor.visit_map(&mut elements)?;
                Element::finish(&mut elements)?;
                Ok(value)
            }
            0x04 => {
                let mut elements = self.elements()?;
                let value = visitor.visit_seq(&mut elements)?;
                Element::finish(&mut elements)?;
                Ok(value)
            }
            0x08 => match self.reader.byte()? {
                0 => visitor.visit_bool(false),
                1 => visitor.visit_bool(true),
                _ => err("invalid boolean"),
            },
            0x0A => visitor.visit_unit(),
            0x10 => visitor.visit_i64(i64::from(self.reader.i32()?)),
            0x12 => visitor.visit_i64(i64::from_le_bytes(self.reader.array()?)),
            _ => err("unsupported BSON element type"),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.kind == 0x0A {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self.kind {
            0x02 => {
                let s: BorrowedStrDeserializer<'de, BsonError> =
                    BorrowedStrDeserializer::new(self.reader.string()?);
                visitor.visit_enum(s)
            }
            0x03 => {
                let mut elements = self.elements()?;
                let value = visitor.visit_enum(MapAccessDeserializer::new(&mut elements))?;
                Element::finish(&mut elements)?;
                Ok(value)
            }
            _ => err("expected a string or document for an enum"),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

/// Parses exactly one BSON document spanning all of `bytes` into a JSON value.
pub fn parse_document(bytes: &[u8]) -> Result<serde_json::Value> {
    from_slice(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// BSON bytes of `value` from the `bson` crate (an independent encoder).
    fn encode(value: &Value) -> Vec<u8> {
        let document = ::bson::to_document(value).expect("a JSON object");
        let mut bytes = Vec::new();
        document.to_writer(&mut bytes).expect("encode");
        bytes
    }

    #[test]
    fn reads_every_supported_type_and_the_sync_line_shapes() {
        let v = json!({"data": {"bucket": "a", "has_more": false, "data": [
            {"op_id": "1", "op": "PUT", "object_type": "t", "object_id": "i",
             "data": "{\"x\":1}", "checksum": 3573495687.0_f64, "subkey": null},
            {"op_id": "2", "op": "MOVE", "checksum": -5}]},
            "extra": [1, 5_000_000_000i64, true, {"nested": "x"}]});
        assert_eq!(parse_document(&encode(&v)).expect("parse"), v);
    }

    #[test]
    fn rejects_truncation_garbage_and_trailing_bytes_without_panicking() {
        let doc = encode(&json!({"a": "b", "c": [1, 2]}));
        for cut in 0..doc.len() {
            assert!(parse_document(&doc[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = doc.clone();
        extra.push(0);
        assert!(parse_document(&extra).is_err());
        let mut bad_len = doc.clone();
        bad_len[0] = 0xff;
        assert!(parse_document(&bad_len).is_err());
        // A 32-bit timestamp (type 0x11) is not a type the service sends.
        assert!(parse_document(&[0x0d, 0, 0, 0, 0x11, b'a', 0, 1, 2, 3, 4, 5, 0]).is_err());
    }

    #[test]
    fn rejects_deep_nesting() {
        let mut value = json!(1);
        for _ in 0..(MAX_DEPTH + 2) {
            value = json!({ "x": value });
        }
        assert!(parse_document(&encode(&value)).is_err());
    }
}
