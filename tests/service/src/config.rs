// SPDX-License-Identifier: Apache-2.0
//! Service configuration: source tables and bucket definitions (JSON file or built-in default).

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One table of the source database. Every table has an implicit `id TEXT PRIMARY KEY`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TableConfig {
    /// Table name in the source database; also the `object_type` of its ops.
    pub name: String,
    /// Column names besides `id` (stored untyped, like the client's JSON view).
    pub columns: Vec<String>,
}

/// One bucket definition: which table feeds it and how buckets are keyed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BucketDefinition {
    /// Definition name; bucket names are `<name>[]` (global) or `<name>["<owner>"]`.
    pub name: String,
    /// Source table whose rows land in this bucket.
    pub table: String,
    /// When set, the bucket is per user: a row goes to the bucket of the value in this
    /// column and a user receives the bucket keyed by their JWT `sub`.
    #[serde(default)]
    pub owner_column: Option<String>,
    /// Bucket priority (0 = highest). Default 3.
    #[serde(default = "default_priority")]
    pub priority: i32,
}

fn default_priority() -> i32 {
    3
}

/// Where a stream filter takes the value a row's column must equal (the real service's
/// `subscription.parameter('x')`, `auth.parameter('x')` / `auth.user_id()` and
/// `connection.parameter('x')`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum ParameterSource {
    /// A key of the subscription's `parameters`.
    Subscription(String),
    /// A claim of the token (`sub` is the user id).
    Auth(String),
    /// A key of the request's `parameters` (client parameters).
    Connection(String),
}

/// `column = <parameter>`: a row is in the bucket of the parameter's value.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StreamFilter {
    /// Column of the stream's table.
    pub column: String,
    /// Where the compared value comes from.
    #[serde(flatten)]
    pub equals: ParameterSource,
}

/// One sync stream (edition 2 `streams:` of the real service): the rows of `table` matching
/// every filter. Buckets are named `<name>|0[<filter values>]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StreamDefinition {
    /// Stream name, as clients subscribe to it.
    pub name: String,
    /// Source table.
    pub table: String,
    /// Synced without an explicit subscription (a default stream).
    #[serde(default)]
    pub auto_subscribe: bool,
    /// Bucket priority unless a subscription overrides it. Default 3.
    #[serde(default = "default_priority")]
    pub priority: i32,
    /// Filters, all of which must match.
    #[serde(default, rename = "where")]
    pub filters: Vec<StreamFilter>,
}

impl StreamDefinition {
    /// Whether any filter reads subscription parameters.
    pub fn uses_subscription_parameters(&self) -> bool {
        self.filters
            .iter()
            .any(|f| matches!(f.equals, ParameterSource::Subscription(_)))
    }
}

/// Tables, bucket definitions and streams of a service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SyncConfig {
    /// Source tables (created if missing).
    pub tables: Vec<TableConfig>,
    /// Bucket definitions (each acts as a default stream, as sync rules do).
    pub buckets: Vec<BucketDefinition>,
    /// Sync streams.
    #[serde(default)]
    pub streams: Vec<StreamDefinition>,
}

/// Example config with sync streams (`--config tests/service/configs/streams.json`).
pub const STREAMS_EXAMPLE_JSON: &str = include_str!("../configs/streams.json");

impl Default for SyncConfig {
    /// The demo/test configuration: announcements for everyone (priority 0), each user's
    /// lists (priority 1) and todos (priority 3).
    fn default() -> Self {
        let table = |name: &str, cols: &[&str]| TableConfig {
            name: name.to_owned(),
            columns: cols.iter().map(|c| (*c).to_owned()).collect(),
        };
        let bucket = |name: &str, table: &str, owner: Option<&str>, priority| BucketDefinition {
            name: name.to_owned(),
            table: table.to_owned(),
            owner_column: owner.map(str::to_owned),
            priority,
        };
        SyncConfig {
            tables: vec![
                table("announcements", &["title", "body", "created_at"]),
                table("lists", &["name", "owner_id", "created_at"]),
                table(
                    "todos",
                    &[
                        "list_id",
                        "description",
                        "completed",
                        "owner_id",
                        "created_at",
                    ],
                ),
            ],
            buckets: vec![
                bucket("global_announcements", "announcements", None, 0),
                bucket("user_lists", "lists", Some("owner_id"), 1),
                bucket("user_todos", "todos", Some("owner_id"), 3),
            ],
            streams: Vec::new(),
        }
    }
}

impl SyncConfig {
    /// Parses and validates a JSON configuration.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let config: SyncConfig =
            serde_json::from_str(text).map_err(|e| format!("invalid config: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    /// The example with streams: each user's lists as a bucket definition, announcements
    /// as an auto-subscribed stream, and `list_todos` (the todos of the list named by the
    /// subscription's `list_id` parameter, owned by the token's user).
    pub fn streams_example() -> Self {
        match Self::from_json(STREAMS_EXAMPLE_JSON) {
            Ok(config) => config,
            // The file is part of the crate and checked by a unit test.
            Err(e) => unreachable!("configs/streams.json: {e}"),
        }
    }

    /// Checks names are plain identifiers and references resolve.
    pub fn validate(&self) -> Result<(), String> {
        for t in &self.tables {
            check_ident(&t.name)?;
            for c in &t.columns {
                check_ident(c)?;
                if c == "id" {
                    return Err(format!("table {}: column id is implicit", t.name));
                }
            }
        }
        for (i, b) in self.buckets.iter().enumerate() {
            check_ident(&b.name)?;
            if self.buckets[..i].iter().any(|other| other.name == b.name) {
                return Err(format!("bucket {}: defined twice", b.name));
            }
            let Some(table) = self.table(&b.table) else {
                return Err(format!("bucket {}: unknown table {}", b.name, b.table));
            };
            if let Some(owner) = &b.owner_column
                && !table.columns.contains(owner)
            {
                return Err(format!("bucket {}: unknown owner column {owner}", b.name));
            }
            if b.priority < 0 {
                return Err(format!("bucket {}: negative priority", b.name));
            }
        }
        for (i, stream) in self.streams.iter().enumerate() {
            self.validate_stream(stream)?;
            let taken = self.streams[..i].iter().any(|s| s.name == stream.name)
                || self.buckets.iter().any(|b| b.name == stream.name);
            if taken {
                return Err(format!("stream {}: name used twice", stream.name));
            }
        }
        Ok(())
    }

    fn validate_stream(&self, stream: &StreamDefinition) -> Result<(), String> {
        check_ident(&stream.name)?;
        let Some(table) = self.table(&stream.table) else {
            return Err(format!(
                "stream {}: unknown table {}",
                stream.name, stream.table
            ));
        };
        for filter in &stream.filters {
            if !table.columns.contains(&filter.column) {
                return Err(format!(
                    "stream {}: unknown column {}",
                    stream.name, filter.column
                ));
            }
        }
        if stream.priority < 0 {
            return Err(format!("stream {}: negative priority", stream.name));
        }
        // Like the real compiler: a default stream has no subscription to take them from.
        if stream.auto_subscribe && stream.uses_subscription_parameters() {
            return Err(format!(
                "stream {}: auto_subscribe streams cannot use subscription parameters",
                stream.name
            ));
        }
        Ok(())
    }

    /// Looks up a table by name.
    pub fn table(&self, name: &str) -> Option<&TableConfig> {
        self.tables.iter().find(|t| t.name == name)
    }
}

fn check_ident(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && !name.starts_with("_psync");
    if ok {
        Ok(())
    } else {
        Err(format!("invalid identifier {name:?}"))
    }
}

/// Runtime knobs of a service instance.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// Sync configuration.
    pub sync: SyncConfig,
    /// HS256 key used to sign and verify tokens.
    pub jwt_secret: Vec<u8>,
    /// Lifetime of minted tokens unless the request says otherwise.
    pub default_token_lifetime: Duration,
    /// Interval between `token_expires_in` keepalive lines (the real service uses 20 s).
    pub keepalive_interval: Duration,
    /// How long before token expiry an extra `token_expires_in` warning is sent (20 s upstream).
    pub expire_warning_period: Duration,
    /// Maximum number of ops per `data` line.
    pub ops_per_data_line: usize,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            sync: SyncConfig::default(),
            jwt_secret: b"psync-test-service-dev-key".to_vec(),
            default_token_lifetime: Duration::from_secs(3600),
            keepalive_interval: Duration::from_secs(20),
            expire_warning_period: Duration::from_secs(20),
            ops_per_data_line: 1000,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid_and_round_trips() {
        let config = SyncConfig::default();
        config.validate().expect("valid");
        let text = serde_json::to_string(&config).expect("json");
        assert_eq!(SyncConfig::from_json(&text).expect("parse"), config);
    }

    #[test]
    fn streams_example_parses() {
        let config = SyncConfig::streams_example();
        assert!(config.streams.iter().any(|s| s.auto_subscribe));
        assert!(
            config
                .streams
                .iter()
                .any(|s| s.uses_subscription_parameters())
        );
    }

    #[test]
    fn auto_subscribed_stream_with_subscription_parameters_is_rejected() {
        let text = r#"{"tables":[{"name":"t","columns":["a"]}], "buckets":[],
            "streams":[{"name":"s","table":"t","auto_subscribe":true,
                        "where":[{"column":"a","subscription":"a"}]}]}"#;
        assert!(SyncConfig::from_json(text).is_err());
    }

    #[test]
    fn unknown_owner_column_is_rejected() {
        let text = r#"{"tables":[{"name":"t","columns":["a"]}],
            "buckets":[{"name":"b","table":"t","owner_column":"zz"}]}"#;
        assert!(SyncConfig::from_json(text).is_err());
    }

    #[test]
    fn priority_defaults_to_three() {
        let text = r#"{"tables":[{"name":"t","columns":["a"]}],
            "buckets":[{"name":"b","table":"t"}]}"#;
        assert_eq!(
            SyncConfig::from_json(text).expect("parse").buckets[0].priority,
            3
        );
    }
}
