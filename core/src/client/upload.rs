// SPDX-License-Identifier: Apache-2.0
//! The upload side (client-state-machine.md §6): rounds of `upload_data`, then a write
//! checkpoint for the apply gate, then `CompletedUpload` to the engine.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::checkpoint::{Allocator, CheckpointError, SeedState};
use super::connector::BackendConnector;
use super::engine_calls;
use super::http::{HttpFailure, ServiceClient};
use super::signals::Signals;
use super::{ClientInner, SyncDatabase, blocking};
use crate::storage::crud::queue;
use crate::storage::gate::{self, MAX_OP_ID};
use crate::{Error, Result};

/// What the upload task needs of its session.
pub(crate) struct Uploader {
    pub(crate) client: Weak<ClientInner>,
    pub(crate) connector: Arc<dyn BackendConnector>,
    pub(crate) retry_delay: Duration,
    pub(crate) crud_throttle: Duration,
    pub(crate) service: Arc<ServiceClient>,
    pub(crate) signals: Arc<Signals>,
    pub(crate) checkpoints: Arc<Allocator>,
}

/// The upload task: one round per trigger, throttled, retried after errors.
pub(crate) async fn run(up: Uploader) {
    let signals = &up.signals;
    loop {
        tokio::select! {
            _ = signals.upload_trigger.notified() => {}
            _ = signals.cancelled() => break,
        }
        let Some(client) = up.client.upgrade() else {
            break;
        };
        let outcome = tokio::select! {
            outcome = round(&up, &client) => Some(outcome),
            _ = signals.cancelled() => None,
        };
        let Some(outcome) = outcome else {
            client.status.update(|s| s.uploading = false);
            break;
        };
        match outcome {
            Ok(()) => {
                client.status.update(|s| {
                    s.uploading = false;
                    s.upload_error = None;
                });
                signals.completed_upload.notify_one();
                drop(client);
                if !signals.sleep(up.crud_throttle).await {
                    break;
                }
            }
            Err(error) => {
                let message = error.to_string();
                client.log(
                    super::LogLevel::Warning,
                    &format!("upload failed, retrying: {message}"),
                );
                client.status.update(|s| {
                    s.uploading = false;
                    s.upload_error = Some(message);
                });
                drop(client);
                if !signals.sleep(up.retry_delay).await {
                    break;
                }
                signals.upload_trigger.notify_one();
            }
        }
    }
}

async fn first_crud_id(client: &ClientInner) -> Result<Option<i64>> {
    blocking(&client.db, |db| {
        db.read(|tx| queue::first_crud_id(tx.connection()))
    })
    .await
}

async fn round(up: &Uploader, client: &Arc<ClientInner>) -> Result<()> {
    let mut last = None;
    while let Some(first) = first_crud_id(client).await? {
        if Some(first) == last {
            return Err(Error::state(
                "Delaying due to previously encountered CRUD item: upload_data did not complete it",
            ));
        }
        last = Some(first);
        client.status.update(|s| s.uploading = true);
        let database = SyncDatabase::lent(client);
        up.connector.upload_data(&database).await?;
    }
    update_target(up, client).await
}

/// `(apply-gate target, crud sequence)` before asking for a write checkpoint.
async fn gate_snapshot(client: &ClientInner) -> Result<(Option<i64>, Option<i64>)> {
    blocking(&client.db, |db| {
        db.read(|tx| {
            let conn = tx.connection();
            Ok((gate::target(conn)?, queue::crud_sequence(conn)?))
        })
    })
    .await
}

/// Obtains a write checkpoint id for everything uploaded and stores it as the apply-gate
/// target, unless a write happened meanwhile (then a later round does it).
async fn update_target(up: &Uploader, client: &Arc<ClientInner>) -> Result<()> {
    let (target, seq_before) = gate_snapshot(client).await?;
    if target != Some(MAX_OP_ID) {
        return Ok(());
    }
    let Some(seq_before) = seq_before else {
        return Ok(());
    };
    let id = obtain_write_checkpoint(up, client).await?;
    blocking(&client.db, move |db| {
        db.write(|tx| {
            let conn = tx.connection();
            // Nothing queued and nothing queued-and-uploaded since the snapshot: the id
            // covers every write, so the gate may wait for it.
            let unchanged = !queue::has_pending_crud(conn)?
                && queue::crud_sequence(conn)? == Some(seq_before)
                && gate::target(conn)? == Some(MAX_OP_ID);
            if unchanged {
                engine_calls::set_target(db, conn, id)?;
            }
            Ok(())
        })
    })
    .await
}

/// A write checkpoint id: a checkpoint request when the iteration reconciled its counter,
/// else the legacy endpoint.
async fn obtain_write_checkpoint(up: &Uploader, client: &Arc<ClientInner>) -> Result<i64> {
    if up.checkpoints.requests_mode() {
        match up.checkpoints.decided().await {
            SeedState::Seeded => {
                return up
                    .checkpoints
                    .allocate(&up.service, client)
                    .await
                    .map_err(|e| match e {
                        CheckpointError::NotConnected | CheckpointError::Closed => Error::closed(),
                        other => Error::protocol(other.to_string()),
                    });
            }
            SeedState::Ended => return Err(Error::closed()),
            SeedState::Unsupported | SeedState::Waiting => {}
        }
    }
    up.service
        .write_checkpoint()
        .await
        .map_err(HttpFailure::into_error)
}
