// SPDX-License-Identifier: Apache-2.0
//! Request validation with the real service's rules and messages.
//!
//! The real service checks each route's parameters (query merged with the JSON body) against a
//! JSON schema (generated from its codecs, unknown properties allowed), collects every error,
//! drops redundant ones and answers 400 `PSYNC_S2001` whose `details` is the JSON text of a list
//! like `["/parameters: type must be object"]`. This module reproduces those schemas, the error
//! order and the texts for the three client endpoints; `docs/service-requests.md` lists the
//! rules field by field with the source files they come from.

use serde_json::{Map, Value};

/// The largest integer a JSON number may carry for an int64 field (JavaScript's safe range).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// The schema of one value.
#[derive(Debug)]
enum Rule {
    /// Anything.
    Any,
    String,
    Boolean,
    Number,
    /// `{"type":"array","items":…}`.
    Array(&'static Rule),
    /// An object with named properties (unknown ones allowed).
    Object(&'static [Field]),
    /// An object whose every value follows the rule.
    Record(&'static Rule),
    /// `anyOf: [rule, null]`.
    Nullable(&'static Rule),
    /// An int64 as a decimal string or a safe-integer JSON number (`oneOf` of both).
    Int64,
}

/// A property of an object rule.
#[derive(Debug)]
struct Field {
    name: &'static str,
    rule: Rule,
    required: bool,
}

const fn optional(name: &'static str, rule: Rule) -> Field {
    Field {
        name,
        rule,
        required: false,
    }
}

const fn required(name: &'static str, rule: Rule) -> Field {
    Field {
        name,
        rule,
        required: true,
    }
}

const BUCKET_REQUEST: Rule = Rule::Object(&[
    required("name", Rule::String),
    required("after", Rule::String),
]);

const STREAM_SUBSCRIPTION: Rule = Rule::Object(&[
    required("stream", Rule::String),
    required("parameters", Rule::Nullable(&Rule::Record(&Rule::Any))),
    required("override_priority", Rule::Nullable(&Rule::Number)),
]);

/// `POST /sync/stream` (`StreamingSyncRequest` in the service's `protocol-types.ts`).
const STREAM_REQUEST: &[Field] = &[
    optional("buckets", Rule::Array(&BUCKET_REQUEST)),
    optional("only", Rule::Array(&Rule::String)),
    optional("include_checksum", Rule::Boolean),
    optional("raw_data", Rule::Boolean),
    optional("parameters", Rule::Record(&Rule::Any)),
    optional("app_metadata", Rule::Record(&Rule::String)),
    optional("client_id", Rule::String),
    optional(
        "streams",
        Rule::Object(&[
            optional("include_defaults", Rule::Boolean),
            required("subscriptions", Rule::Array(&STREAM_SUBSCRIPTION)),
        ]),
    ),
];

/// `POST /sync/checkpoint-request` (`checkpointing.ts`).
const CHECKPOINT_REQUEST: &[Field] = &[
    required("client_id", Rule::String),
    required("checkpoint_request_id", Rule::Int64),
];

/// `GET /write-checkpoint2.json` (`checkpointing.ts`).
const WRITE_CHECKPOINT_REQUEST: &[Field] = &[optional("client_id", Rule::String)];

/// One schema violation as the validator reports it, before redundant ones are dropped.
#[derive(Debug)]
struct Violation {
    /// Property names / array indexes from the root.
    path: Vec<String>,
    /// `None` for a missing property (its name is in `message`).
    keyword: Option<&'static str>,
    message: String,
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

struct Checker {
    out: Vec<Violation>,
}

impl Checker {
    fn report(&mut self, path: &[String], keyword: &'static str, message: String) {
        self.out.push(Violation {
            path: path.to_vec(),
            keyword: Some(keyword),
            message,
        });
    }

    fn expect_type(&mut self, path: &[String], value: &Value, wanted: &'static str) -> bool {
        if type_name(value) == wanted {
            return true;
        }
        self.report(path, "type", format!("must be {wanted}"));
        false
    }

    fn check(&mut self, path: &mut Vec<String>, value: &Value, rule: &Rule) {
        match rule {
            Rule::Any => {}
            Rule::String => {
                self.expect_type(path, value, "string");
            }
            Rule::Boolean => {
                self.expect_type(path, value, "boolean");
            }
            Rule::Number => {
                self.expect_type(path, value, "number");
            }
            Rule::Array(items) => {
                if let Value::Array(list) = value {
                    for (i, item) in list.iter().enumerate() {
                        path.push(i.to_string());
                        self.check(path, item, items);
                        path.pop();
                    }
                } else {
                    self.expect_type(path, value, "array");
                }
            }
            Rule::Object(fields) => match value {
                Value::Object(map) => self.check_object(path, map, fields),
                _ => {
                    self.expect_type(path, value, "object");
                }
            },
            Rule::Record(values) => match value {
                Value::Object(map) => {
                    for (key, item) in map {
                        path.push(key.clone());
                        self.check(path, item, values);
                        path.pop();
                    }
                }
                _ => {
                    self.expect_type(path, value, "object");
                }
            },
            Rule::Nullable(inner) => {
                if value.is_null() {
                    return;
                }
                let before = self.out.len();
                self.check(path, value, inner);
                if self.out.len() > before {
                    self.report(path, "type", "must be null".to_owned());
                    self.report(path, "anyOf", "must match a schema in anyOf".to_owned());
                }
            }
            Rule::Int64 => self.check_int64(path, value),
        }
    }

    fn check_object(&mut self, path: &mut Vec<String>, map: &Map<String, Value>, fields: &[Field]) {
        for field in fields.iter().filter(|f| f.required) {
            if !map.contains_key(field.name) {
                self.out.push(Violation {
                    path: path.clone(),
                    keyword: None,
                    message: format!("must have required property '{}'", field.name),
                });
            }
        }
        for field in fields {
            if let Some(item) = map.get(field.name) {
                path.push(field.name.to_owned());
                self.check(path, item, &field.rule);
                path.pop();
            }
        }
    }

    /// `oneOf: [{type: string, pattern: ^-?[0-9]+$}, {type: integer, ±MAX_SAFE_INTEGER}]`.
    fn check_int64(&mut self, path: &[String], value: &Value) {
        let mut branch_errors = Vec::new();
        match value {
            Value::String(s) if is_integer_text(s) => return,
            Value::String(_) => {
                branch_errors.push(("pattern", "must match pattern \"^-?[0-9]+$\"".to_owned()));
                branch_errors.push(("type", "must be integer".to_owned()));
            }
            Value::Number(n) => {
                branch_errors.push(("type", "must be string".to_owned()));
                let f = n.as_f64().unwrap_or(f64::NAN);
                if f.fract() != 0.0 || !f.is_finite() {
                    branch_errors.push(("type", "must be integer".to_owned()));
                } else if f > MAX_SAFE_INTEGER {
                    branch_errors.push(("maximum", "must be <= 9007199254740991".to_owned()));
                } else if f < -MAX_SAFE_INTEGER {
                    branch_errors.push(("minimum", "must be >= -9007199254740991".to_owned()));
                } else {
                    return;
                }
            }
            _ => {
                branch_errors.push(("type", "must be string".to_owned()));
                branch_errors.push(("type", "must be integer".to_owned()));
            }
        }
        for (keyword, message) in branch_errors {
            self.report(path, keyword, message);
        }
        self.report(
            path,
            "oneOf",
            "must match exactly one schema in oneOf".to_owned(),
        );
    }
}

fn is_integer_text(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A node of the error tree the service's formatter builds: one per path segment, where an
/// array index belongs to the segment before it.
#[derive(Default)]
struct Node {
    errors: Vec<Violation>,
    children: Vec<(String, Node)>,
}

impl Node {
    fn child(&mut self, key: &str) -> &mut Node {
        let index = match self.children.iter().position(|(k, _)| k == key) {
            Some(index) => index,
            None => {
                self.children.push((key.to_owned(), Node::default()));
                self.children.len() - 1
            }
        };
        &mut self.children[index].1
    }

    /// A missing property makes every other error at that node and below it redundant; only
    /// the last missing property is kept.
    fn drop_redundant(&mut self) {
        if let Some(last) = self.errors.iter().rposition(|e| e.keyword.is_none()) {
            let kept = self.errors.swap_remove(last);
            self.errors = vec![kept];
            self.children.clear();
        }
        for (_, child) in &mut self.children {
            child.drop_redundant();
        }
    }

    fn messages(&self, out: &mut Vec<String>) {
        for error in &self.errors {
            let path: String = error.path.iter().map(|p| format!("/{p}")).collect();
            out.push(match error.keyword {
                None => format!("{path} {}", error.message),
                Some(keyword) => format!("{path}: {keyword} {}", error.message),
            });
        }
        for (_, child) in &self.children {
            child.messages(out);
        }
    }
}

/// The tree keys of a path: `["buckets", "0", "name"]` → `["/buckets/0", "/name"]`; the root
/// is its own key `""`.
fn tree_keys(path: &[String]) -> Vec<String> {
    if path.is_empty() {
        return vec![String::new()];
    }
    let mut keys: Vec<String> = Vec::new();
    for segment in path {
        let is_index = segment.bytes().all(|b| b.is_ascii_digit()) && !segment.is_empty();
        match keys.last_mut() {
            Some(last) if is_index && !last.is_empty() && !last_is_index(last) => {
                last.push('/');
                last.push_str(segment);
            }
            _ => keys.push(format!("/{segment}")),
        }
    }
    keys
}

fn last_is_index(key: &str) -> bool {
    key.rsplit('/')
        .next()
        .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        && key.matches('/').count() > 1
}

fn format(violations: Vec<Violation>) -> Vec<String> {
    let mut root = Node::default();
    for violation in violations {
        let mut node = &mut root;
        for key in tree_keys(&violation.path) {
            node = node.child(&key);
        }
        node.errors.push(violation);
    }
    root.drop_redundant();
    let mut out = Vec::new();
    root.messages(&mut out);
    out
}

fn validate(params: &Value, fields: &[Field]) -> Result<(), Vec<String>> {
    let mut checker = Checker { out: Vec::new() };
    match params {
        Value::Object(map) => checker.check_object(&mut Vec::new(), map, fields),
        other => {
            checker.expect_type(&[], other, "object");
        }
    }
    if checker.out.is_empty() {
        Ok(())
    } else {
        Err(format(checker.out))
    }
}

/// Validates the parameters of `POST /sync/stream`.
pub fn stream_request(params: &Value) -> Result<(), Vec<String>> {
    validate(params, STREAM_REQUEST)
}

/// Validates the parameters of `GET /write-checkpoint2.json`.
pub fn write_checkpoint_request(params: &Value) -> Result<(), Vec<String>> {
    validate(params, WRITE_CHECKPOINT_REQUEST)
}

/// The id range of checkpoint requests (a positive int64).
pub const CHECKPOINT_REQUEST_ID_RANGE: std::ops::RangeInclusive<i128> = 1..=i64::MAX as i128;

/// Validates the parameters of `POST /sync/checkpoint-request` and returns
/// `(client_id, checkpoint_request_id)`.
pub fn checkpoint_request(params: &Value) -> Result<(String, i64), Vec<String>> {
    validate(params, CHECKPOINT_REQUEST)?;
    let client_id = params["client_id"].as_str().unwrap_or_default().to_owned();
    let id: Option<i128> = match &params["checkpoint_request_id"] {
        Value::String(s) => s.parse::<i128>().ok(),
        Value::Number(n) => n.as_f64().map(|f| f as i128),
        _ => None,
    };
    // Decimal strings of any length are accepted by the shape check; too long is out of range.
    match id
        .filter(|id| CHECKPOINT_REQUEST_ID_RANGE.contains(id))
        .and_then(|id| i64::try_from(id).ok())
    {
        Some(id) => Ok((client_id, id)),
        None => Err(vec![format!(
            "Expected checkpoint_request_id between 1 and {}",
            i64::MAX
        )]),
    }
}

/// The parameters a route validates: the query, overridden by the JSON body when the body is
/// an object (an array, string or `null` body contributes nothing).
pub fn route_params(query: Map<String, Value>, body: Option<&Value>) -> Value {
    let mut params = query;
    if let Some(Value::Object(body)) = body {
        for (key, value) in body {
            params.insert(key.clone(), value.clone());
        }
    }
    Value::Object(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tree_keys_group_indexes_with_their_array() {
        let path = |p: &[&str]| p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(tree_keys(&[]), vec![""]);
        assert_eq!(
            tree_keys(&path(&["buckets", "0", "name"])),
            vec!["/buckets/0", "/name"]
        );
        assert_eq!(
            tree_keys(&path(&["streams", "subscriptions", "0", "parameters"])),
            vec!["/streams", "/subscriptions/0", "/parameters"]
        );
    }

    #[test]
    fn non_object_params_fail_as_object() {
        assert_eq!(
            stream_request(&json!([])),
            Err(vec![": type must be object".to_owned()])
        );
    }
}
