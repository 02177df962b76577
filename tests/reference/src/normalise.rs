// SPDX-License-Identifier: Apache-2.0
//! Removes wall-clock dependence from recordings.
//!
//! The reference core reads the wall clock, so every µs timestamp it returns or stores differs
//! between runs. Fields known to hold timestamps are replaced with [`TIMESTAMP_PLACEHOLDER`]
//! (kept `null` when null, so "has a timestamp" vs "has none" still compares).

use serde_json::Value;

/// Replacement for any non-null timestamp.
pub const TIMESTAMP_PLACEHOLDER: &str = "<µs>";

/// Object keys / column names whose values are wall-clock timestamps.
const TIMESTAMP_KEYS: &[&str] = &["last_synced_at", "expires_at"];

/// Replaces every timestamp field in `value` (recursively) with the placeholder.
pub fn normalise_timestamps(value: &mut Value) {
    match value {
        Value::Object(object) => {
            for (key, field) in object.iter_mut() {
                if TIMESTAMP_KEYS.contains(&key.as_str()) && !field.is_null() {
                    *field = Value::String(TIMESTAMP_PLACEHOLDER.into());
                } else {
                    normalise_timestamps(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalise_timestamps),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_replaced_but_nulls_kept() {
        let mut value = serde_json::json!([{"UpdateSyncStatus": {"status": {
            "priority_status": [{"priority": 1, "last_synced_at": 1740823200000000_i64}],
            "streams": [{"expires_at": null}]}}}]);
        normalise_timestamps(&mut value);
        assert_eq!(
            value,
            serde_json::json!([{"UpdateSyncStatus": {"status": {
                "priority_status": [{"priority": 1, "last_synced_at": "<µs>"}],
                "streams": [{"expires_at": null}]}}}])
        );
    }
}
