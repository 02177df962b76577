// SPDX-License-Identifier: Apache-2.0
//! The download side (client-state-machine.md §7): one engine iteration per connection
//! attempt, fed with sync lines, upload completions and credential refreshes.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::time::Instant;

use super::checkpoint::Allocator;
use super::connector::SyncOptions;
use super::engine_calls::{
    self, CheckpointRequestTarget, CoreSyncStatus, Instruction, SyncCommand,
};
use super::http::{HttpFailure, ServiceClient};
use super::lines::Frame;
use super::signals::Signals;
use super::status::{DownloadProgress, PriorityStatus, SyncStatus};
use super::stream_reader::{OpenStream, next_chunk, read_ahead};
use super::{ClientInner, LogLevel, blocking};
use crate::Result;

/// What the driver task needs of its session.
pub(crate) struct Driver {
    pub(crate) client: Weak<ClientInner>,
    pub(crate) options: SyncOptions,
    pub(crate) service: Arc<ServiceClient>,
    pub(crate) signals: Arc<Signals>,
    pub(crate) checkpoints: Arc<Allocator>,
}

/// The driver task: iterations until the session is cancelled.
pub(crate) async fn run(driver: Driver) {
    let mut hide_disconnect = false;
    loop {
        if driver.signals.is_cancelled() {
            break;
        }
        let Some(client) = driver.client.upgrade() else {
            break;
        };
        if !hide_disconnect {
            client.status.update(|s| s.connecting = true);
        }
        let outcome = tokio::select! {
            outcome = iteration(&driver, &client) => outcome,
            _ = driver.signals.cancelled() => Ok(false),
        };
        // Stop must always run, even after cancellation: it ends the engine's iteration.
        let stopped = blocking(&client.db, |db| {
            engine_calls::control(db, SyncCommand::Stop)
        })
        .await;
        if let Ok(instructions) = stopped {
            for instruction in instructions {
                apply_passive(&client, instruction);
            }
        }
        driver.checkpoints.iteration_ended();
        match outcome {
            Ok(hide) => hide_disconnect = hide,
            Err(error) => {
                hide_disconnect = false;
                if !driver.signals.is_cancelled() {
                    let message = error.to_string();
                    client.log(
                        LogLevel::Warning,
                        &format!("sync iteration failed, retrying: {message}"),
                    );
                    client.status.update(|s| s.download_error = Some(message));
                }
            }
        }
        if driver.signals.is_cancelled() {
            break;
        }
        if !hide_disconnect {
            client.status.update(|s| {
                s.connected = false;
                s.connecting = true;
                s.downloading = false;
                s.download_progress = None;
            });
            drop(client);
            if !driver.signals.sleep(driver.options.retry_delay).await {
                break;
            }
        }
    }
}

/// Copies the engine's status into the public one.
pub(crate) fn apply_core_status(status: &mut SyncStatus, core: CoreSyncStatus) {
    status.connected = core.connected;
    status.connecting = core.connecting;
    status.downloading = core.downloading.is_some();
    status.download_progress = core.downloading.map(|progress| {
        let mut total = DownloadProgress::default();
        for bucket in progress.buckets.values() {
            total.downloaded += bucket.since_last;
            total.total += (bucket.target_count - bucket.at_last).max(0);
        }
        total
    });
    status.apply_priorities(
        core.priority_status
            .into_iter()
            .map(|e| PriorityStatus {
                priority: e.priority,
                last_synced_at: e.last_synced_at,
                has_synced: e.has_synced,
            })
            .collect(),
    );
    status.last_applied_checkpoint_request_id = core.internal_last_applied_checkpoint_request_id;
    status.streams = core.streams.into_iter().map(Into::into).collect();
}

/// Handles instructions that need no I/O; returns the others.
fn apply_passive(client: &ClientInner, instruction: Instruction) -> Option<Instruction> {
    match instruction {
        Instruction::LogLine { severity, line } => {
            let level = match severity {
                engine_calls::LogSeverity::Debug => LogLevel::Debug,
                engine_calls::LogSeverity::Info => LogLevel::Info,
                engine_calls::LogSeverity::Warning => LogLevel::Warning,
            };
            client.log(level, &line);
            None
        }
        Instruction::UpdateSyncStatus { status } => {
            if let Some(id) = status.internal_last_applied_checkpoint_request_id {
                client.record_applied(id);
            }
            client.status.update(|s| apply_core_status(s, status));
            None
        }
        Instruction::DidCompleteSync {
            applied_checkpoint_request_id,
        } => {
            if let Some(id) = applied_checkpoint_request_id {
                client.record_applied(id);
            }
            client.status.update(|s| {
                s.download_error = None;
                if applied_checkpoint_request_id.is_some() {
                    s.last_applied_checkpoint_request_id = applied_checkpoint_request_id;
                }
            });
            None
        }
        other => Some(other),
    }
}

async fn send(client: &ClientInner, command: SyncCommand) -> Result<Vec<Instruction>> {
    blocking(&client.db, move |db| engine_calls::control(db, command)).await
}

fn start_command(driver: &Driver, client: &ClientInner) -> SyncCommand {
    let schema = client
        .db
        .state()
        .schema
        .current()
        .and_then(|s| s.to_json().ok())
        .and_then(|json| serde_json::from_str(&json).ok());
    let start = engine_calls::StartSyncStream {
        parameters: Some(driver.options.request_parameters()),
        schema,
        include_defaults: driver.options.include_default_streams,
        active_streams: client.active_streams.lock().keys(),
        app_metadata: driver.options.app_metadata.clone(),
        checkpoint_mode: if driver.checkpoints.requests_mode() {
            engine_calls::CheckpointMode::Requests
        } else {
            engine_calls::CheckpointMode::Legacy
        },
    };
    SyncCommand::Start(start)
}

/// One iteration; `Ok(hide_disconnect)` when the engine closed the stream.
async fn iteration(driver: &Driver, client: &Arc<ClientInner>) -> Result<bool> {
    let mut queue: VecDeque<Instruction> =
        send(client, start_command(driver, client)).await?.into();
    let mut stream: Option<OpenStream> = None;
    loop {
        while let Some(instruction) = queue.pop_front() {
            let Some(instruction) = apply_passive(client, instruction) else {
                continue;
            };
            match instruction {
                Instruction::EstablishSyncStream {
                    request,
                    checkpoint_request,
                } => {
                    let opened = establish(driver, client, &request, checkpoint_request).await?;
                    stream = Some(opened);
                    queue.extend(send(client, SyncCommand::ConnectionEstablished).await?);
                }
                Instruction::CloseSyncStream { hide_disconnect } => return Ok(hide_disconnect),
                Instruction::FetchCredentials { did_expire } => {
                    if did_expire {
                        driver.service.auth.invalidate();
                    } else {
                        driver.service.auth.refresh_in_background(&driver.signals);
                    }
                }
                _ => {}
            }
        }
        let event = tokio::select! {
            chunk = next_chunk(&mut stream, &*client.clock, driver.options.stream_idle_timeout) => Event::Chunk(chunk),
            _ = driver.signals.completed_upload.notified() => Event::CompletedUpload,
            _ = driver.service.auth.refreshed.notified() => Event::Refreshed,
            _ = driver.signals.subscriptions_changed.notified() => Event::SubscriptionsChanged,
        };
        match event {
            Event::CompletedUpload => {
                queue.extend(send(client, SyncCommand::CompletedUpload).await?)
            }
            Event::Refreshed => queue.extend(send(client, SyncCommand::RefreshedToken).await?),
            Event::SubscriptionsChanged => {
                let held = client.active_streams.lock().keys();
                queue.extend(send(client, SyncCommand::UpdateSubscriptions(held)).await?);
            }
            Event::Chunk(None) => {
                stream = None;
                queue.extend(send(client, SyncCommand::ConnectionEnd).await?);
                if !queue
                    .iter()
                    .any(|i| matches!(i, Instruction::CloseSyncStream { .. }))
                {
                    // Process what the engine said, then end the iteration normally.
                    for instruction in queue.drain(..) {
                        if let Some(Instruction::FetchCredentials { did_expire: true }) =
                            apply_passive(client, instruction)
                        {
                            driver.service.auth.invalidate();
                        }
                    }
                    return Ok(false);
                }
            }
            Event::Chunk(Some(Err(error))) => return Err(error),
            Event::Chunk(Some(Ok(mut frames))) => {
                let received = client.clock.now();
                if let Some(open) = stream.as_mut() {
                    if !open.saw_line && !frames.is_empty() {
                        open.saw_line = true;
                        // Writes made while offline upload once the service is reachable.
                        driver.signals.upload_trigger.notify_one();
                    }
                    read_ahead(open, &mut frames);
                }
                if !frames.is_empty() {
                    let lines: Vec<SyncCommand> = frames
                        .into_iter()
                        .map(|frame| match frame {
                            Frame::Text(line) => SyncCommand::LineText(line),
                            Frame::Binary(bytes) => SyncCommand::LineBinary(bytes),
                        })
                        .collect();
                    let instructions = blocking(&client.db, move |db| {
                        engine_calls::control_lines(db, &lines)
                    })
                    .await?;
                    record_applied_timing(client, &instructions, received);
                    queue.extend(instructions);
                }
            }
        }
    }
}

/// Notes when the checkpoint carrying a checkpoint request id arrived and was applied.
fn record_applied_timing(client: &ClientInner, instructions: &[Instruction], received: Instant) {
    let applied_id = instructions.iter().rev().find_map(|i| match i {
        Instruction::DidCompleteSync {
            applied_checkpoint_request_id: Some(id),
        } => Some(*id),
        _ => None,
    });
    if let Some(id) = applied_id {
        let mut timings = client.checkpoint_timings.lock();
        timings.applied_id = Some(id);
        timings.lines_received = Some(received);
        timings.applied = Some(client.clock.now());
    }
}

enum Event {
    Chunk(Option<Result<Vec<Frame>>>),
    CompletedUpload,
    Refreshed,
    SubscriptionsChanged,
}

/// Reconciles the checkpoint request counter (requests mode) and opens the stream.
async fn establish(
    driver: &Driver,
    client: &Arc<ClientInner>,
    request: &serde_json::Value,
    checkpoint_request: Option<CheckpointRequestTarget>,
) -> Result<OpenStream> {
    if let Some(target) = checkpoint_request {
        let posted = driver
            .service
            .post_checkpoint_request(&target.client_id, target.checkpoint_request_id)
            .await;
        match posted {
            Ok(accepted) => {
                blocking(&client.db, move |db| engine_calls::seed(db, accepted)).await?;
                driver.checkpoints.seeded();
            }
            Err(HttpFailure::NotFound(_)) => {
                driver.checkpoints.unsupported();
                client.log(
                    LogLevel::Warning,
                    "the service does not support checkpoint requests (404); using legacy write checkpoints for this connection",
                );
                client
                    .status
                    .update(|s| s.checkpoint_requests_unsupported = true);
            }
            Err(other) => return Err(other.into_error()),
        }
    }
    let response = driver
        .service
        .open_stream(request, driver.options.use_bson)
        .await
        .map_err(HttpFailure::into_error)?;
    Ok(OpenStream::new(response.body, response.bson))
}
