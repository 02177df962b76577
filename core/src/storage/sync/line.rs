// SPDX-License-Identifier: Apache-2.0
//! Decoding sync lines (sync-protocol.md §4) from JSON text or BSON.
//!
//! JSON lines are decoded straight into borrowed structs; BSON lines are first read into a
//! `serde_json::Value` by [`super::bson`] and then decoded by the same structs. Op ids must be
//! decimal strings; checksums may be negative, unsigned or integral doubles and are reduced to a
//! `u32`.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, Visitor};

use crate::{Error, Result};

/// One decoded sync line.
#[derive(Debug)]
pub enum SyncLine<'a> {
    /// A new target checkpoint.
    Checkpoint(CheckpointLine<'a>),
    /// A change relative to the current target.
    CheckpointDiff(CheckpointDiffLine<'a>),
    /// Ops for one bucket.
    Data(DataLine<'a>),
    /// All data of the target has been sent.
    CheckpointComplete,
    /// All buckets with priority `<=` this have been sent.
    PartialCheckpointComplete(i32),
    /// Seconds until the token expires.
    TokenExpiresIn(i64),
    /// A line type this client does not know.
    Unknown,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default, borrow)]
    checkpoint: Option<CheckpointLine<'a>>,
    #[serde(default, borrow)]
    checkpoint_diff: Option<CheckpointDiffLine<'a>>,
    #[serde(default, borrow)]
    data: Option<DataLine<'a>>,
    #[serde(default)]
    checkpoint_complete: Option<IgnoredAny>,
    #[serde(default)]
    partial_checkpoint_complete: Option<PartialLine>,
    #[serde(default, deserialize_with = "opt_int")]
    token_expires_in: Option<i64>,
}

#[derive(Deserialize)]
struct PartialLine {
    #[serde(deserialize_with = "int")]
    priority: i64,
}

/// `checkpoint` line.
#[derive(Debug, Deserialize)]
pub struct CheckpointLine<'a> {
    /// Op id the checkpoint is at.
    #[serde(deserialize_with = "op_id")]
    pub last_op_id: i64,
    /// Write checkpoint to acknowledge, if any.
    #[serde(default, deserialize_with = "opt_op_id")]
    pub write_checkpoint: Option<i64>,
    /// Every bucket of the checkpoint.
    #[serde(borrow)]
    pub buckets: Vec<BucketChecksum<'a>>,
    /// Streams the service resolved.
    #[serde(default)]
    pub streams: Vec<StreamDescription>,
}

/// `checkpoint_diff` line.
#[derive(Debug, Deserialize)]
pub struct CheckpointDiffLine<'a> {
    /// New op id.
    #[serde(deserialize_with = "op_id")]
    pub last_op_id: i64,
    /// New write checkpoint (absent ⇒ none).
    #[serde(default, deserialize_with = "opt_op_id")]
    pub write_checkpoint: Option<i64>,
    /// Buckets added or changed.
    #[serde(borrow, default)]
    pub updated_buckets: Vec<BucketChecksum<'a>>,
    /// Buckets removed.
    #[serde(borrow, default)]
    pub removed_buckets: Vec<Cow<'a, str>>,
}

/// One bucket of a checkpoint.
#[derive(Debug, Deserialize)]
pub struct BucketChecksum<'a> {
    /// Bucket name.
    #[serde(borrow)]
    pub bucket: Cow<'a, str>,
    /// Expected checksum.
    #[serde(deserialize_with = "checksum")]
    pub checksum: u32,
    /// Op count (progress only).
    #[serde(default, deserialize_with = "opt_int")]
    pub count: Option<i64>,
    /// Priority (default 3).
    #[serde(default, deserialize_with = "opt_int")]
    pub priority: Option<i64>,
    /// Stream subscriptions the bucket belongs to.
    #[serde(default)]
    pub subscriptions: Vec<BucketSubscription>,
}

/// Reference from a bucket to a default stream or an explicit subscription.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BucketSubscription {
    /// Index into the checkpoint's `streams`.
    #[serde(default)]
    pub default: Option<usize>,
    /// Index into the request's explicit subscriptions.
    #[serde(default)]
    pub sub: Option<usize>,
}

/// One stream of a checkpoint.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StreamDescription {
    /// Stream name.
    pub name: String,
    /// Whether it is a default stream.
    #[serde(default)]
    pub is_default: bool,
    /// Errors resolving it.
    #[serde(default)]
    pub errors: Vec<StreamError>,
}

/// An error the service reports for a stream.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StreamError {
    /// `"default"` or the index of an explicit subscription.
    pub subscription: serde_json::Value,
    /// Message.
    pub message: String,
}

/// `data` line.
#[derive(Debug, Deserialize)]
pub struct DataLine<'a> {
    /// Bucket name.
    #[serde(borrow)]
    pub bucket: Cow<'a, str>,
    /// Ops in ascending op id order.
    #[serde(borrow)]
    pub data: Vec<OplogEntry<'a>>,
}

/// Kind of an op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpType {
    /// Full row.
    Put,
    /// Row removed.
    Remove,
    /// Tombstone keeping a checksum.
    Move,
    /// Bucket reset.
    Clear,
}

impl<'de> Deserialize<'de> for OpType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let name = Cow::<'de, str>::deserialize(d)?;
        match &*name {
            "PUT" => Ok(Self::Put),
            "REMOVE" => Ok(Self::Remove),
            "MOVE" => Ok(Self::Move),
            "CLEAR" => Ok(Self::Clear),
            _ => Err(de::Error::custom("unknown op type")),
        }
    }
}

/// One op of a data line.
#[derive(Debug, Deserialize)]
pub struct OplogEntry<'a> {
    /// Op id.
    #[serde(deserialize_with = "op_id")]
    pub op_id: i64,
    /// Kind.
    pub op: OpType,
    /// Row type.
    #[serde(default, borrow)]
    pub object_type: Option<Cow<'a, str>>,
    /// Row id.
    #[serde(default, borrow)]
    pub object_id: Option<Cow<'a, str>>,
    /// Distinguishes copies of the same row in one bucket.
    #[serde(default, borrow)]
    pub subkey: Option<Cow<'a, str>>,
    /// Row JSON text (PUT only).
    #[serde(default, borrow)]
    pub data: Option<Cow<'a, str>>,
    /// Op checksum.
    #[serde(deserialize_with = "checksum")]
    pub checksum: u32,
}

fn op_id<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<i64, D::Error> {
    let text = Cow::<'de, str>::deserialize(d)?;
    text.parse::<i64>()
        .map_err(|_| de::Error::custom("op id is not a decimal integer string"))
}

fn opt_op_id<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<i64>, D::Error> {
    let text = Option::<Cow<'de, str>>::deserialize(d)?;
    text.map(|t| {
        t.parse::<i64>()
            .map_err(|_| de::Error::custom("op id is not a decimal integer string"))
    })
    .transpose()
}

/// Any JSON/BSON number with an integral value, as i64 (u64 above i64::MAX is rejected).
struct IntVisitor;

impl Visitor<'_> for IntVisitor {
    type Value = i64;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an integer")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<i64, E> {
        Ok(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<i64, E> {
        // Integral doubles in i64 range only (BSON encodes large JS numbers as doubles).
        if v.fract() == 0.0 && (-9.2e18..=9.2e18).contains(&v) {
            Ok(v as i64)
        } else {
            Err(E::custom("expected an integral number"))
        }
    }
}

fn int<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<i64, D::Error> {
    d.deserialize_any(IntVisitor)
}

fn opt_int<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<i64>, D::Error> {
    struct OptVisitor;
    impl<'de> Visitor<'de> for OptVisitor {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an integer or null")
        }
        fn visit_none<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(
            self,
            d: D2,
        ) -> std::result::Result<Self::Value, D2::Error> {
            int(d).map(Some)
        }
    }
    d.deserialize_option(OptVisitor)
}

fn checksum<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u32, D::Error> {
    let value = int(d)?;
    if !(i64::from(i32::MIN)..=i64::from(u32::MAX)).contains(&value) {
        return Err(de::Error::custom("checksum out of range"));
    }
    // Reduce mod 2^32: negative values are JS signed results of the same sum.
    Ok(value as u32)
}

impl<'a> SyncLine<'a> {
    fn from_envelope(e: Envelope<'a>) -> Self {
        if let Some(c) = e.checkpoint {
            Self::Checkpoint(c)
        } else if let Some(c) = e.checkpoint_diff {
            Self::CheckpointDiff(c)
        } else if let Some(d) = e.data {
            Self::Data(d)
        } else if e.checkpoint_complete.is_some() {
            Self::CheckpointComplete
        } else if let Some(p) = e.partial_checkpoint_complete {
            Self::PartialCheckpointComplete(i32::try_from(p.priority).unwrap_or(i32::MAX))
        } else if let Some(t) = e.token_expires_in {
            Self::TokenExpiresIn(t)
        } else {
            Self::Unknown
        }
    }

    /// Decodes one JSON text line.
    pub fn from_text(text: &'a str) -> Result<Self> {
        let envelope: Envelope<'a> = serde_json::from_str(text)
            .map_err(|e| Error::protocol(format!("invalid text line. cause: {e}")))?;
        Ok(Self::from_envelope(envelope))
    }

    /// Decodes one BSON line directly (strings borrowed from `bytes`).
    pub fn from_bson(bytes: &'a [u8]) -> Result<Self> {
        let envelope: Envelope<'a> = super::bson::from_slice(bytes)
            .map_err(|e| Error::protocol(format!("invalid binary line. cause: {e}")))?;
        Ok(Self::from_envelope(envelope))
    }

    /// Decodes one JSON value (the BSON path).
    pub fn from_value(value: &'a serde_json::Value) -> Result<Self> {
        let envelope = Envelope::deserialize(value)
            .map_err(|e| Error::protocol(format!("invalid binary line. cause: {e}")))?;
        Ok(Self::from_envelope(envelope))
    }
}

/// Parses a BSON line into a JSON value ready for [`SyncLine::from_value`].
pub fn bson_to_value(bytes: &[u8]) -> Result<serde_json::Value> {
    super::bson::parse_document(bytes)
        .map_err(|e| Error::protocol(format!("invalid binary line. cause: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_data_lines_with_wrapping_checksums() {
        let line = r#"{"data":{"bucket":"a","data":[
            {"op_id":"1","op":"PUT","object_type":"items","object_id":"1","data":"{\"col\":\"hi\"}","checksum":4294967295},
            {"op_id":"2","op":"REMOVE","object_type":"items","object_id":"2","checksum":-1},
            {"op_id":"3","op":"MOVE","checksum":3573495687.0}]}}"#;
        let SyncLine::Data(data) = SyncLine::from_text(line).expect("parse") else {
            panic!("not data");
        };
        assert_eq!(data.data.len(), 3);
        assert_eq!(data.data[0].checksum, u32::MAX);
        assert_eq!(data.data[1].checksum, u32::MAX);
        assert_eq!(data.data[2].checksum, 3_573_495_687);
        assert_eq!(data.data[0].data.as_deref(), Some(r#"{"col":"hi"}"#));
    }

    #[test]
    fn rejects_bad_ids_ops_and_checksums() {
        for bad in [
            r#"{"checkpoint":{"last_op_id":1,"buckets":[]}}"#,
            r#"{"checkpoint":{"last_op_id":"1","write_checkpoint":2,"buckets":[]}}"#,
            r#"{"data":{"bucket":"a","data":[{"op_id":"1","op":"NOPE","checksum":1}]}}"#,
            r#"{"data":{"bucket":"a","data":[{"op_id":"1","op":"MOVE","checksum":1.5}]}}"#,
            r#"{"data":{"bucket":"a","data":[{"op_id":"1","op":"MOVE","checksum":-2147483649}]}}"#,
            r#"{"data":{"bucket":"a","data":[{"op_id":"1","op":"PUT","data":{"a":1},"checksum":1}]}}"#,
            "invalid sync line",
        ] {
            assert!(SyncLine::from_text(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_lines_are_reported_as_unknown() {
        assert!(matches!(
            SyncLine::from_text(r#"{"foo":{"bar":1}}"#).expect("parse"),
            SyncLine::Unknown
        ));
        assert!(matches!(
            SyncLine::from_text(r#"{"token_expires_in":30}"#).expect("parse"),
            SyncLine::TokenExpiresIn(30)
        ));
    }
}
