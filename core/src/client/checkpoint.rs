// SPDX-License-Identifier: Apache-2.0
//! `request_checkpoint()` and the returned [`CheckpointRequest`] (client-state-machine.md §9).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::http::HttpError;
use super::upload::{AllocError, allocate_and_post};
use super::{Inner, SyncStatus};

/// Why `request_checkpoint` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointRequestError {
    /// No `connect()` is active (or `disconnect()` was called while waiting for the seed).
    #[error("not connected")]
    NotConnected,
    /// The service does not support checkpoint requests (404), or legacy mode is configured.
    #[error("the sync service does not support checkpoint requests")]
    NotSupported,
    /// The service rejected the credentials (401); they were invalidated.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// Any other failure (network, 5xx, unexpected answer, database).
    #[error("checkpoint request failed: {0}")]
    OperationFailed(String),
}

/// Why `wait_for_sync` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointWaitError {
    /// The timeout elapsed; the request stays valid and may be awaited again.
    #[error("timed out waiting for the checkpoint")]
    Timeout,
    /// A download or upload error is reported in the sync status.
    #[error("sync error: {0}")]
    SyncError(String),
    /// `disconnect()` was called while waiting.
    #[error("disconnected while waiting for the checkpoint")]
    Disconnected,
    /// The client was closed while waiting.
    #[error("sync client closed while waiting for the checkpoint")]
    Closed,
}

/// A checkpoint request acknowledged by the service.
#[derive(Clone)]
pub struct CheckpointRequest {
    id: i64,
    inner: Arc<Inner>,
    synced: Arc<AtomicBool>,
}

impl std::fmt::Debug for CheckpointRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointRequest")
            .field("id", &self.id)
            .field("synced", &self.synced.load(Ordering::SeqCst))
            .finish()
    }
}

impl CheckpointRequest {
    /// The id the service acknowledged.
    pub fn id(&self) -> i64 {
        self.id
    }

    fn check(&self, status: &SyncStatus) -> bool {
        if self.synced.load(Ordering::SeqCst) {
            return true;
        }
        let applied = status
            .last_applied_checkpoint_request_id
            .unwrap_or(0)
            .max(self.inner.status.applied_high_water());
        let synced = applied >= self.id;
        if synced {
            // Latch: the status field is cleared on disconnects and later checkpoints.
            self.synced.store(true, Ordering::SeqCst);
        }
        synced
    }

    /// Whether a checkpoint at or after this request was applied locally. Latches to true.
    pub fn is_synced(&self) -> bool {
        self.check(&self.inner.status.current())
    }

    /// Waits until [`is_synced`](Self::is_synced); `timeout` bounds the wait (`Some(0)` fails
    /// at once unless already synced). Fails fast when the status reports an error.
    pub async fn wait_for_sync(
        &self,
        timeout: Option<Duration>,
    ) -> Result<(), CheckpointWaitError> {
        if self.is_synced() {
            return Ok(());
        }
        match timeout {
            None => self.wait().await,
            Some(t) if t.is_zero() => Err(CheckpointWaitError::Timeout),
            Some(t) => tokio::time::timeout(t, self.wait())
                .await
                .unwrap_or(Err(CheckpointWaitError::Timeout)),
        }
    }

    async fn wait(&self) -> Result<(), CheckpointWaitError> {
        let mut rx = self.inner.status.subscribe();
        loop {
            let status = rx.borrow_and_update().clone();
            if self.check(&status) {
                return Ok(());
            }
            if let Some(error) = status.any_error() {
                return Err(CheckpointWaitError::SyncError(error.to_string()));
            }
            if self.inner.closed.load(Ordering::SeqCst) {
                return Err(CheckpointWaitError::Closed);
            }
            if self.inner.session.lock().is_none() {
                return Err(CheckpointWaitError::Disconnected);
            }
            if rx.changed().await.is_err() {
                return Err(CheckpointWaitError::Closed);
            }
        }
    }
}

/// §9.1: allocate, post and bind a request.
pub(crate) async fn request(
    inner: &Arc<Inner>,
) -> Result<CheckpointRequest, CheckpointRequestError> {
    let session = inner
        .session
        .lock()
        .clone()
        .ok_or(CheckpointRequestError::NotConnected)?;
    match allocate_and_post(inner, &session).await {
        Ok(id) => Ok(CheckpointRequest {
            id,
            inner: inner.clone(),
            synced: Arc::new(AtomicBool::new(false)),
        }),
        Err(AllocError::Ended) => Err(CheckpointRequestError::NotConnected),
        Err(AllocError::Unsupported) | Err(AllocError::Http(HttpError::NotFound(_))) => {
            Err(CheckpointRequestError::NotSupported)
        }
        Err(AllocError::Http(HttpError::Unauthorized(m))) => {
            Err(CheckpointRequestError::Unauthenticated(m))
        }
        Err(e) => Err(CheckpointRequestError::OperationFailed(e.to_string())),
    }
}
