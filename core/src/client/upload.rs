// SPDX-License-Identifier: Apache-2.0
//! The upload loop (client-state-machine.md §6) and write-checkpoint id allocation shared with
//! `request_checkpoint` (§5.2).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use rusqlite::OptionalExtension;

use super::http::{self, HttpError};
use super::session::{SeedState, Session};
use super::{Inner, SyncClient, blocking};
use crate::kv;
use crate::sync::SyncCommand;

/// Why no checkpoint request id could be obtained.
#[derive(Debug)]
pub(crate) enum AllocError {
    /// Session over while waiting for the seed.
    Ended,
    /// Legacy mode / 404.
    Unsupported,
    /// HTTP failure.
    Http(HttpError),
    /// Credentials, database or protocol failure.
    Other(String),
}

impl std::fmt::Display for AllocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AllocError::Ended => write!(f, "disconnected"),
            AllocError::Unsupported => write!(f, "checkpoint requests are not supported"),
            AllocError::Http(e) => write!(f, "{e}"),
            AllocError::Other(e) => write!(f, "{e}"),
        }
    }
}

async fn allocate_local(inner: &Inner) -> crate::Result<i64> {
    let db = inner.db.clone();
    blocking(move || db.write(|tx| db.state().sync.next_checkpoint_request_id(tx.connection())))
        .await
}

/// Adopts a larger id the service holds; never lowers the local counter.
async fn seed_at_least(inner: &Inner, id: i64) -> crate::Result<i64> {
    let db = inner.db.clone();
    blocking(move || {
        db.write(|tx| {
            let engine = &db.state().sync;
            let conn = tx.connection();
            match engine.current_checkpoint_request_id(conn)? {
                Some(current) if current >= id => Ok(current),
                _ => engine.seed_checkpoint_request_id(conn, id),
            }
        })
    })
    .await
}

/// Waits for the seed, allocates an id, posts it and returns the accepted id (§5.2).
///
/// One allocation+POST runs at a time (concurrent posts could reach the service out of order
/// and be answered with each other's ids). Callers that queued behind a POST which *started
/// after they were called* share its accepted id: it was stored after their writes, so it
/// covers them. 100 concurrent requests thus need about two POSTs.
pub(crate) async fn allocate_and_post(inner: &Inner, session: &Session) -> Result<i64, AllocError> {
    let posts_before_call = inner.posts_started.load(Ordering::SeqCst);
    let mut last_post = inner.request_lock.lock().await;
    if let Some((started, accepted)) = *last_post
        && started > posts_before_call
    {
        return Ok(accepted);
    }
    let sequence = inner.posts_started.fetch_add(1, Ordering::SeqCst) + 1;
    let accepted = allocate_and_post_serially(inner, session).await?;
    *last_post = Some((sequence, accepted));
    Ok(accepted)
}

async fn allocate_and_post_serially(inner: &Inner, session: &Session) -> Result<i64, AllocError> {
    // The iteration may end between the seed and the allocation (MISUSE from the engine);
    // wait for the next seed and try again a few times.
    let mut attempts = 0;
    let id = loop {
        match session.wait_seeded().await {
            SeedState::Seeded => {}
            SeedState::Legacy => return Err(AllocError::Unsupported),
            SeedState::Ended | SeedState::Pending => return Err(AllocError::Ended),
        }
        match allocate_local(inner).await {
            Ok(id) => break id,
            Err(_) if attempts < 3 => {
                attempts += 1;
                tokio::task::yield_now().await;
            }
            Err(e) => return Err(AllocError::Other(format!("allocating an id failed: {e}"))),
        }
    };
    let credentials = session.credentials().await.map_err(AllocError::Other)?;
    let client_id = inner.client_id().await.map_err(AllocError::Other)?;
    let post = |id: i64| {
        let credentials = credentials.clone();
        let client_id = client_id.clone();
        async move {
            http::post_checkpoint_request(&inner.http, &credentials, &client_id, id)
                .await
                .map_err(|e| {
                    if matches!(e, HttpError::Unauthorized(_)) {
                        session.invalidate();
                    }
                    AllocError::Http(e)
                })
        }
    };
    let accepted = post(id).await?;
    if accepted < id {
        return Err(AllocError::Other(format!(
            "checkpoint request returned {accepted}, older than requested id {id}"
        )));
    }
    if accepted == id {
        return Ok(id);
    }
    // The service already held a larger (stale) id: adopt it and ask once more so the
    // acknowledged id is bound to a replication head taken after our writes.
    seed_at_least(inner, accepted)
        .await
        .map_err(|e| AllocError::Other(format!("re-seeding failed: {e}")))?;
    let retry = allocate_local(inner)
        .await
        .map_err(|e| AllocError::Other(format!("allocating an id failed: {e}")))?;
    let accepted = post(retry).await?;
    if accepted < retry {
        return Err(AllocError::Other(format!(
            "checkpoint request returned {accepted}, older than requested id {retry}"
        )));
    }
    Ok(accepted)
}

/// The upload task of one session.
pub(crate) async fn run(inner: Arc<Inner>, session: Arc<Session>) {
    loop {
        tokio::select! {
            () = session.upload_trigger.notified() => {}
            () = session.cancel.cancelled() => break,
        }
        let result = tokio::select! {
            r = round(&inner, &session) => r,
            () = session.cancel.cancelled() => break,
        };
        match result {
            Ok(()) => {
                inner.status.update(|s| {
                    s.uploading = false;
                    s.upload_error = None;
                });
                let _ = session.commands.send(SyncCommand::CompletedUpload);
            }
            Err(e) => {
                log::warn!("upload failed: {e}");
                inner.status.update(|s| {
                    s.uploading = false;
                    s.upload_error = Some(e);
                });
                tokio::select! {
                    () = tokio::time::sleep(session.options.retry_delay) => {}
                    () = session.cancel.cancelled() => break,
                }
                session.upload_trigger.notify_one();
                continue;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(session.options.crud_throttle) => {}
            () = session.cancel.cancelled() => break,
        }
    }
}

async fn first_crud_id(inner: &Inner) -> crate::Result<Option<i64>> {
    let db = inner.db.clone();
    blocking(move || {
        db.read(|tx| {
            Ok(tx
                .connection()
                .query_row("SELECT id FROM ps_crud ORDER BY id LIMIT 1", [], |r| {
                    r.get(0)
                })
                .optional()?)
        })
    })
    .await
}

async fn round(inner: &Arc<Inner>, session: &Session) -> Result<(), String> {
    let client = SyncClient {
        inner: inner.clone(),
    };
    let mut last = None;
    loop {
        let first = first_crud_id(inner)
            .await
            .map_err(|e| format!("reading the upload queue failed: {e}"))?;
        let Some(first) = first else { break };
        if last == Some(first) {
            log::warn!(
                "Potentially previously uploaded CRUD entries are still present in the upload \
                 queue. Make sure to handle uploads and complete CRUD transactions or batches."
            );
            return Err("Delaying due to previously encountered CRUD item.".into());
        }
        last = Some(first);
        inner.status.update(|s| s.uploading = true);
        session
            .connector
            .upload_data(&client)
            .await
            .map_err(|e| format!("upload_data failed: {e}"))?;
    }
    update_target(inner, session).await
}

/// §6 `update_target()`.
async fn update_target(inner: &Inner, session: &Session) -> Result<(), String> {
    let db = inner.db.clone();
    let (target, seq_before) = blocking(move || {
        db.read(|tx| {
            let conn = tx.connection();
            Ok((kv::target(conn)?, crud_sequence(conn)?))
        })
    })
    .await
    .map_err(|e| format!("reading the write checkpoint state failed: {e}"))?;
    if target != Some(kv::MAX_OP_ID) {
        return Ok(());
    }
    let Some(seq_before) = seq_before else {
        return Ok(());
    };
    let id = match allocate_and_post(inner, session).await {
        Ok(id) => id,
        Err(AllocError::Unsupported) => {
            let credentials = session.credentials().await?;
            let client_id = inner.client_id().await?;
            http::get_write_checkpoint(&inner.http, &credentials, &client_id)
                .await
                .map_err(|e| {
                    if matches!(e, HttpError::Unauthorized(_)) {
                        session.invalidate();
                    }
                    e.to_string()
                })?
        }
        Err(e) => return Err(format!("obtaining a write checkpoint failed: {e}")),
    };
    let db = inner.db.clone();
    blocking(move || {
        db.write(|tx| {
            let conn = tx.connection();
            let queue_empty: bool =
                conn.query_row("SELECT NOT EXISTS (SELECT 1 FROM ps_crud)", [], |r| {
                    r.get(0)
                })?;
            if !queue_empty || crud_sequence(conn)? != Some(seq_before) {
                // A write happened meanwhile; a later round requests a newer id.
                return Ok(());
            }
            if kv::target(conn)? != Some(kv::MAX_OP_ID) {
                return Ok(());
            }
            db.state()
                .sync
                .target_checkpoint_request_id(conn, Some(id))?;
            Ok(())
        })
    })
    .await
    .map_err(|e| format!("storing the write checkpoint failed: {e}"))
}

fn crud_sequence(conn: &rusqlite::Connection) -> crate::Result<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'ps_crud'",
            [],
            |r| r.get(0),
        )
        .optional()?)
}
