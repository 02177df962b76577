// SPDX-License-Identifier: Apache-2.0
//! The one tokio runtime of the bindings.
//!
//! Core never creates a runtime; this crate does, lazily, on first use. Background work
//! (listener forwarding, the sync loop) is spawned here. Async exports also carry
//! `async_runtime = "tokio"` (via `psync_ffi_macros::export`) so any tokio type they touch
//! while being polled by the host finds a reactor.

use std::future::Future;
use std::sync::LazyLock;

use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;

use crate::error::{Result, SyncError};

static RUNTIME: LazyLock<std::io::Result<Runtime>> = LazyLock::new(|| {
    // Two workers are enough: the SDK's own work is light and SQLite calls block on
    // `spawn_blocking` threads, not on workers.
    Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("psync-runtime")
        .enable_all()
        .build()
});

/// The shared runtime, created on first use. Fails only if the OS refused its threads.
pub(crate) fn runtime() -> Result<&'static Runtime> {
    RUNTIME.as_ref().map_err(|e| SyncError::Sync {
        reason: format!("could not start the runtime: {e}"),
    })
}

/// Spawns `future` on the shared runtime.
pub(crate) fn spawn<F>(future: F) -> Result<JoinHandle<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Ok(runtime()?.spawn(future))
}
