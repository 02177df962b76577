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
    /// The real service's choice (HTTP media-type negotiation over `[ndjson, bson]`): each
    /// type takes its best matching `Accept` entry, ranked by quality, then specificity
    /// (`type/subtype` over `type/*` over `*/*`), then the entry's position; a tie goes to
    /// ndjson. No header, or nothing acceptable, means ndjson.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Ndjson;
        };
        let entries: Vec<(String, f32)> = accept
            .split(',')
            .map(|item| {
                let mut parts = item.split(';');
                let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
                let q = parts
                    .filter_map(|p| p.trim().strip_prefix("q="))
                    .find_map(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                (media, q)
            })
            .collect();
        // (quality, specificity, -position) of the best entry matching `media`.
        let rank = |media: &str| -> Option<(f32, u8, i64)> {
            let (kind, subtype) = media.split_once('/')?;
            entries
                .iter()
                .enumerate()
                .filter_map(|(position, (entry, q))| {
                    let (entry_kind, entry_subtype) = entry.split_once('/')?;
                    let specificity = match (entry_kind, entry_subtype) {
                        (k, s) if k == kind && s == subtype => 6,
                        (k, "*") if k == kind => 4,
                        ("*", "*") => 0,
                        _ => return None,
                    };
                    Some((*q, specificity, -(position as i64)))
                })
                .max_by(|a, b| (a.1, a.2).cmp(&(b.1, b.2)))
                .filter(|(q, _, _)| *q > 0.0)
        };
        match (rank(NDJSON), rank(BSON)) {
            (None, Some(_)) => Format::Bson,
            (Some(n), Some(b)) if b.0 > n.0 || (b.0 == n.0 && (b.1, b.2) > (n.1, n.2)) => {
                Format::Bson
            }
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
        // Equal quality: the more specific entry, then the earlier one, then ndjson.
        let cases = [
            (
                "application/x-ndjson, application/vnd.powersync.bson-stream",
                Format::Ndjson,
            ),
            (
                "application/vnd.powersync.bson-stream, application/x-ndjson",
                Format::Bson,
            ),
            ("*/*", Format::Ndjson),
            ("*/*, application/vnd.powersync.bson-stream", Format::Bson),
            (
                "application/*;q=0.5, application/vnd.powersync.bson-stream;q=0.5",
                Format::Bson,
            ),
            ("application/vnd.powersync.bson-stream;q=0", Format::Ndjson),
            ("text/html", Format::Ndjson),
        ];
        for (accept, expected) in cases {
            assert_eq!(Format::negotiate(Some(accept)), expected, "{accept}");
        }
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
