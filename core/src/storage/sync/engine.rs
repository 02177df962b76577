// SPDX-License-Identifier: Apache-2.0
//! The sans-network state machine (it does SQLite I/O, never network I/O) behind `powersync_control` (client-state-machine.md §1–§5).
//!
//! Every handler does its database writes first and changes in-memory state only after they
//! all succeeded ("prepare, then apply"), so a SQLite BUSY/LOCKED error leaves the iteration
//! as it was and the SDK may retry the same command.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use rusqlite::Connection;
use serde_json::{Value, json};

use super::apply::{self, ApplyOutcome, FULL_SYNC_PRIORITY};
use super::line::{DataLine, SyncLine};
use super::raw;
use super::state::{BucketInfo, Iteration, RealBucketProgress, Target, TargetCheckpoint};
use super::storage;
use super::streams;
use super::types::{
    CheckpointMode, CheckpointRequestTarget, CoreSyncStatus, Instruction, LogSeverity,
    PriorityStatusEntry, StartSyncStream, SyncCommand,
};
use crate::storage::functions::{self, constraint_datatype};
use crate::storage::gate::{self, acknowledged_floor, initial_request_id};
use crate::storage::kv;
use crate::{Error, Result};

/// One sync state machine per database (stored in
/// [`DatabaseState::sync`](crate::storage::state::DatabaseState::sync)).
#[derive(Debug)]
pub struct SyncEngine {
    iteration: Mutex<Option<Iteration>>,
    /// Shared with `DatabaseState::sync_iteration_active` (blocks soft clears).
    active: Arc<AtomicBool>,
}

impl Default for SyncEngine {
    fn default() -> Self {
        Self::new(Arc::new(AtomicBool::new(false)))
    }
}

fn log(out: &mut Vec<Instruction>, severity: LogSeverity, line: impl Into<String>) {
    out.push(Instruction::LogLine {
        severity,
        line: line.into(),
    });
}

/// SQLite BUSY/LOCKED: the command may be retried, the iteration stays.
fn is_recoverable(error: &Error) -> bool {
    matches!(
        error.sqlite_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn no_iteration() -> Error {
    functions::misuse("No iteration is active".to_string())
}

pub(crate) const SYNC_STATE_SQL: &str =
    "SELECT priority, last_synced_at FROM ps_sync_state ORDER BY priority";

/// The status stored in the database, as shown while no iteration is active.
pub fn offline_status(conn: &Connection) -> Result<CoreSyncStatus> {
    let mut stmt = conn.prepare_cached(SYNC_STATE_SQL)?;
    let priority_status = stmt
        .query_map([], |r| {
            Ok(PriorityStatusEntry {
                priority: r.get(0)?,
                last_synced_at: Some(r.get(1)?),
                has_synced: Some(true),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let streams = streams::snapshot(conn, None, &[])?;
    Ok(CoreSyncStatus {
        priority_status,
        streams,
        ..CoreSyncStatus::default()
    })
}

impl SyncEngine {
    /// An idle engine that mirrors "iteration active" into `active`.
    pub fn new(active: Arc<AtomicBool>) -> Self {
        Self {
            iteration: Mutex::new(None),
            active,
        }
    }

    /// Whether an iteration is active.
    pub fn is_active(&self) -> bool {
        self.iteration.lock().is_some()
    }

    fn set_iteration(&self, slot: &mut Option<Iteration>, value: Option<Iteration>) {
        self.active.store(value.is_some(), Ordering::SeqCst);
        *slot = value;
    }

    /// Runs one command. The caller holds a transaction on `conn`; `now_micros` is the
    /// current time.
    pub fn control(
        &self,
        conn: &Connection,
        command: SyncCommand,
        now_micros: i64,
    ) -> Result<Vec<Instruction>> {
        functions::require_transaction(conn, "powersync_control")?;
        let mut slot = self.iteration.lock();
        let mut out = Vec::new();
        match command {
            SyncCommand::Start(options) => {
                self.set_iteration(&mut slot, None);
                let iteration = start(conn, options, now_micros, &mut out)?;
                self.set_iteration(&mut slot, Some(iteration));
                return Ok(out);
            }
            SyncCommand::Stop => {
                if let Some(mut it) = slot.take() {
                    disconnect(&mut it, &mut out)?;
                }
                self.set_iteration(&mut slot, None);
                return Ok(out);
            }
            SyncCommand::Subscriptions(payload) => {
                streams::subscriptions_command(conn, &payload, now_micros)?;
                return Ok(out);
            }
            _ => {}
        }
        let Some(it) = slot.as_mut() else {
            return Err(no_iteration());
        };
        let result = handle(conn, it, command, now_micros, &mut out);
        let ended = out
            .iter()
            .any(|i| matches!(i, Instruction::CloseSyncStream { .. }));
        match result {
            Ok(()) if !ended => Ok(out),
            Ok(()) => {
                self.set_iteration(&mut slot, None);
                Ok(out)
            }
            Err(e) if is_recoverable(&e) => Err(e),
            Err(e) => {
                self.set_iteration(&mut slot, None);
                Err(e)
            }
        }
    }

    /// Runs several sync lines (`LineText` / `LineBinary`, in stream order) in the caller's
    /// transaction. The result is the same as sending them one by one, except that the ops of
    /// consecutive data lines are stored together (sorted, see `storage::store_data_lines`)
    /// and the status is reported once per run of data lines instead of once per line.
    ///
    /// Processing stops after a line that closes or re-opens the stream; later lines of the
    /// batch belong to the stream that is going away and are ignored. Any error ends the
    /// iteration: the caller rolls the transaction back, so nothing of the batch is kept and
    /// its lines are downloaded again on the next connection (a checkpoint is applied whole
    /// or not at all).
    pub fn control_lines(
        &self,
        conn: &Connection,
        lines: &[SyncCommand],
        now_micros: i64,
    ) -> Result<Vec<Instruction>> {
        functions::require_transaction(conn, "control_lines")?;
        let mut slot = self.iteration.lock();
        let Some(it) = slot.as_mut() else {
            return Err(no_iteration());
        };
        let mut out = Vec::new();
        let result = handle_lines(conn, it, lines, now_micros, &mut out);
        let ended = out
            .iter()
            .any(|i| matches!(i, Instruction::CloseSyncStream { .. }));
        if result.is_err() || ended {
            self.set_iteration(&mut slot, None);
        }
        result.map(|()| out)
    }

    /// `seed_checkpoint_request_id`: stores the id the service reconciled. Needs an active
    /// iteration. Floor rule (docs/adr/0001): the stored value is `max(id, floor)` with
    /// `floor = max(last_seen, last_applied)`, so no id at or below a write checkpoint the
    /// stream already acknowledged (e.g. one migrated from a legacy `$local.last_op`) is ever
    /// handed out again. For a service that kept its record the answer is already `>= floor`
    /// and the seed is stored verbatim, as in the reference core.
    pub fn seed_checkpoint_request_id(&self, conn: &Connection, id: i64) -> Result<i64> {
        functions::require_transaction(conn, "powersync_control")?;
        if id <= 0 {
            return Err(constraint_datatype(
                "checkpoint request id must be a positive integer",
            ));
        }
        if !self.is_active() {
            return Err(no_iteration());
        }
        let stored = id.max(acknowledged_floor(conn)?);
        gate::set_last_requested(conn, Some(stored))?;
        Ok(stored)
    }

    /// `next_checkpoint_request_id`: allocates `last_requested + 1`.
    pub fn next_checkpoint_request_id(&self, conn: &Connection) -> Result<i64> {
        functions::require_transaction(conn, "powersync_control")?;
        if !self.is_active() {
            return Err(no_iteration());
        }
        if gate::last_requested(conn)?.is_none() {
            return Err(functions::misuse(
                "Checkpoint request state has not been seeded".to_string(),
            ));
        }
        gate::next_checkpoint_request_id(conn)
    }

    /// `current_checkpoint_request_id`: the counter, without allocating.
    pub fn current_checkpoint_request_id(&self, conn: &Connection) -> Result<Option<i64>> {
        gate::last_requested(conn)
    }

    /// `target_checkpoint_request_id`: `None` probes, `Some(0)` removes the gate, a positive id
    /// stores it. Returns the previous target.
    pub fn target_checkpoint_request_id(
        &self,
        conn: &Connection,
        target: Option<i64>,
    ) -> Result<Option<i64>> {
        if target.is_some_and(|t| t < 0) {
            return Err(constraint_datatype(
                "target checkpoint request id must be a non-negative integer",
            ));
        }
        gate::probe_local_target_op(conn, target)
    }
}

fn start(
    conn: &Connection,
    options: StartSyncStream,
    now_micros: i64,
    out: &mut Vec<Instruction>,
) -> Result<Iteration> {
    let client_id = kv::client_id(conn)?;
    // The status shows the rows as they were before expired and unsubscribed ones are removed.
    let mut status = offline_status(conn)?;
    status.connecting = true;
    let buckets = storage::requested_buckets(conn)?;
    let (request_subscriptions, subscription_json) =
        streams::prepare_request(conn, &options.active_streams, now_micros)?;

    let mut request = json!({
        "buckets": buckets.iter().map(|(name, after)| json!({"name": name, "after": after.to_string()})).collect::<Vec<_>>(),
        "include_checksum": true,
        "raw_data": true,
        "binary_data": true,
        "client_id": client_id,
        "parameters": options.parameters.clone().unwrap_or(Value::Null),
        "streams": {"include_defaults": options.include_defaults, "subscriptions": subscription_json},
    });
    if let (Some(meta), Some(map)) = (&options.app_metadata, request.as_object_mut()) {
        map.insert("app_metadata".into(), serde_json::to_value(meta)?);
    }
    let checkpoint_request = match options.checkpoint_mode {
        CheckpointMode::Legacy => None,
        CheckpointMode::Requests => Some(CheckpointRequestTarget {
            client_id,
            checkpoint_request_id: initial_request_id(conn)?,
        }),
    };

    let raw_tables = raw::parse_raw_tables(options.schema.as_ref())?;
    let mut iteration = Iteration {
        raw_tables,
        options,
        status,
        last_emitted_status: None,
        target: Target::BeforeCheckpoint(buckets.into_iter().map(|(n, _)| n).collect()),
        pending: None,
        progress: Default::default(),
        request_subscriptions,
        new_keys: Default::default(),
    };
    push_status(&mut iteration, out)?;
    out.push(Instruction::EstablishSyncStream {
        request,
        checkpoint_request,
    });
    Ok(iteration)
}

fn push_status(it: &mut Iteration, out: &mut Vec<Instruction>) -> Result<()> {
    let downloading = it.status.downloading.is_some().then_some(&it.progress);
    streams::fill_progress(&mut it.status.streams, downloading);
    let json = serde_json::to_string(&it.status)?;
    if it.last_emitted_status.as_deref() != Some(json.as_str()) {
        it.last_emitted_status = Some(json);
        out.push(Instruction::UpdateSyncStatus {
            status: it.status.clone(),
        });
    }
    Ok(())
}

fn disconnect(it: &mut Iteration, out: &mut Vec<Instruction>) -> Result<()> {
    it.status.connected = false;
    it.status.connecting = false;
    it.status.downloading = None;
    it.status.internal_last_applied_checkpoint_request_id = None;
    push_status(it, out)?;
    out.push(Instruction::CloseSyncStream {
        hide_disconnect: false,
    });
    Ok(())
}

fn handle(
    conn: &Connection,
    it: &mut Iteration,
    command: SyncCommand,
    now: i64,
    out: &mut Vec<Instruction>,
) -> Result<()> {
    match command {
        SyncCommand::LineText(text) => {
            let line = SyncLine::from_text(&text)?;
            handle_line(conn, it, line, text.len(), now, out)
        }
        SyncCommand::LineBinary(bytes) => {
            let line = SyncLine::from_bson(&bytes)?;
            handle_line(conn, it, line, bytes.len(), now, out)
        }
        SyncCommand::ConnectionEstablished => {
            it.status.connected = true;
            it.status.connecting = false;
            push_status(it, out)
        }
        SyncCommand::ConnectionEnd => disconnect(it, out),
        SyncCommand::RefreshedToken => {
            out.push(Instruction::CloseSyncStream {
                hide_disconnect: true,
            });
            Ok(())
        }
        SyncCommand::CompletedUpload => completed_upload(conn, it, now, out),
        SyncCommand::UpdateSubscriptions(keys) => {
            streams::extend_ttls(conn, &keys, now)?;
            let current = streams::explicit_subscriptions(conn)?;
            if !streams::same_request(&current, &it.request_subscriptions) {
                out.push(Instruction::CloseSyncStream {
                    hide_disconnect: true,
                });
            } else {
                it.options.active_streams = keys;
            }
            Ok(())
        }
        SyncCommand::Start(_) | SyncCommand::Stop | SyncCommand::Subscriptions(_) => Ok(()),
    }
}

fn handle_line(
    conn: &Connection,
    it: &mut Iteration,
    line: SyncLine<'_>,
    size: usize,
    now: i64,
    out: &mut Vec<Instruction>,
) -> Result<()> {
    match line {
        SyncLine::Checkpoint(cp) => {
            let mut buckets = std::collections::BTreeMap::new();
            for b in &cp.buckets {
                let (name, info) = BucketInfo::from_wire(b)?;
                buckets.insert(name, info);
            }
            let target = TargetCheckpoint {
                last_op_id: cp.last_op_id,
                write_checkpoint: cp.write_checkpoint,
                buckets,
                streams: cp.streams,
            };
            let previous: BTreeSet<String> = match &it.target {
                Target::BeforeCheckpoint(requested) => requested.iter().cloned().collect(),
                Target::Tracking(prev) => prev.buckets.keys().cloned().collect(),
            };
            for name in previous.iter().filter(|n| !target.buckets.contains_key(*n)) {
                storage::delete_bucket(conn, name)?;
            }
            let logs = streams::reconcile(conn, &target, &it.request_subscriptions)?;
            new_target(conn, it, target)?;
            for line in logs {
                log(out, LogSeverity::Warning, line);
            }
        }
        SyncLine::CheckpointDiff(diff) => {
            let Target::Tracking(prev) = &it.target else {
                return Err(Error::protocol(
                    "checkpoint_diff without previous checkpoint",
                ));
            };
            let mut target = prev.clone();
            for name in &diff.removed_buckets {
                target.buckets.remove(name.as_ref());
            }
            for b in &diff.updated_buckets {
                let (name, info) = BucketInfo::from_wire(b)?;
                target.buckets.insert(name, info);
            }
            target.last_op_id = diff.last_op_id;
            target.write_checkpoint = diff.write_checkpoint;
            for name in &diff.removed_buckets {
                storage::delete_bucket(conn, name)?;
            }
            // Like the reference core, the streams of the checkpoint are reconciled again.
            let logs = streams::reconcile(conn, &target, &it.request_subscriptions)?;
            new_target(conn, it, target)?;
            for line in logs {
                log(out, LogSeverity::Warning, line);
            }
        }
        SyncLine::Data(data) => {
            let target = &it.target;
            storage::store_data_line(conn, &data, size, &mut it.new_keys, &|bucket| {
                target.expected_ops(bucket)
            })?;
            data_stored(it, &data)?;
        }
        SyncLine::CheckpointComplete => {
            let Target::Tracking(target) = &it.target else {
                return Err(Error::protocol(
                    "checkpoint_complete without previous checkpoint",
                ));
            };
            let target = target.clone();
            match apply::sync_local(conn, &target, None, &it.raw_tables, now)? {
                ApplyOutcome::ChecksumFailure(failures) => {
                    checksum_failure(out, "Could not apply checkpoint", &failures);
                    mark_connected(it);
                    return Ok(());
                }
                ApplyOutcome::PendingLocalChanges => {
                    log(
                        out,
                        LogSeverity::Info,
                        "Could not apply checkpoint due to local data. Will retry at completed upload or next checkpoint.",
                    );
                    mark_connected(it);
                    it.pending = Some(target);
                }
                ApplyOutcome::Applied => {
                    log(out, LogSeverity::Debug, "Validated and applied checkpoint");
                    after_full_apply(conn, it, &target, now, out)?;
                    return Ok(());
                }
            }
        }
        SyncLine::PartialCheckpointComplete(priority) => {
            let Target::Tracking(target) = &it.target else {
                // The reference core reports this one as an invalid state (SQLITE_MISUSE),
                // unlike the full checkpoint_complete case, which is a protocol error.
                return Err(functions::misuse(
                    "powersync_control: invalid state: partial_checkpoint_complete without \
                     previous checkpoint"
                        .to_owned(),
                ));
            };
            let target = target.clone();
            match apply::sync_local(conn, &target, Some(priority), &it.raw_tables, now)? {
                ApplyOutcome::ChecksumFailure(failures) => {
                    checksum_failure(out, "Could not apply partial checkpoint", &failures);
                    mark_connected(it);
                    return Ok(());
                }
                ApplyOutcome::PendingLocalChanges => mark_connected(it),
                ApplyOutcome::Applied => {
                    let mut streams = it.status.streams.clone();
                    streams::mark_synced(conn, &mut streams, Some(priority), now)?;
                    mark_connected(it);
                    it.status.streams = streams;
                    it.status.priority_status.retain(|e| e.priority > priority);
                    it.status.priority_status.insert(
                        0,
                        PriorityStatusEntry {
                            priority,
                            last_synced_at: Some(now),
                            has_synced: Some(true),
                        },
                    );
                }
            }
        }
        SyncLine::TokenExpiresIn(seconds) => {
            streams::extend_ttls(conn, &it.options.active_streams, now)?;
            mark_connected(it);
            if seconds <= 0 {
                out.push(Instruction::FetchCredentials { did_expire: true });
                out.push(Instruction::CloseSyncStream {
                    hide_disconnect: false,
                });
            } else if seconds <= 30 {
                out.push(Instruction::FetchCredentials { did_expire: false });
            } else {
                let current = streams::explicit_subscriptions(conn)?;
                if !streams::same_request(&current, &it.request_subscriptions) {
                    out.push(Instruction::CloseSyncStream {
                        hide_disconnect: true,
                    });
                }
            }
        }
        SyncLine::Unknown => {
            mark_connected(it);
            log(out, LogSeverity::Debug, "Unknown sync line");
        }
    }
    // A line that ends the iteration reports only its instructions (the SDK publishes the
    // disconnect itself).
    if out
        .iter()
        .any(|i| matches!(i, Instruction::CloseSyncStream { .. }))
    {
        return Ok(());
    }
    push_status(it, out)
}

/// See [`SyncEngine::control_lines`].
fn handle_lines(
    conn: &Connection,
    it: &mut Iteration,
    lines: &[SyncCommand],
    now: i64,
    out: &mut Vec<Instruction>,
) -> Result<()> {
    let mut staged: Vec<(DataLine<'_>, usize)> = Vec::new();
    for command in lines {
        let (line, size) = match command {
            SyncCommand::LineText(text) => (SyncLine::from_text(text)?, text.len()),
            SyncCommand::LineBinary(bytes) => (SyncLine::from_bson(bytes)?, bytes.len()),
            _ => {
                return Err(functions::misuse(
                    "control_lines takes sync lines only".to_string(),
                ));
            }
        };
        match line {
            SyncLine::Data(data) => staged.push((data, size)),
            other => {
                store_staged(conn, it, &mut staged, out)?;
                handle_line(conn, it, other, size, now, out)?;
                if out.iter().any(|i| {
                    matches!(
                        i,
                        Instruction::CloseSyncStream { .. }
                            | Instruction::EstablishSyncStream { .. }
                    )
                }) {
                    return Ok(());
                }
            }
        }
    }
    store_staged(conn, it, &mut staged, out)
}

/// Stores a run of data lines in one pass, then does each line's bookkeeping.
fn store_staged(
    conn: &Connection,
    it: &mut Iteration,
    staged: &mut Vec<(DataLine<'_>, usize)>,
    out: &mut Vec<Instruction>,
) -> Result<()> {
    if staged.is_empty() {
        return Ok(());
    }
    let refs: Vec<(&DataLine<'_>, usize)> = staged.iter().map(|(d, n)| (d, *n)).collect();
    let target = &it.target;
    storage::store_data_lines(conn, &refs, &mut it.new_keys, &|bucket| {
        target.expected_ops(bucket)
    })?;
    for (data, _) in staged.drain(..) {
        data_stored(it, &data)?;
    }
    push_status(it, out)
}

/// Progress and status bookkeeping after a data line's ops were stored.
fn data_stored(it: &mut Iteration, data: &DataLine<'_>) -> Result<()> {
    let mut progress = it.progress.get(data.bucket.as_ref()).copied();
    if let Some(p) = progress.as_mut() {
        p.since_last += storage::op_count(data);
    }
    mark_connected(it);
    if let Some(p) = progress {
        it.progress.insert(data.bucket.to_string(), p);
    }
    if it.status.downloading.is_some() {
        it.refresh_downloading();
    }
    Ok(())
}

fn mark_connected(it: &mut Iteration) {
    it.status.connected = true;
    it.status.connecting = false;
}

fn checksum_failure(
    out: &mut Vec<Instruction>,
    prefix: &str,
    failures: &[apply::ChecksumMismatch],
) {
    let described: Vec<String> = failures.iter().map(|f| f.describe()).collect();
    log(
        out,
        LogSeverity::Warning,
        format!(
            "{prefix}, Checksums didn't match, failed for: {}",
            described.join(", ")
        ),
    );
    out.push(Instruction::CloseSyncStream {
        hide_disconnect: false,
    });
}

/// Installs a new target: progress from the persisted counters (reset if a bucket shrank),
/// drops `pending`. DB writes happen before any in-memory change.
fn new_target(conn: &Connection, it: &mut Iteration, target: TargetCheckpoint) -> Result<()> {
    let mut progress = std::collections::BTreeMap::new();
    let mut shrank = false;
    for (name, bucket) in &target.buckets {
        let (at_last, since_last) = storage::progress_counters(conn, name)?;
        let target_count = bucket.count.unwrap_or(0);
        if target_count < at_last + since_last {
            shrank = true;
        }
        progress.insert(
            name.clone(),
            RealBucketProgress {
                priority: bucket.priority,
                at_last,
                since_last,
                target_count,
            },
        );
    }
    if shrank {
        storage::reset_progress_counters(conn)?;
        for p in progress.values_mut() {
            p.at_last = 0;
            p.since_last = 0;
        }
    }
    let streams = streams::snapshot(conn, Some(&target), &it.request_subscriptions)?;
    mark_connected(it);
    it.progress = progress;
    it.refresh_downloading();
    it.status.streams = streams;
    it.pending = None;
    it.target = Target::Tracking(target);
    Ok(())
}

/// §4.2: persist the applied write checkpoint, emit `DidCompleteSync` and the status.
fn after_full_apply(
    conn: &Connection,
    it: &mut Iteration,
    target: &TargetCheckpoint,
    now: i64,
    out: &mut Vec<Instruction>,
) -> Result<()> {
    if let Some(w) = target.write_checkpoint {
        gate::set_last_applied(conn, Some(w))?;
    }
    let mut streams = it.status.streams.clone();
    streams::mark_synced(conn, &mut streams, None, now)?;
    let mut progress = it.progress.clone();
    for p in progress.values_mut() {
        p.at_last = p.target_count;
        p.since_last = 0;
    }
    if let Some(w) = target.write_checkpoint {
        log(
            out,
            LogSeverity::Debug,
            format!("Applied checkpoint request id {w}"),
        );
    }
    out.push(Instruction::DidCompleteSync {
        applied_checkpoint_request_id: target.write_checkpoint,
    });
    mark_connected(it);
    it.status.streams = streams;
    it.status.downloading = None;
    it.status.priority_status = vec![PriorityStatusEntry {
        priority: FULL_SYNC_PRIORITY,
        last_synced_at: Some(now),
        has_synced: Some(true),
    }];
    it.status.internal_last_applied_checkpoint_request_id = target.write_checkpoint;
    it.progress = progress;
    push_status(it, out)
}

/// §4.3.
fn completed_upload(
    conn: &Connection,
    it: &mut Iteration,
    now: i64,
    out: &mut Vec<Instruction>,
) -> Result<()> {
    let Some(pending) = it.pending.clone() else {
        return Ok(());
    };
    // Option ordering: absent < any value.
    let target = gate::target(conn)?;
    if pending.write_checkpoint < target {
        it.pending = None;
        return Ok(());
    }
    let result = apply::sync_local(conn, &pending, None, &it.raw_tables, now);
    // The pending checkpoint is consumed by any outcome except a retryable error.
    if !result.as_ref().is_err_and(is_recoverable) {
        it.pending = None;
    }
    match result {
        Ok(ApplyOutcome::Applied) => {
            log(
                out,
                LogSeverity::Debug,
                "Applied pending checkpoint after completed upload",
            );
            after_full_apply(conn, it, &pending, now, out)
        }
        // Like the reference core, any outcome other than "applied" is reported the same way
        // and keeps the stream open (a checksum failure still deleted the buckets).
        Ok(ApplyOutcome::ChecksumFailure(_) | ApplyOutcome::PendingLocalChanges) => {
            log(
                out,
                LogSeverity::Warning,
                "Could not apply pending checkpoint even after completed upload",
            );
            Ok(())
        }
        Err(e) => Err(e),
    }
}
