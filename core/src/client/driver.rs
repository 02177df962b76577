// SPDX-License-Identifier: Apache-2.0
//! The download driver (client-state-machine.md §7): runs engine iterations over HTTP,
//! reconciles the checkpoint request id on every connection (§5.2) and retries after errors.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::mpsc;

use super::http::{self, HttpError, Line};
use super::session::{SeedState, Session};
use super::{Inner, blocking, now_micros};
use crate::sync::{
    CheckpointMode, CheckpointRequestTarget, Instruction, LogSeverity, StartSyncStream, SyncCommand,
};

/// How an iteration ended.
enum End {
    /// `CloseSyncStream`: reconnect immediately when `hide_disconnect`.
    Close { hide_disconnect: bool },
    /// `disconnect()`.
    Cancelled,
}

/// Runs `command` in a write transaction on a blocking thread.
pub(crate) async fn control(
    inner: &Inner,
    command: SyncCommand,
) -> Result<Vec<Instruction>, String> {
    let db = inner.db.clone();
    blocking(move || {
        db.write(|tx| {
            db.state()
                .sync
                .control(tx.connection(), command, now_micros())
        })
    })
    .await
    .map_err(|e| format!("sync engine: {e}"))
}

/// Acts on instructions; returns the stream to open or the end of the iteration, if any.
fn handle(
    inner: &Inner,
    session: &Arc<Session>,
    instructions: Vec<Instruction>,
) -> (
    Option<(serde_json::Value, Option<CheckpointRequestTarget>)>,
    Option<End>,
) {
    let mut establish = None;
    let mut end = None;
    for instruction in instructions {
        match instruction {
            Instruction::LogLine { severity, line } => match severity {
                LogSeverity::Debug => log::debug!("{line}"),
                LogSeverity::Info => log::info!("{line}"),
                LogSeverity::Warning => log::warn!("{line}"),
            },
            Instruction::UpdateSyncStatus { status } => {
                inner.status.update(|s| s.apply_core(&status));
            }
            Instruction::EstablishSyncStream {
                request,
                checkpoint_request,
            } => establish = Some((request, checkpoint_request)),
            Instruction::FetchCredentials { did_expire: true } => session.invalidate(),
            Instruction::FetchCredentials { did_expire: false } => spawn_refresh(session),
            Instruction::CloseSyncStream { hide_disconnect } => {
                end = Some(End::Close { hide_disconnect });
            }
            Instruction::DidCompleteSync {
                applied_checkpoint_request_id,
            } => {
                inner.status.update(|s| s.download_error = None);
                if let Some(id) = applied_checkpoint_request_id {
                    inner.status.record_applied(id);
                }
            }
        }
    }
    (establish, end)
}

/// Refreshes credentials in the background once (deduplicated), then tells the engine.
fn spawn_refresh(session: &Arc<Session>) {
    if session.refreshing.swap(true, Ordering::SeqCst) {
        return;
    }
    let task_session = session.clone();
    let task = tokio::spawn(async move {
        let s = task_session;
        let result = tokio::select! {
            r = s.fetch_credentials() => r,
            () = s.cancel.cancelled() => Err("cancelled".into()),
        };
        s.refreshing.store(false, Ordering::SeqCst);
        match result {
            Ok(_) => {
                let _ = s.commands.send(SyncCommand::RefreshedToken);
            }
            Err(e) => log::warn!("credential refresh failed: {e}"),
        }
    });
    session.add_task(task);
}

/// The driver task of one session.
pub(crate) async fn run(
    inner: Arc<Inner>,
    session: Arc<Session>,
    mut commands: mpsc::UnboundedReceiver<SyncCommand>,
) {
    let mut hide_disconnect = false;
    loop {
        if session.cancel.is_cancelled() {
            break;
        }
        if !hide_disconnect {
            inner.status.update(|s| s.connecting = true);
        }
        let result = tokio::select! {
            r = iteration(&inner, &session, &mut commands) => r,
            () = session.cancel.cancelled() => Ok(End::Cancelled),
        };
        session.seed.send_replace(SeedState::Pending);
        // Always stop the engine, also after cancellation, so no iteration outlives us.
        match control(&inner, SyncCommand::Stop).await {
            Ok(instructions) => {
                let _ = handle(&inner, &session, instructions);
            }
            Err(e) => log::warn!("stopping the sync iteration failed: {e}"),
        }
        match result {
            Ok(End::Cancelled) => break,
            Ok(End::Close { hide_disconnect: h }) => hide_disconnect = h,
            Err(e) => {
                log::warn!("sync iteration failed: {e}");
                inner.status.update(|s| s.download_error = Some(e));
                hide_disconnect = false;
            }
        }
        if !hide_disconnect {
            inner.status.update(|s| {
                s.connected = false;
                s.connecting = true;
                s.downloading = false;
                s.download_progress = None;
            });
            tokio::select! {
                () = tokio::time::sleep(session.options.retry_delay) => {}
                () = session.cancel.cancelled() => break,
            }
        }
    }
}

fn effective_mode(session: &Session) -> CheckpointMode {
    if session.options.checkpoint_mode == CheckpointMode::Requests
        && !session.requests_unsupported.load(Ordering::SeqCst)
    {
        CheckpointMode::Requests
    } else {
        CheckpointMode::Legacy
    }
}

async fn iteration(
    inner: &Arc<Inner>,
    session: &Arc<Session>,
    commands: &mut mpsc::UnboundedReceiver<SyncCommand>,
) -> Result<End, String> {
    // Commands of a previous iteration are meaningless to a fresh one.
    while commands.try_recv().is_ok() {}
    let mode = effective_mode(session);
    let start = StartSyncStream {
        parameters: session.options.params.clone(),
        schema: None,
        include_defaults: session.options.include_defaults,
        active_streams: Vec::new(),
        app_metadata: session.options.app_metadata.clone(),
        checkpoint_mode: mode,
    };
    let (establish, end) = handle(
        inner,
        session,
        control(inner, SyncCommand::Start(start)).await?,
    );
    if let Some(end) = end {
        return Ok(end);
    }
    let (request, checkpoint_request) =
        establish.ok_or_else(|| "sync engine did not open a stream".to_string())?;
    let credentials = session.credentials().await?;
    match checkpoint_request {
        Some(target) => reconcile(inner, session, &credentials, &target).await?,
        None => {
            session.seed.send_replace(SeedState::Legacy);
        }
    }
    let mut lines = match http::open_stream(
        &inner.http,
        &credentials,
        &request,
        session.options.use_bson,
    )
    .await
    {
        Ok(lines) => lines,
        Err(e) => {
            if matches!(e, HttpError::Unauthorized(_)) {
                session.invalidate();
            }
            return Err(e.to_string());
        }
    };
    let (_, end) = handle(
        inner,
        session,
        control(inner, SyncCommand::ConnectionEstablished).await?,
    );
    if let Some(end) = end {
        return Ok(end);
    }
    let mut first_line = true;
    loop {
        let command = tokio::select! {
            line = lines.next_line() => match line.map_err(|e| e.to_string())? {
                Some(Line::Text(text)) => SyncCommand::LineText(text),
                Some(Line::Binary(bytes)) => SyncCommand::LineBinary(bytes),
                None => SyncCommand::ConnectionEnd,
            },
            Some(command) = commands.recv() => command,
        };
        let is_line = matches!(
            command,
            SyncCommand::LineText(_) | SyncCommand::LineBinary(_)
        );
        let (_, end) = handle(inner, session, control(inner, command).await?);
        if is_line && first_line {
            // Writes made while offline are uploaded once the service is reachable.
            first_line = false;
            session.upload_trigger.notify_one();
        }
        if let Some(end) = end {
            return Ok(end);
        }
    }
}

/// §5.2 steps 2–3: post the proposed id, seed the engine with the answer.
async fn reconcile(
    inner: &Arc<Inner>,
    session: &Arc<Session>,
    credentials: &super::Credentials,
    target: &CheckpointRequestTarget,
) -> Result<(), String> {
    let answer = http::post_checkpoint_request(
        &inner.http,
        credentials,
        &target.client_id,
        target.checkpoint_request_id,
    )
    .await;
    match answer {
        Ok(accepted) => {
            let db = inner.db.clone();
            blocking(move || {
                db.write(|tx| {
                    db.state()
                        .sync
                        .seed_checkpoint_request_id(tx.connection(), accepted)
                })
            })
            .await
            .map_err(|e| format!("seeding the checkpoint request id failed: {e}"))?;
            inner
                .status
                .update(|s| s.checkpoint_requests_supported = Some(true));
            session.seed.send_replace(SeedState::Seeded);
            Ok(())
        }
        Err(HttpError::NotFound(_)) => {
            log::warn!(
                "the sync service does not support checkpoint requests; using legacy write \
                 checkpoints for this connection"
            );
            session.requests_unsupported.store(true, Ordering::SeqCst);
            inner
                .status
                .update(|s| s.checkpoint_requests_supported = Some(false));
            session.seed.send_replace(SeedState::Legacy);
            Ok(())
        }
        Err(e) => {
            if matches!(e, HttpError::Unauthorized(_)) {
                session.invalidate();
            }
            Err(e.to_string())
        }
    }
}
