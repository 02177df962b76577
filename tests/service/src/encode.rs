// SPDX-License-Identifier: Apache-2.0
//! Line framing: ndjson or BSON documents, chosen from the `Accept` header.

use bytes::Bytes;
use serde_json::Value;

/// Content type of ndjson streams.
pub const NDJSON: &str = "application/x-ndjson";
/// Content type of BSON streams.
pub const BSON: &str = "application/vnd.powersync.bson-stream";

/// Response framing of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Ndjson,
    /// Concatenated BSON documents.
    Bson,
}

impl Format {
    /// BSON only when the `Accept` header ranks it at least as high as ndjson.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Ndjson;
        };
        let mut bson_q = None;
        let mut ndjson_q = None;
        for item in accept.split(',') {
            let mut parts = item.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if media == BSON {
                bson_q = Some(q);
            } else if media == NDJSON || media == "*/*" || media == "application/*" {
                ndjson_q = Some(ndjson_q.map_or(q, |old: f32| old.max(q)));
            }
        }
        match (bson_q, ndjson_q) {
            (Some(b), Some(n)) if b >= n && b > 0.0 => Format::Bson,
            (Some(b), None) if b > 0.0 => Format::Bson,
            _ => Format::Ndjson,
        }
    }

    /// The response content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Ndjson => NDJSON,
            Format::Bson => BSON,
        }
    }

    /// Encodes one line.
    pub fn encode(self, line: &Value) -> Bytes {
        match self {
            Format::Ndjson => {
                let mut text = line.to_string();
                text.push('\n');
                Bytes::from(text)
            }
            Format::Bson => {
                let doc = match to_bson(line) {
                    bson::Bson::Document(doc) => doc,
                    _ => bson::Document::new(),
                };
                let mut out = Vec::new();
                // Writing into a Vec cannot fail for a document of plain values.
                if doc.to_writer(&mut out).is_err() {
                    out.clear();
                }
                Bytes::from(out)
            }
        }
    }
}

/// JSON → BSON the way the JS driver encodes JS numbers: integers in the int32 range become
/// int32, every other number a double.
pub fn to_bson(value: &Value) -> bson::Bson {
    match value {
        Value::Null => bson::Bson::Null,
        Value::Bool(b) => bson::Bson::Boolean(*b),
        Value::Number(n) => match n.as_i64().and_then(|i| i32::try_from(i).ok()) {
            Some(i) => bson::Bson::Int32(i),
            None => bson::Bson::Double(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => bson::Bson::String(s.clone()),
        Value::Array(items) => bson::Bson::Array(items.iter().map(to_bson).collect()),
        Value::Object(map) => {
            let mut doc = bson::Document::new();
            for (k, v) in map {
                doc.insert(k.clone(), to_bson(v));
            }
            bson::Bson::Document(doc)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accept_negotiation() {
        assert_eq!(Format::negotiate(None), Format::Ndjson);
        assert_eq!(Format::negotiate(Some(NDJSON)), Format::Ndjson);
        let both = "application/vnd.powersync.bson-stream;q=0.9,application/x-ndjson;q=0.8";
        assert_eq!(Format::negotiate(Some(both)), Format::Bson);
        let reversed = "application/vnd.powersync.bson-stream;q=0.7,application/x-ndjson;q=0.8";
        assert_eq!(Format::negotiate(Some(reversed)), Format::Ndjson);
    }

    #[test]
    fn large_numbers_become_doubles_in_bson() {
        let bytes = Format::Bson.encode(&json!({"a": {"checksum": 3573495687u32, "small": -2}}));
        assert_eq!(
            u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize,
            bytes.len()
        );
        let doc = bson::Document::from_reader(&mut bytes.as_ref()).expect("bson");
        let inner = doc.get_document("a").expect("a");
        assert_eq!(
            inner.get("checksum"),
            Some(&bson::Bson::Double(3573495687.0))
        );
        assert_eq!(inner.get("small"), Some(&bson::Bson::Int32(-2)));
    }
}
