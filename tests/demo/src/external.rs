// SPDX-License-Identifier: Apache-2.0
//! A connector for a user's own deployment: the sync service at a given endpoint, a token that
//! is fixed or printed by a command, and uploads to the app backend's upload URL.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use psync_core::client::{BackendConnector, Credentials, SyncDatabase};
use psync_core::{Error, Result};

use crate::{http_client, upload_next_transaction};

/// Where the connector gets its token.
#[derive(Clone)]
pub enum TokenSource {
    /// The same token every time (it stops working when it expires).
    Fixed(String),
    /// A shell command run with `sh -c` whenever credentials are needed; its trimmed standard
    /// output is the token. This is how the demo follows a token that expires mid-stream.
    Command(String),
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // Never print a token.
            Self::Fixed(_) => f.write_str("Fixed(…)"),
            Self::Command(command) => f.debug_tuple("Command").field(command).finish(),
        }
    }
}

impl TokenSource {
    async fn token(&self) -> Result<String> {
        match self {
            Self::Fixed(token) => Ok(token.clone()),
            Self::Command(command) => {
                let output = tokio::process::Command::new("sh")
                    .arg("-c")
                    .arg(command)
                    .output()
                    .await
                    .map_err(|e| Error::state(format!("cannot run the token command: {e}")))?;
                if !output.status.success() {
                    return Err(Error::state(format!(
                        "the token command failed ({}): {}",
                        output.status,
                        String::from_utf8_lossy(&output.stderr).trim()
                    )));
                }
                let token = String::from_utf8(output.stdout)
                    .map_err(|_| Error::state("the token command printed non-UTF-8 output"))?;
                let token = token.trim();
                if token.is_empty() {
                    return Err(Error::state("the token command printed no token"));
                }
                Ok(token.to_owned())
            }
        }
    }
}

/// Connector for a sync service and app backend the demo does not run itself.
pub struct ExternalConnector {
    endpoint: String,
    tokens: TokenSource,
    upload_url: String,
    http: reqwest::Client,
    /// How many transactions were uploaded.
    pub uploaded: AtomicUsize,
    /// How many times credentials were fetched.
    pub fetches: AtomicUsize,
}

impl ExternalConnector {
    /// A connector syncing with `endpoint` and uploading to `upload_url`.
    pub fn new(endpoint: &str, tokens: TokenSource, upload_url: &str) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            tokens,
            upload_url: upload_url.to_owned(),
            http: http_client(),
            uploaded: AtomicUsize::new(0),
            fetches: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl BackendConnector for ExternalConnector {
    async fn fetch_credentials(&self) -> Result<Option<Credentials>> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        Ok(Some(Credentials {
            endpoint: self.endpoint.clone(),
            token: self.tokens.token().await?,
        }))
    }

    async fn upload_data(&self, database: &SyncDatabase) -> Result<()> {
        let token = self.tokens.token().await?;
        if upload_next_transaction(&self.http, &self.upload_url, Some(&token), database).await? {
            self.uploaded.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}
