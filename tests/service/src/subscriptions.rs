// SPDX-License-Identifier: Apache-2.0
//! Which buckets one `/sync/stream` request receives: bucket definitions and auto-subscribed
//! streams (when `streams.include_defaults` is not `false`) plus the request's explicit
//! stream subscriptions, as the real service resolves them (`BucketChecksumState`,
//! `getBucketParameterQuerier`). Resolved once per connection: a request cannot change its
//! subscriptions, clients reconnect with a new request instead.

use crate::config::{ParameterSource, StreamDefinition, SyncConfig};
use crate::store::{SYNC_RULES_VERSION, key_text};
use serde_json::{Value, json};

/// Why a bucket is in the checkpoint: `{"default": <stream index>}` or `{"sub": <index of
/// the request's subscription>}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A default stream (index into the checkpoint's `streams`).
    Default(usize),
    /// An explicit subscription (index into the request's `streams.subscriptions`).
    Subscription(usize),
}

impl Reason {
    /// Wire form of the reason.
    pub fn to_json(self) -> Value {
        match self {
            Reason::Default(i) => json!({ "default": i }),
            Reason::Subscription(i) => json!({ "sub": i }),
        }
    }
}

/// One bucket a connection receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedBucket {
    /// Bucket name.
    pub name: String,
    /// Effective priority (the lowest number of the subscriptions that want it).
    pub priority: i32,
    /// Why it is included.
    pub reasons: Vec<Reason>,
}

/// The buckets and the checkpoint's `streams` list of one connection.
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    /// Buckets in definition order.
    pub buckets: Vec<ResolvedBucket>,
    /// The `streams` entries of the first checkpoint line.
    pub streams: Vec<Value>,
}

/// What a request brings to the resolution.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// JWT `sub`.
    pub user_id: String,
    /// The token's claims.
    pub claims: Value,
    /// The request's `parameters` (client parameters).
    pub parameters: Value,
    /// `streams.include_defaults` (default `true`).
    pub include_defaults: bool,
    /// `streams.subscriptions`: stream name, parameters, priority override.
    pub subscriptions: Vec<(String, Option<Value>, Option<i32>)>,
}

impl RequestContext {
    /// Reads a validated `/sync/stream` request.
    pub fn from_request(user_id: &str, claims: &Value, params: &Value) -> Self {
        let streams = params.get("streams");
        let subscriptions = streams
            .and_then(|s| s.get("subscriptions"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|sub| {
                let name = sub["stream"].as_str().unwrap_or_default().to_owned();
                let parameters = sub.get("parameters").filter(|p| !p.is_null()).cloned();
                let priority = sub["override_priority"]
                    .as_f64()
                    .map(|p| p.clamp(0.0, f64::from(i32::MAX)) as i32);
                (name, parameters, priority)
            })
            .collect();
        RequestContext {
            user_id: user_id.to_owned(),
            claims: claims.clone(),
            parameters: params.get("parameters").cloned().unwrap_or(Value::Null),
            include_defaults: streams
                .and_then(|s| s.get("include_defaults"))
                .and_then(Value::as_bool)
                .unwrap_or(true),
            subscriptions,
        }
    }

    /// A request without stream options (sync rules only).
    pub fn user(user_id: &str) -> Self {
        RequestContext {
            user_id: user_id.to_owned(),
            claims: json!({ "sub": user_id }),
            include_defaults: true,
            ..Default::default()
        }
    }
}

/// Resolves the buckets of a request. Subscriptions to unknown streams are ignored, as the
/// real service does (it neither lists them nor reports an error).
pub fn resolve(config: &SyncConfig, request: &RequestContext) -> Resolution {
    let mut out = Resolution::default();
    if request.include_defaults {
        for def in &config.buckets {
            let index = out.streams.len();
            out.streams
                .push(json!({"name": def.name, "is_default": true, "errors": []}));
            let owner = def.owner_column.as_ref().map(|_| request.user_id.as_str());
            let key = owner.map(|o| vec![Value::String(o.to_owned())]);
            let name = format!(
                "{SYNC_RULES_VERSION}#{}[{}]",
                def.name,
                key_text(key.as_deref().unwrap_or_default())
            );
            add(&mut out.buckets, name, def.priority, Reason::Default(index));
        }
    }
    for stream in &config.streams {
        let requested: Vec<(usize, &Option<Value>, Option<i32>)> = request
            .subscriptions
            .iter()
            .enumerate()
            .filter(|(_, (name, _, _))| name == &stream.name)
            .map(|(i, (_, params, priority))| (i, params, *priority))
            .collect();
        let default = stream.auto_subscribe && request.include_defaults;
        if !default && requested.is_empty() {
            continue;
        }
        let index = out.streams.len();
        let mut errors = Vec::new();
        for (i, params, priority) in &requested {
            let priority = priority.unwrap_or(stream.priority);
            match stream_bucket(stream, request, params.as_ref()) {
                Ok(Some(name)) => add(&mut out.buckets, name, priority, Reason::Subscription(*i)),
                Ok(None) => {}
                Err(message) => errors.push(json!({"subscription": i, "message": message})),
            }
        }
        // An explicit subscription without parameters replaces the default one.
        let explicit_default = requested.iter().any(|(_, params, _)| params.is_none());
        if default && !explicit_default {
            match stream_bucket(stream, request, None) {
                Ok(Some(name)) => add(
                    &mut out.buckets,
                    name,
                    stream.priority,
                    Reason::Default(index),
                ),
                Ok(None) => {}
                Err(message) => errors.push(json!({"subscription": "default", "message": message})),
            }
        }
        out.streams.push(json!({
            "name": stream.name,
            "is_default": stream.auto_subscribe,
            "errors": errors,
        }));
    }
    out
}

fn add(buckets: &mut Vec<ResolvedBucket>, name: String, priority: i32, reason: Reason) {
    match buckets.iter_mut().find(|b| b.name == name) {
        Some(bucket) => {
            bucket.priority = bucket.priority.min(priority);
            bucket.reasons.push(reason);
        }
        None => buckets.push(ResolvedBucket {
            name,
            priority,
            reasons: vec![reason],
        }),
    }
}

/// The bucket of one subscription: `None` when a filter value is missing or null (no row
/// can match, like `column = NULL`), an error when it is not a scalar.
fn stream_bucket(
    stream: &StreamDefinition,
    request: &RequestContext,
    subscription: Option<&Value>,
) -> Result<Option<String>, String> {
    let mut key = Vec::with_capacity(stream.filters.len());
    for filter in &stream.filters {
        let value = match &filter.equals {
            ParameterSource::Subscription(k) => subscription.and_then(|p| p.get(k)),
            ParameterSource::Auth(k) => request.claims.get(k),
            ParameterSource::Connection(k) => request.parameters.get(k),
        };
        match value {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Object(_) | Value::Array(_)) => {
                return Err(format!(
                    "Error evaluating bucket ids: {} must be a string or number",
                    filter.column
                ));
            }
            Some(v) => key.push(v.clone()),
        }
    }
    Ok(Some(format!(
        "{SYNC_RULES_VERSION}#{}|0[{}]",
        stream.name,
        key_text(&key)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(subscriptions: Value, include_defaults: bool) -> RequestContext {
        RequestContext::from_request(
            "u1",
            &json!({"sub": "u1"}),
            &json!({"streams": {"include_defaults": include_defaults, "subscriptions": subscriptions}}),
        )
    }

    #[test]
    fn parameterised_subscription_gets_its_bucket_and_unknown_streams_are_ignored() {
        let config = SyncConfig::streams_example();
        let resolved = resolve(
            &config,
            &request(
                json!([
                    {"stream": "nope", "parameters": null, "override_priority": null},
                    {"stream": "list_todos", "parameters": {"list_id": "l1"}, "override_priority": 1},
                ]),
                true,
            ),
        );
        let names: Vec<&str> = resolved
            .streams
            .iter()
            .map(|s| s["name"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(names, vec!["user_lists", "announcements", "list_todos"]);
        let todos = resolved
            .buckets
            .iter()
            .find(|b| b.name.contains("list_todos"));
        assert_eq!(
            todos.map(|b| (b.name.as_str(), b.priority, b.reasons.clone())),
            Some((
                r#"1#list_todos|0["l1","u1"]"#,
                1,
                vec![Reason::Subscription(1)]
            ))
        );
    }

    #[test]
    fn without_defaults_only_explicit_subscriptions_remain() {
        let config = SyncConfig::streams_example();
        let resolved = resolve(&config, &request(json!([]), false));
        assert!(resolved.buckets.is_empty());
        assert!(resolved.streams.is_empty());
    }

    #[test]
    fn non_scalar_parameter_is_a_subscription_error() {
        let config = SyncConfig::streams_example();
        let resolved = resolve(
            &config,
            &request(
                json!([{"stream": "list_todos", "parameters": {"list_id": [1]}, "override_priority": null}]),
                true,
            ),
        );
        let stream = resolved.streams.iter().find(|s| s["name"] == "list_todos");
        assert_eq!(
            stream.map(|s| s["errors"][0]["subscription"].clone()),
            Some(json!(0))
        );
    }
}
