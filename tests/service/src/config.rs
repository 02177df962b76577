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

/// Tables and bucket definitions of a service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SyncConfig {
    /// Source tables (created if missing).
    pub tables: Vec<TableConfig>,
    /// Bucket definitions.
    pub buckets: Vec<BucketDefinition>,
}

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
