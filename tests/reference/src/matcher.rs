// SPDX-License-Identifier: Apache-2.0
//! Patterns for what the spec says a step returns.
//!
//! A pattern is JSON compared against the actual value:
//! * objects match when every key of the pattern matches (extra actual keys are fine); a pattern
//!   value `"$absent"` requires the key to be missing;
//! * arrays match element-wise and must have the same length, unless the pattern is
//!   `{"$contains": [p1, p2]}` (every `pi` matches some element, in order);
//! * `"$any"` matches anything; `"$contains_text:abc"` matches strings containing `abc`;
//! * everything else must be equal (numbers compare by value).

use serde_json::Value;

/// Checks `actual` against `pattern`, returning where it first differs.
pub fn matches(pattern: &Value, actual: &Value) -> Result<(), String> {
    match_at(pattern, actual, "$")
}

fn match_at(pattern: &Value, actual: &Value, path: &str) -> Result<(), String> {
    let mismatch = || Err(format!("at {path}: expected {pattern}, got {actual}"));
    match pattern {
        Value::String(text) if text == "$any" => Ok(()),
        Value::String(text) if text.starts_with("$contains_text:") => {
            let needle = &text["$contains_text:".len()..];
            match actual {
                Value::String(actual_text) if actual_text.contains(needle) => Ok(()),
                _ => mismatch(),
            }
        }
        Value::Object(object) if object.len() == 1 && object.contains_key("$contains") => {
            let (Some(Value::Array(wanted)), Value::Array(items)) =
                (object.get("$contains"), actual)
            else {
                return mismatch();
            };
            let mut position = 0;
            for (index, want) in wanted.iter().enumerate() {
                let found = items[position..]
                    .iter()
                    .position(|item| match_at(want, item, path).is_ok());
                match found {
                    Some(offset) => position += offset + 1,
                    None => {
                        return Err(format!(
                            "at {path}: no element (in order) matches $contains[{index}] = {want}; got {actual}"
                        ));
                    }
                }
            }
            Ok(())
        }
        Value::Object(object) => {
            let Value::Object(actual_object) = actual else {
                return mismatch();
            };
            for (key, want) in object {
                let child = format!("{path}.{key}");
                match (want, actual_object.get(key)) {
                    (Value::String(marker), None) if marker == "$absent" => {}
                    (Value::String(marker), Some(got)) if marker == "$absent" => {
                        return Err(format!("at {child}: expected no such key, got {got}"));
                    }
                    (_, None) => return Err(format!("at {child}: missing, expected {want}")),
                    (_, Some(got)) => match_at(want, got, &child)?,
                }
            }
            Ok(())
        }
        Value::Array(wanted) => {
            let Value::Array(items) = actual else {
                return mismatch();
            };
            if wanted.len() != items.len() {
                return Err(format!(
                    "at {path}: expected {} elements {pattern}, got {} {actual}",
                    wanted.len(),
                    items.len()
                ));
            }
            for (index, (want, got)) in wanted.iter().zip(items).enumerate() {
                match_at(want, got, &format!("{path}[{index}]"))?;
            }
            Ok(())
        }
        Value::Number(want) => match actual {
            Value::Number(got) if want.as_f64() == got.as_f64() => Ok(()),
            _ => mismatch(),
        },
        _ if pattern == actual => Ok(()),
        _ => mismatch(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn object_subset_and_absent_keys() {
        assert!(matches(&json!({"a": 1}), &json!({"a": 1, "b": 2})).is_ok());
        assert!(matches(&json!({"b": "$absent"}), &json!({"a": 1, "b": 2})).is_err());
        assert!(matches(&json!({"c": "$absent"}), &json!({"a": 1})).is_ok());
    }

    #[test]
    fn arrays_need_equal_length_unless_contains() {
        assert!(matches(&json!([1]), &json!([1, 2])).is_err());
        assert!(matches(&json!({"$contains": [2]}), &json!([1, 2])).is_ok());
        assert!(matches(&json!({"$contains": [3]}), &json!([1, 2])).is_err());
    }

    #[test]
    fn text_contains_and_any() {
        assert!(matches(&json!("$contains_text:bc"), &json!("abcd")).is_ok());
        assert!(matches(&json!("$any"), &json!(null)).is_ok());
        assert!(matches(&json!(1.0), &json!(1)).is_ok());
    }
}
