// SPDX-License-Identifier: Apache-2.0
//! The one tokio runtime of the bindings.
//!
//! Core never creates a runtime; this crate does, lazily, on first use, and stops it for good
//! in [`crate::shutdown`]. Every task of the SDK runs here: listener forwarding, and through
//! [`run`] the body of every async export, so the sync session tasks core spawns from
//! `connect()` land here too (not on the runtime UniFFI's `async_runtime = "tokio"` would
//! otherwise pick). Stopping this runtime therefore stops every thread that could call into
//! the host on its own.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::runtime::{Builder, Handle, Runtime};
use tokio::task::JoinHandle;

use crate::error::{Result, SyncError};

enum State {
    NotStarted,
    Running(Runtime),
    /// [`shut_down`] ran: the process is exiting.
    Stopped,
}

static RUNTIME: Mutex<State> = Mutex::new(State::NotStarted);

/// The shared runtime, started on first use. Fails if the OS refused its threads or psync
/// was shut down.
pub(crate) fn handle() -> Result<Handle> {
    let mut state = RUNTIME.lock();
    if matches!(*state, State::NotStarted) {
        // Two workers are enough: the SDK's own work is light and SQLite calls block on
        // `spawn_blocking` threads, not on workers.
        let runtime = Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("psync-runtime")
            .enable_all()
            .build()
            .map_err(|e| SyncError::Sync {
                reason: format!("could not start the runtime: {e}"),
            })?;
        *state = State::Running(runtime);
    }
    match &*state {
        State::Running(runtime) => Ok(runtime.handle().clone()),
        _ => Err(shut_down_error()),
    }
}

fn shut_down_error() -> SyncError {
    SyncError::Sync {
        reason: "psync was shut down: the process is exiting".into(),
    }
}

/// Spawns `future` on the shared runtime.
pub(crate) fn spawn<F>(future: F) -> Result<JoinHandle<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Ok(handle()?.spawn(future))
}

/// Blocks the calling (host) thread on `future`, run on the shared runtime.
pub(crate) fn block_on<F: Future>(future: F) -> Result<F::Output> {
    Ok(handle()?.block_on(future))
}

/// Runs `future` as a task of the shared runtime and waits for it. Dropping the returned
/// future (the host cancelled the call) aborts the task, as dropping `future` would.
pub(crate) async fn run<F>(future: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    AbortOnDrop(spawn(future)?).await.map_err(|error| {
        if error.is_cancelled() {
            shut_down_error()
        } else {
            SyncError::Sync {
                reason: "internal error: a psync task panicked".into(),
            }
        }
    })
}

struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Future for AbortOnDrop<T> {
    type Output = std::result::Result<T, tokio::task::JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Stops the runtime for good: drops every task and waits up to `timeout` for its threads
/// (a host callback still running on one of them) to end. Later calls that need the runtime
/// fail.
pub(crate) fn shut_down(timeout: Duration) {
    let state = std::mem::replace(&mut *RUNTIME.lock(), State::Stopped);
    if let State::Running(runtime) = state {
        if Handle::try_current().is_ok() {
            // Called from one of the runtime's own threads (a listener callback): it cannot
            // wait for itself.
            runtime.shutdown_background();
        } else {
            runtime.shutdown_timeout(timeout);
        }
    }
}
