// SPDX-License-Identifier: Apache-2.0
//! JSON helper functions used by the generated triggers (storage.md §2.5, §3.2).

use std::collections::BTreeMap;

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;
use serde_json::Value;

use crate::{Error, Result};

/// SQLite's JSON subtype ('J'), set on results that other JSON functions should embed as JSON.
const JSON_SUBTYPE: u32 = 74;

fn parse_object(text: &str) -> Result<BTreeMap<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map.into_iter().collect()),
        _ => Err(Error::invalid_argument(
            "powersync_diff expects two JSON objects",
        )),
    }
}

/// `powersync_diff(old, new)` (storage.md §3.2): keys of `new` that differ from `old`, plus
/// `null` for keys only `old` has; null values count as absent. Keys come out sorted, as the
/// reference core writes them.
pub fn diff_objects(old: &str, new: &str) -> Result<String> {
    let mut new = parse_object(new)?;
    let mut old = parse_object(old)?;
    new.retain(|_, v| !v.is_null());
    old.retain(|_, v| !v.is_null());
    if !old.is_empty() {
        for key in old.keys() {
            new.entry(key.clone()).or_insert(Value::Null);
        }
        new.retain(|key, value| old.get(key) != Some(value));
    }
    Ok(serde_json::to_string(&new)?)
}

/// Concatenates JSON object texts (`{a}`, `{b}` → `{a,b}`) without parsing them; callers pass
/// `json_object` results with disjoint keys.
fn json_merge(chunks: &[String]) -> Result<String> {
    let mut out = String::from("{");
    for chunk in chunks {
        let inner = chunk
            .strip_prefix('{')
            .and_then(|c| c.strip_suffix('}'))
            .ok_or_else(|| Error::invalid_argument("powersync_json_merge expects JSON objects"))?;
        if inner.trim().is_empty() {
            continue;
        }
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(inner);
    }
    out.push('}');
    Ok(out)
}

pub(super) fn register(conn: &Connection) -> Result<()> {
    let deterministic = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function(
        "powersync_diff",
        2,
        deterministic | FunctionFlags::SQLITE_RESULT_SUBTYPE,
        |ctx| {
            let old: String = ctx.get(0)?;
            let new: String = ctx.get(1)?;
            let diff = diff_objects(&old, &new).map_err(super::to_sql_error)?;
            Ok((diff, Some(JSON_SUBTYPE)))
        },
    )?;
    conn.create_scalar_function(
        "powersync_strip_subtype",
        1,
        deterministic | FunctionFlags::SQLITE_RESULT_SUBTYPE,
        |ctx| Ok((ctx.get_arg(0), Some(0))),
    )?;
    conn.create_scalar_function(
        "powersync_json_merge",
        -1,
        deterministic | FunctionFlags::SQLITE_RESULT_SUBTYPE,
        |ctx| {
            let chunks = (0..ctx.len())
                .map(|i| ctx.get::<String>(i))
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let merged = json_merge(&chunks).map_err(super::to_sql_error)?;
            Ok((merged, Some(JSON_SUBTYPE)))
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_scenario_a1() {
        for (old, new, expected) in [
            ("{}", "{}", "{}"),
            ("{}", r#"{"test":1}"#, r#"{"test":1}"#),
            (r#"{"test":1}"#, r#"{"test":1}"#, "{}"),
            (r#"{"test":1}"#, "{}", r#"{"test":null}"#),
            (r#"{"test":1}"#, r#"{"test":null}"#, r#"{"test":null}"#),
            (r#"{"test":1}"#, r#"{"test":2}"#, r#"{"test":2}"#),
            (r#"{"a":1,"b":"test"}"#, "{}", r#"{"a":null,"b":null}"#),
            (r#"{"a":1}"#, r#"{"b":"test"}"#, r#"{"a":null,"b":"test"}"#),
            (r#"{"a":1}"#, r#"{"a":1,"b":"test"}"#, r#"{"b":"test"}"#),
            ("{}", r#"{"a":1,"b":null}"#, r#"{"a":1}"#),
        ] {
            assert_eq!(
                diff_objects(old, new).expect("diff"),
                expected,
                "diff({old}, {new})"
            );
        }
        assert!(diff_objects("[]", "{}").is_err());
    }

    #[test]
    fn merge_concatenates_objects() {
        let chunks = vec![
            r#"{"a":1}"#.to_string(),
            "{}".to_string(),
            r#"{"b":2}"#.to_string(),
        ];
        assert_eq!(json_merge(&chunks).expect("merge"), r#"{"a":1,"b":2}"#);
        assert!(json_merge(&["x".to_string()]).is_err());
    }
}
