// SPDX-License-Identifier: Apache-2.0
//! Shared pieces of the demo, the end-to-end tests and the client benchmark: the app schema
//! matching the test service's default config, and a connector that uploads to its
//! `/api/data` backend.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use parking_lot::Mutex;
use psync_core::client::{BackendConnector, ConnectorError, Credentials, SyncClient};
use psync_core::schema::{Column, Schema, Table};
use psync_core::{Database, Result};
use serde_json::json;

/// The app schema for the service's built-in tables.
pub fn app_schema() -> Schema {
    Schema::new([
        Table::new(
            "lists",
            [
                Column::text("name"),
                Column::text("owner_id"),
                Column::text("created_at"),
            ],
        ),
        Table::new(
            "todos",
            [
                Column::text("list_id"),
                Column::text("description"),
                Column::integer("completed"),
                Column::text("owner_id"),
                Column::text("created_at"),
            ],
        ),
        Table::new(
            "announcements",
            [
                Column::text("title"),
                Column::text("body"),
                Column::text("created_at"),
            ],
        ),
    ])
}

/// Opens (creating) a database file and applies [`app_schema`].
pub fn open_app_db(path: &Path) -> Result<Database> {
    let db = Database::open(path)?;
    apply_schema(&db)?;
    Ok(db)
}

/// Applies [`app_schema`] to `db`.
pub fn apply_schema(db: &Database) -> Result<()> {
    let state = db.state().clone();
    db.write(|tx| state.schema.replace(tx.connection(), app_schema()))
}

/// A connector for the embedded test service: mints tokens through its API and uploads
/// queued writes to `POST /api/data`, one transaction at a time.
pub struct ServiceConnector {
    url: String,
    user_id: String,
    http: reqwest::Client,
    /// Token lifetime requested from the service (seconds), `None` = service default.
    pub token_lifetime_secs: Mutex<Option<u64>>,
    /// Counts credential fetches.
    pub fetches: AtomicUsize,
    /// Counts invalidations.
    pub invalidations: AtomicUsize,
    /// Counts uploaded entries.
    pub uploaded: AtomicUsize,
    /// When set, uploads fail with this message.
    pub fail_uploads: Mutex<Option<String>>,
    /// When set, queued writes are completed without sending them (the backend "accepts" and
    /// drops them); used for databases whose tables the service does not know.
    pub discard_uploads: std::sync::atomic::AtomicBool,
}

impl ServiceConnector {
    /// A connector for `url` acting as `user_id`.
    pub fn new(url: &str, user_id: &str) -> Arc<Self> {
        Arc::new(Self {
            url: url.to_string(),
            user_id: user_id.to_string(),
            http: reqwest::Client::new(),
            token_lifetime_secs: Mutex::new(None),
            fetches: AtomicUsize::new(0),
            invalidations: AtomicUsize::new(0),
            uploaded: AtomicUsize::new(0),
            fail_uploads: Mutex::new(None),
            discard_uploads: std::sync::atomic::AtomicBool::new(false),
        })
    }

    async fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: serde_json::Value,
    ) -> std::result::Result<serde_json::Value, ConnectorError> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.url))
            .header("Content-Type", "application/json")
            .body(body.to_string());
        if let Some(token) = token {
            request = request.header("Authorization", format!("Token {token}"));
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await?;
        if !(200..300).contains(&status) {
            return Err(format!("{path} answered HTTP {status}").into());
        }
        Ok(serde_json::from_slice(&bytes)?)
    }

    async fn token(&self) -> std::result::Result<String, ConnectorError> {
        let lifetime = *self.token_lifetime_secs.lock();
        let mut body = json!({"user_id": self.user_id});
        if let Some(secs) = lifetime {
            body["expires_in"] = json!(secs);
        }
        let answer = self.post_json("/api/auth/token", None, body).await?;
        answer["token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| "token answer without token".into())
    }
}

#[async_trait]
impl BackendConnector for ServiceConnector {
    async fn fetch_credentials(&self) -> std::result::Result<Option<Credentials>, ConnectorError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        Ok(Some(Credentials {
            endpoint: self.url.clone(),
            token: self.token().await?,
        }))
    }

    async fn upload_data(&self, client: &SyncClient) -> std::result::Result<(), ConnectorError> {
        if let Some(message) = self.fail_uploads.lock().clone() {
            return Err(message.into());
        }
        let Some(transaction) = client.next_crud_transaction().await? else {
            return Ok(());
        };
        if self.discard_uploads.load(Ordering::SeqCst) {
            client.complete_transaction(transaction, None).await?;
            return Ok(());
        }
        let batch: Vec<_> = transaction
            .entries
            .iter()
            .map(|e| json!({"op": e.op.as_str(), "type": e.table, "id": e.id, "data": e.data}))
            .collect();
        let token = self.token().await?;
        self.post_json("/api/data", Some(&token), json!({"batch": batch}))
            .await?;
        self.uploaded
            .fetch_add(transaction.entries.len(), Ordering::SeqCst);
        client.complete_transaction(transaction, None).await?;
        Ok(())
    }

    async fn invalidate_credentials(&self) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
    }
}
