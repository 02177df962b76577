// SPDX-License-Identifier: Apache-2.0
//! `request_checkpoint()` and [`CheckpointRequest`] (client-state-machine.md §9).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::http::{self, HttpFailure};
use super::session::{SeedState, SessionShared};
use super::{ClientInner, Lifecycle, blocking, engine};

/// Why a checkpoint request could not be made or waited for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointError {
    /// No `connect()` is active (or `disconnect()` was called while waiting).
    NotConnected,
    /// The service does not support checkpoint requests (404), or the client was connected
    /// in legacy mode.
    NotSupported,
    /// The service rejected the credentials (they were invalidated).
    Unauthenticated(String),
    /// `wait_for_sync` timed out; the request stays valid.
    Timeout,
    /// The database was closed.
    Closed,
    /// Sync reported an error while waiting (download or upload error).
    SyncError(String),
    /// The request failed (network, other HTTP status, malformed or stale answer).
    Failed(String),
}

impl std::fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckpointError::NotConnected => f.write_str("not connected"),
            CheckpointError::NotSupported => {
                f.write_str("the sync service does not support checkpoint requests")
            }
            CheckpointError::Unauthenticated(m) => write!(f, "unauthenticated: {m}"),
            CheckpointError::Timeout => f.write_str("timed out waiting for the checkpoint"),
            CheckpointError::Closed => f.write_str("the database was closed"),
            CheckpointError::SyncError(m) => write!(f, "sync error while waiting: {m}"),
            CheckpointError::Failed(m) => write!(f, "checkpoint request failed: {m}"),
        }
    }
}

impl std::error::Error for CheckpointError {}

/// A checkpoint the service acknowledged; synced once a checkpoint including it was applied.
pub struct CheckpointRequest {
    id: i64,
    synced: AtomicBool,
    client: Arc<ClientInner>,
}

impl std::fmt::Debug for CheckpointRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointRequest")
            .field("id", &self.id)
            .field("synced", &self.is_synced())
            .finish()
    }
}

impl CheckpointRequest {
    /// The id the service accepted.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Whether a checkpoint including this request was applied locally. Latches: once true it
    /// stays true even if the status later forgets the applied id.
    pub fn is_synced(&self) -> bool {
        if self.synced.load(Ordering::Acquire) {
            return true;
        }
        if self.client.max_applied.load(Ordering::Acquire) >= self.id {
            self.synced.store(true, Ordering::Release);
            return true;
        }
        false
    }

    /// Waits until synced. Fails fast with [`CheckpointError::SyncError`] when the status shows
    /// a download or upload error, with [`CheckpointError::NotConnected`] after
    /// `disconnect()`, [`CheckpointError::Closed`] after `close()`, and
    /// [`CheckpointError::Timeout`] after `timeout` (a zero timeout fails unless synced).
    pub async fn wait_for_sync(&self, timeout: Option<Duration>) -> Result<(), CheckpointError> {
        if self.is_synced() {
            return Ok(());
        }
        match timeout {
            Some(limit) if limit.is_zero() => Err(CheckpointError::Timeout),
            Some(limit) => tokio::time::timeout(limit, self.wait())
                .await
                .unwrap_or(Err(CheckpointError::Timeout)),
            None => self.wait().await,
        }
    }

    async fn wait(&self) -> Result<(), CheckpointError> {
        let mut status = self.client.status.subscribe();
        let mut lifecycle = self.client.lifecycle.subscribe();
        loop {
            if self.is_synced() {
                return Ok(());
            }
            if let Some(error) = status.borrow_and_update().any_error() {
                return Err(CheckpointError::SyncError(error.to_owned()));
            }
            match *lifecycle.borrow_and_update() {
                Lifecycle::Connected => {}
                Lifecycle::Idle => return Err(CheckpointError::NotConnected),
                Lifecycle::Closed => return Err(CheckpointError::Closed),
            }
            tokio::select! {
                changed = status.changed() => if changed.is_err() { return Err(CheckpointError::Closed) },
                changed = lifecycle.changed() => if changed.is_err() { return Err(CheckpointError::Closed) },
            }
        }
    }
}

/// `request_checkpoint()`.
pub(crate) async fn request(
    client: &Arc<ClientInner>,
) -> Result<CheckpointRequest, CheckpointError> {
    if *client.lifecycle.borrow() == Lifecycle::Closed {
        return Err(CheckpointError::Closed);
    }
    let shared = client
        .current
        .lock()
        .clone()
        .ok_or(CheckpointError::NotConnected)?;
    if shared.options.checkpoint_mode != super::CheckpointMode::Requests {
        return Err(CheckpointError::NotSupported);
    }
    let id = allocate(&shared, client).await?;
    Ok(CheckpointRequest {
        id,
        synced: AtomicBool::new(false),
        client: Arc::clone(client),
    })
}

/// Waits for a seeded iteration, allocates an id, posts it, and applies the stale-id rule
/// (§5.2): an answer above our id re-seeds, allocates again and re-posts once.
pub(crate) async fn allocate(
    shared: &Arc<SessionShared>,
    client: &Arc<ClientInner>,
) -> Result<i64, CheckpointError> {
    let _in_order = shared.allocation.lock().await;
    let mut id = None;
    // The iteration can end between the seed check and the allocation; then wait again.
    for _ in 0..5 {
        let mut seed = shared.seed.subscribe();
        let state = *seed
            .wait_for(|s| *s != SeedState::Waiting)
            .await
            .map_err(|_| CheckpointError::NotConnected)?;
        match state {
            SeedState::Seeded => {}
            SeedState::Unsupported => return Err(CheckpointError::NotSupported),
            SeedState::Ended | SeedState::Waiting => return Err(CheckpointError::NotConnected),
        }
        match blocking(&client.db, engine::next_id).await {
            Ok(allocated) => {
                id = Some(allocated);
                break;
            }
            Err(_) if *shared.seed.borrow() != SeedState::Seeded => continue,
            Err(error) => return Err(CheckpointError::Failed(error.to_string())),
        }
    }
    let id = id.ok_or(CheckpointError::NotConnected)?;
    let accepted = post(shared, id).await?;
    if accepted < id {
        return Err(CheckpointError::Failed(format!(
            "service accepted {accepted}, older than requested id {id}"
        )));
    }
    if accepted == id {
        return Ok(id);
    }
    let retry = blocking(&client.db, move |db| {
        engine::seed_above_and_next(db, accepted)
    })
    .await
    .map_err(|e| CheckpointError::Failed(e.to_string()))?;
    let accepted = post(shared, retry).await?;
    if accepted < retry {
        return Err(CheckpointError::Failed(format!(
            "service accepted {accepted}, older than requested id {retry}"
        )));
    }
    Ok(accepted)
}

async fn post(shared: &Arc<SessionShared>, id: i64) -> Result<i64, CheckpointError> {
    let credentials = shared
        .credentials()
        .await
        .map_err(|e| CheckpointError::Failed(e.to_string()))?;
    match http::post_checkpoint_request(&shared.http, &credentials, &shared.client_id, id).await {
        Ok(accepted) => Ok(accepted),
        Err(HttpFailure::Unauthorized(message)) => {
            shared.invalidate_credentials();
            Err(CheckpointError::Unauthenticated(message))
        }
        Err(HttpFailure::NotFound(_)) => Err(CheckpointError::NotSupported),
        Err(HttpFailure::Other(message)) => Err(CheckpointError::Failed(message)),
    }
}
