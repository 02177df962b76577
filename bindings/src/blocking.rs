// SPDX-License-Identifier: Apache-2.0
//! SQLite work for async exports: runs on the runtime's blocking pool, so a host awaiting a
//! query (Python's event loop, a Kotlin dispatcher, a Swift actor) is never blocked by it.

use psync_core::Database as CoreDatabase;

use crate::error::{Result, SyncError};
use crate::runtime;

/// Runs `work` with `db` on a blocking thread and awaits its result. A host that cancels the
/// await only drops the result: work already started finishes (a write is never half-applied),
/// as a statement cannot be stopped part-way from another thread anyway.
pub(crate) async fn off_thread<T: Send + 'static>(
    db: &CoreDatabase,
    work: impl FnOnce(&CoreDatabase) -> psync_core::Result<T> + Send + 'static,
) -> Result<T> {
    let Ok(runtime) = runtime::handle() else {
        // psync was shut down (the process is exiting): no thread to hop to, so the caller's
        // thread does the work; databases stay usable until the end.
        return Ok(work(db)?);
    };
    let db = db.clone();
    let task = runtime.spawn_blocking(move || work(&db));
    let outcome = task.await.map_err(|_| SyncError::Sync {
        reason: "internal error: a psync task panicked".into(),
    })?;
    Ok(outcome?)
}
