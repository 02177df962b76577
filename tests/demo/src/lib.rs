// SPDX-License-Identifier: Apache-2.0
//! Shared pieces of the demo and the end-to-end tests: the schema matching the test service's
//! default config, and a [`BackendConnector`] that gets tokens from the service and uploads
//! through its `POST /api/data` endpoint, and [`ExternalConnector`] for a user's own deployment.

mod external;

pub use external::{ExternalConnector, TokenSource};

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use parking_lot::Mutex;
use psync_core::client::{BackendConnector, Credentials, SyncDatabase};
use psync_core::schema::{Column, Schema, Table};
use psync_core::{Database, Error, Result};
use serde_json::json;

/// The app schema for the service's built-in config (announcements, lists, todos).
pub fn demo_schema() -> Schema {
    Schema::new([
        Table::new(
            "announcements",
            [
                Column::text("title"),
                Column::text("body"),
                Column::text("created_at"),
            ],
        ),
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
    ])
}

/// Opens a database (in memory when `path` is `None`) with [`demo_schema`] applied.
pub fn open_demo_database(path: Option<&std::path::Path>) -> Result<SyncDatabase> {
    let db = match path {
        Some(p) => Database::open(p)?,
        None => Database::open_in_memory()?,
    };
    let state = Arc::clone(db.state());
    db.write(|tx| state.schema.replace(tx.connection(), demo_schema()))?;
    Ok(SyncDatabase::new(db))
}

/// A reqwest client with the sync client's trust store. (psync-core turns on reqwest's rustls
/// backend without a default crypto provider, so `reqwest::Client::new()` would panic.)
pub fn http_client() -> reqwest::Client {
    let tls = psync_core::client::tls_client_config(&[]).expect("TLS configuration");
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .expect("HTTP client")
}

/// Uploads the oldest queued transaction to an app backend's upload endpoint and completes it.
///
/// The body is `{"batch": [{"op", "type", "id", "data"}, ...]}`, the shape the test service's
/// `POST /api/data` and PowerSync's demo backends accept; `token` goes in `Authorization:
/// Token …` when given. Returns whether a transaction was uploaded.
pub async fn upload_next_transaction(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    database: &SyncDatabase,
) -> Result<bool> {
    let Some(transaction) = database.get_next_crud_transaction().await? else {
        return Ok(false);
    };
    let batch: Vec<serde_json::Value> = transaction
        .entries
        .iter()
        .map(|e| json!({"op": e.op.as_str(), "type": e.table, "id": e.id, "data": e.data}))
        .collect();
    let mut request = http.post(url).json(&json!({"batch": batch}));
    if let Some(token) = token {
        request = request.header("Authorization", format!("Token {token}"));
    }
    let response = request
        .send()
        .await
        .map_err(|_| Error::protocol("upload failed: network"))?;
    if !response.status().is_success() {
        return Err(Error::protocol(format!(
            "upload failed: HTTP {}",
            response.status().as_u16()
        )));
    }
    database.complete_transaction(transaction, None).await?;
    Ok(true)
}

/// Connector for the test service.
pub struct ServiceConnector {
    url: String,
    user_id: String,
    http: reqwest::Client,
    /// Token lifetime asked for (seconds); `None` = service default.
    pub token_lifetime: Mutex<Option<u64>>,
    /// How many times credentials were fetched.
    pub fetches: AtomicUsize,
    /// How many times credentials were invalidated.
    pub invalidations: AtomicUsize,
    /// How many transactions were uploaded.
    pub uploaded: AtomicUsize,
    /// While non-zero, `upload_data` fails (and decrements it).
    pub fail_uploads: AtomicUsize,
    /// While non-zero, `fetch_credentials` fails (and decrements it).
    pub fail_fetches: AtomicUsize,
}

impl ServiceConnector {
    /// A connector for `user_id` against the service at `url`.
    pub fn new(url: impl Into<String>, user_id: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            user_id: user_id.into(),
            http: http_client(),
            token_lifetime: Mutex::new(None),
            fetches: AtomicUsize::new(0),
            invalidations: AtomicUsize::new(0),
            uploaded: AtomicUsize::new(0),
            fail_uploads: AtomicUsize::new(0),
            fail_fetches: AtomicUsize::new(0),
        }
    }

    async fn token(&self) -> Result<String> {
        let mut body = json!({"user_id": self.user_id});
        if let Some(lifetime) = *self.token_lifetime.lock() {
            body["expires_in"] = json!(lifetime);
        }
        let answer: serde_json::Value = self
            .http
            .post(format!("{}/api/auth/token", self.url))
            .json(&body)
            .send()
            .await
            .map_err(|_| Error::protocol("token request failed"))?
            .json()
            .await
            .map_err(|_| Error::protocol("token answer malformed"))?;
        answer["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::protocol("token answer has no token"))
    }
}

#[async_trait]
impl BackendConnector for ServiceConnector {
    async fn fetch_credentials(&self) -> Result<Option<Credentials>> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        if self
            .fail_fetches
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(Error::protocol("simulated auth backend outage"));
        }
        Ok(Some(Credentials {
            endpoint: self.url.clone(),
            token: self.token().await?,
        }))
    }

    async fn upload_data(&self, database: &SyncDatabase) -> Result<()> {
        if self
            .fail_uploads
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(Error::protocol("simulated backend outage"));
        }
        let token = self.token().await?;
        let url = format!("{}/api/data", self.url);
        if upload_next_transaction(&self.http, &url, Some(&token), database).await? {
            self.uploaded.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }

    async fn invalidate_credentials(&self) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
    }
}
