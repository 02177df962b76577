// SPDX-License-Identifier: Apache-2.0
//! The upload side (client-state-machine.md §6): rounds of `upload_data`, then a write
//! checkpoint for the apply gate, then `CompletedUpload` to the engine.

use std::sync::Arc;

use super::checkpoint::{self, CheckpointError};
use super::engine_calls;
use super::http;
use super::session::{SeedState, SessionShared};
use super::{ClientInner, SyncDatabase, blocking};
use crate::crud::queue;
use crate::kv::{self, MAX_OP_ID};
use crate::{Error, Result};

/// The upload task: one round per trigger, throttled, retried after errors.
pub(crate) async fn run(shared: Arc<SessionShared>) {
    loop {
        tokio::select! {
            _ = shared.upload_trigger.notified() => {}
            _ = shared.cancelled() => break,
        }
        let Some(client) = shared.client.upgrade() else {
            break;
        };
        let outcome = tokio::select! {
            outcome = round(&shared, &client) => Some(outcome),
            _ = shared.cancelled() => None,
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
                shared.completed_upload.notify_one();
                drop(client);
                if !shared.sleep(shared.options.crud_throttle).await {
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
                if !shared.sleep(shared.options.retry_delay).await {
                    break;
                }
                shared.upload_trigger.notify_one();
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

async fn round(shared: &Arc<SessionShared>, client: &Arc<ClientInner>) -> Result<()> {
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
        shared.connector.upload_data(&database).await?;
    }
    update_target(shared, client).await
}

/// `(apply-gate target, crud sequence)` before asking for a write checkpoint.
async fn gate_snapshot(client: &ClientInner) -> Result<(Option<i64>, Option<i64>)> {
    blocking(&client.db, |db| {
        db.read(|tx| {
            let conn = tx.connection();
            Ok((kv::target(conn)?, queue::crud_sequence(conn)?))
        })
    })
    .await
}

/// Obtains a write checkpoint id for everything uploaded and stores it as the apply-gate
/// target, unless a write happened meanwhile (then a later round does it).
async fn update_target(shared: &Arc<SessionShared>, client: &Arc<ClientInner>) -> Result<()> {
    let (target, seq_before) = gate_snapshot(client).await?;
    if target != Some(MAX_OP_ID) {
        return Ok(());
    }
    let Some(seq_before) = seq_before else {
        return Ok(());
    };
    let id = obtain_write_checkpoint(shared, client).await?;
    blocking(&client.db, move |db| {
        db.write(|tx| {
            let conn = tx.connection();
            // Nothing queued and nothing queued-and-uploaded since the snapshot: the id
            // covers every write, so the gate may wait for it.
            let unchanged = !queue::has_pending_crud(conn)?
                && queue::crud_sequence(conn)? == Some(seq_before)
                && kv::target(conn)? == Some(MAX_OP_ID);
            if unchanged {
                engine_calls::set_target(db, conn, id)?;
            }
            Ok(())
        })
    })
    .await
}

async fn obtain_write_checkpoint(
    shared: &Arc<SessionShared>,
    client: &Arc<ClientInner>,
) -> Result<i64> {
    if shared.requests_mode() {
        let mut seed = shared.seed.subscribe();
        let state = *seed
            .wait_for(|s| *s != SeedState::Waiting)
            .await
            .map_err(|_| Error::closed())?;
        match state {
            SeedState::Seeded => {
                return checkpoint::allocate(shared, client)
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
    let credentials = shared.credentials().await?;
    match http::get_write_checkpoint(&shared.http, &credentials, &shared.client_id).await {
        Ok(id) => Ok(id),
        Err(http::HttpFailure::Unauthorized(message)) => {
            shared.invalidate_credentials();
            Err(Error::protocol(message))
        }
        Err(other) => Err(other.into_error()),
    }
}
