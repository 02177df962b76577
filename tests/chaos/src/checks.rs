// SPDX-License-Identifier: Apache-2.0
//! Invariants a client checks on itself while it runs; a violation is printed as a
//! `violation …` line (the orchestrator counts them and fails the run).
//!
//! * Own rows: the local `todos` rows of this client always equal its acknowledged writes.
//!   A downloaded row that contradicted an unacknowledged (not yet uploaded) local write would
//!   show here as an older `completed` or a deleted row back.
//! * Write barrier: after `wait_for_sync()` returns, every row the backend held before the
//!   request is local with at least that version (or the backend deleted it since), and when
//!   the upload queue was empty at the request, the synced copies of the own rows (in
//!   `ps_data__todos`) are exactly the acknowledged writes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use psync_core::client::{CheckpointError, CheckpointRequest, SyncDatabase};
use psync_core::{Error, Result, Value};
use serde_json::json;

use crate::ack_log::{AckLog, Expected, WriteKind};
use crate::client::{ClientArgs, say};

/// Row id → `completed`.
pub type Rows = BTreeMap<String, i64>;

async fn rows_of(db: &SyncDatabase, sql: &str, params: Vec<Value>) -> Result<Rows> {
    Ok(db
        .get_all(sql, params)
        .await?
        .iter()
        .filter_map(|row| {
            let id = row.get(0)?.as_str()?.to_owned();
            Some((id, row.get(1).and_then(Value::as_i64).unwrap_or(-1)))
        })
        .collect())
}

/// The `(id, completed)` rows of an `/admin/source/query` answer.
pub fn rows_of_answer(answer: &serde_json::Value) -> Rows {
    let rows = answer["rows"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    rows.iter()
        .filter_map(|r| Some((r.get(0)?.as_str()?.to_owned(), r.get(1)?.as_i64()?)))
        .collect()
}

/// Every local `todos` row.
pub async fn all_rows(db: &SyncDatabase) -> Result<Rows> {
    rows_of(db, "SELECT id, completed FROM todos", vec![]).await
}

fn own_pattern(name: &str) -> Value {
    format!("{name}-%").into()
}

async fn own_rows(db: &SyncDatabase, name: &str) -> Result<Rows> {
    let sql = "SELECT id, completed FROM todos WHERE id LIKE ?";
    rows_of(db, sql, vec![own_pattern(name)]).await
}

/// After a SIGKILL the last write may be committed but not logged (killed between the two).
/// One such difference is logged now; more mean acknowledged writes were lost locally.
pub async fn recover_unlogged_write(
    db: &SyncDatabase,
    name: &str,
    expected: &mut Expected,
    log: &mut AckLog,
) -> Result<()> {
    let local = own_rows(db, name).await?;
    let wanted = expected.present();
    let next = expected.max_seq + 1;
    let mut differences = Vec::new();
    for (id, seq) in &local {
        if wanted.get(id) != Some(seq) {
            differences.push((id.clone(), Some(*seq)));
        }
    }
    for id in wanted.keys().filter(|id| !local.contains_key(*id)) {
        differences.push((id.clone(), None));
    }
    let recovered = match differences.as_slice() {
        [] => return Ok(()),
        [(id, Some(seq))] if *seq == next => (WriteKind::Put, id.clone()),
        [(id, None)] => (WriteKind::Delete, id.clone()),
        _ => {
            say(&format!(
                "violation local database lost acknowledged writes: {differences:?}"
            ));
            return Ok(());
        }
    };
    log.append(next, recovered.0, &recovered.1)
        .map_err(|e| Error::state(format!("ack log: {e}")))?;
    expected.apply(next, recovered.0, &recovered.1);
    Ok(())
}

/// Polls until `ps_crud` is empty.
pub async fn wait_for_empty_upload_queue(db: &SyncDatabase, limit: Duration) -> Result<bool> {
    let until = Instant::now() + limit;
    loop {
        let pending = db.get_all("SELECT count(*) FROM ps_crud", vec![]).await?;
        if pending
            .first()
            .and_then(|r| r.get(0))
            .and_then(Value::as_i64)
            == Some(0)
        {
            return Ok(true);
        }
        if Instant::now() > until {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for `request` up to `limit`. A sync error while waiting (faults at work, or one the
/// status still shows from before) fails a wait fast; the request stays valid, so wait again.
pub async fn wait_through_sync_errors(
    request: &CheckpointRequest,
    limit: Duration,
) -> std::result::Result<(), CheckpointError> {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match request.wait_for_sync(Some(left)).await {
            Err(CheckpointError::SyncError(_)) if !left.is_zero() => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            outcome => return outcome,
        }
    }
}

/// The checks of one client.
pub struct Checker {
    name: String,
    admin_url: String,
    http: reqwest::Client,
}

impl Checker {
    /// Checks for the client `args` describes.
    pub fn new(args: &ClientArgs) -> Self {
        Self {
            name: args.name.clone(),
            admin_url: args.admin_url.clone(),
            http: psync_demo::http_client(),
        }
    }

    /// Own rows equal the acknowledged writes.
    pub async fn own_rows_match(&self, db: &SyncDatabase, expected: &Expected) -> Result<()> {
        let local = own_rows(db, &self.name).await?;
        let wanted = expected.present();
        if local != wanted {
            let differing: Vec<_> = wanted
                .iter()
                .filter(|(id, seq)| local.get(*id) != Some(seq))
                .map(|(id, seq)| format!("{id}: want {seq}, have {:?}", local.get(id)))
                .chain(
                    local
                        .iter()
                        .filter(|(id, _)| !wanted.contains_key(*id))
                        .map(|(id, seq)| format!("{id}: deleted, have {seq}")),
                )
                .collect();
            say(&format!(
                "violation own rows differ from acknowledged writes: {differing:?}"
            ));
        }
        Ok(())
    }

    /// The backend's rows, straight from the service (not through the proxy).
    async fn backend_rows(&self) -> Option<Rows> {
        let answer: serde_json::Value = self
            .http
            .post(format!("{}/admin/source/query", self.admin_url))
            .json(&json!({"sql": "SELECT id, completed FROM todos"}))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        Some(rows_of_answer(&answer))
    }

    /// One write-barrier round; prints `barrier ok|timeout|unavailable`.
    pub async fn write_barrier(&self, db: &SyncDatabase) -> Result<()> {
        let all_uploaded = wait_for_empty_upload_queue(db, Duration::from_secs(2)).await?;
        let Some(before) = self.backend_rows().await else {
            say("barrier unavailable");
            return Ok(());
        };
        let request = match db.request_checkpoint().await {
            Ok(request) => request,
            Err(e) => {
                say(&format!("barrier unavailable {e}"));
                return Ok(());
            }
        };
        if let Err(e) = wait_through_sync_errors(&request, Duration::from_secs(15)).await {
            say(&format!("barrier interrupted {e}"));
            return Ok(());
        }
        let local = all_rows(db).await?;
        let missing: Vec<_> = before
            .iter()
            .filter(|(id, seq)| local.get(*id).is_none_or(|have| have < seq))
            .collect();
        if !missing.is_empty() {
            // A row missing locally is fine if its owner deleted it since (ids are never
            // reused); a row older than the backend's copy before the request never is.
            let after = self.backend_rows().await.unwrap_or_default();
            let stale: Vec<_> = missing
                .iter()
                .filter(|(id, _)| local.contains_key(*id) || after.contains_key(*id))
                .collect();
            if !stale.is_empty() {
                say(&format!(
                    "violation barrier: rows the backend had before the request are missing or older locally: {stale:?}"
                ));
            }
        }
        if all_uploaded {
            let synced = rows_of(
                db,
                "SELECT id, json_extract(data, '$.completed') FROM ps_data__todos WHERE id LIKE ?",
                vec![own_pattern(&self.name)],
            )
            .await?;
            let own = own_rows(db, &self.name).await?;
            if synced != own {
                say(&format!(
                    "violation barrier: uploaded own writes not in the synced data: synced {synced:?}, local {own:?}"
                ));
            }
        }
        say("barrier ok");
        Ok(())
    }
}
