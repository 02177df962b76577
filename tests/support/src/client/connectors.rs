// SPDX-License-Identifier: Apache-2.0
//! Connector doubles: the real [`ServiceConnector`] with one thing changed.

use std::sync::Arc;

use async_trait::async_trait;
use psync_core::Result;
use psync_core::client::{BackendConnector, Credentials, SyncDatabase};
use psync_demo::ServiceConnector;

/// A connector whose credentials point the sync client at another endpoint (a proxy, a bare
/// listener); tokens and uploads still go to the service through `inner`.
pub struct EndpointConnector<C = ServiceConnector> {
    /// The connector doing the real work.
    pub inner: Arc<C>,
    /// The endpoint handed to the sync client.
    pub endpoint: String,
}

#[async_trait]
impl<C: BackendConnector> BackendConnector for EndpointConnector<C> {
    async fn fetch_credentials(&self) -> Result<Option<Credentials>> {
        Ok(self.inner.fetch_credentials().await?.map(|c| Credentials {
            endpoint: self.endpoint.clone(),
            token: c.token,
        }))
    }

    async fn upload_data(&self, database: &SyncDatabase) -> Result<()> {
        self.inner.upload_data(database).await
    }

    async fn invalidate_credentials(&self) {
        self.inner.invalidate_credentials().await;
    }
}

/// Fixed credentials (`endpoint`, token `test-token`) for a server that is not the test
/// service; uploads leave the queue untouched.
pub struct FixedCredentials(pub String);

#[async_trait]
impl BackendConnector for FixedCredentials {
    async fn fetch_credentials(&self) -> Result<Option<Credentials>> {
        Ok(Some(Credentials {
            endpoint: self.0.clone(),
            token: "test-token".into(),
        }))
    }

    async fn upload_data(&self, _database: &SyncDatabase) -> Result<()> {
        Ok(())
    }
}

/// Credentials from the service; uploads are accepted and dropped (for databases whose
/// tables the service does not know, where only the queue and gate logic matter).
pub struct DiscardingUploads(pub ServiceConnector);

#[async_trait]
impl BackendConnector for DiscardingUploads {
    async fn fetch_credentials(&self) -> Result<Option<Credentials>> {
        self.0.fetch_credentials().await
    }

    async fn upload_data(&self, database: &SyncDatabase) -> Result<()> {
        while let Some(transaction) = database.get_next_crud_transaction().await? {
            database.complete_transaction(transaction, None).await?;
        }
        Ok(())
    }
}
