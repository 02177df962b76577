// SPDX-License-Identifier: Apache-2.0
//! Process exit: everything that could call into the host stops while the host still runs.
//!
//! A psync thread that calls into a host which is already tearing down is killed: CPython
//! ends a thread that takes the GIL during interpreter finalization with `pthread_exit`, whose
//! forced unwind meets Rust's `catch_unwind` (in tokio's task harness) and glibc aborts the
//! process ("FATAL: exception not rethrown", SIGABRT). Even releasing a host object is such a
//! call (UniFFI's free callback), so a sync task that merely ends at the wrong moment crashes
//! the exit.
//!
//! So the wrappers call [`shutdown`] while the host is still whole (Python: `atexit`; the JVM:
//! a shutdown hook). From its first instruction no new host call starts: the connector
//! adapter and the listener forwarders check [`has_begun`], and host objects and host futures
//! still held are leaked instead of released ([`HostRef`], [`HostFuture`]), which costs nothing
//! in an exiting process. Then it closes every open database (its sync tasks stop and it is
//! checkpointed and closed) and stops the runtime, whose threads are the only ones that call
//! the host unprompted. When it returns, no psync thread will enter the host again.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use parking_lot::Mutex;

use crate::database::Database;
use crate::runtime;

static BEGUN: AtomicBool = AtomicBool::new(false);

/// Databases opened by the host and not yet freed.
static OPEN: Mutex<Vec<Weak<Database>>> = Mutex::new(Vec::new());

/// How long [`shutdown`] waits for a host callback still running on a psync thread.
const THREAD_TIMEOUT: Duration = Duration::from_secs(5);

/// `true` once [`shutdown`] started: no host call may start any more.
pub(crate) fn has_begun() -> bool {
    BEGUN.load(Ordering::Acquire)
}

/// Remembers `database` so [`shutdown`] can close it.
pub(crate) fn register(database: &Arc<Database>) {
    let mut open = OPEN.lock();
    open.retain(|weak| weak.strong_count() > 0);
    open.push(Arc::downgrade(database));
}

/// Stops psync for process exit: closes every open database (stopping its sync) and stops
/// psync's threads. Called by the Python and Kotlin wrappers when the process exits (Python
/// `atexit`, a JVM shutdown hook); apps do not need to call it. Blocks until done (sync tasks
/// that do not stop are abandoned after a few seconds). Afterwards no psync thread calls the
/// app any more, and calls that need syncing fail. Idempotent.
#[psync_ffi_macros::export]
pub fn shutdown() {
    if BEGUN.swap(true, Ordering::AcqRel) {
        return;
    }
    let open: Vec<Arc<Database>> = std::mem::take(&mut *OPEN.lock())
        .iter()
        .filter_map(Weak::upgrade)
        .collect();
    // Concurrently: each close waits for its own sync tasks.
    let closing: Vec<_> = open
        .iter()
        .filter_map(|database| runtime::spawn(database.close_async()).ok())
        .collect();
    let _ = runtime::block_on(async move {
        for close in closing {
            let _ = close.await;
        }
    });
    drop(open);
    runtime::shut_down(THREAD_TIMEOUT);
}

/// A host object (connector, listener). Released normally, but leaked once [`shutdown`]
/// began: releasing it is a call into the host, which may be gone by the time this drops.
pub(crate) struct HostRef<T: ?Sized>(Arc<T>);

impl<T: ?Sized> HostRef<T> {
    pub(crate) fn new(host: Arc<T>) -> Self {
        HostRef(host)
    }
}

impl<T: ?Sized + Send + Sync + 'static> HostRef<T> {
    /// Calls the host on a blocking thread (host code may block: GIL, locks) unless shutdown
    /// began; `false` once it did, so the caller stops.
    pub(crate) async fn call_blocking(&self, call: impl FnOnce(&T) + Send + 'static) -> bool {
        if has_begun() {
            return false;
        }
        let host = self.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if !has_begun() {
                call(&host);
            }
        })
        .await;
        !has_begun()
    }
}

impl<T: ?Sized> std::ops::Deref for HostRef<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: ?Sized> Clone for HostRef<T> {
    fn clone(&self) -> Self {
        HostRef(Arc::clone(&self.0))
    }
}

impl<T: ?Sized> Drop for HostRef<T> {
    fn drop(&mut self) {
        if has_begun() {
            // One reference that is never released keeps the count above zero for good.
            std::mem::forget(Arc::clone(&self.0));
        }
    }
}

/// A pending host future (an async connector call). Dropping it cancels the host's task, a
/// call into the host; once [`shutdown`] began it is leaked instead.
pub(crate) struct HostFuture<F: Future + Unpin>(Option<F>);

impl<F: Future + Unpin> HostFuture<F> {
    pub(crate) fn new(future: F) -> Self {
        HostFuture(Some(future))
    }
}

impl<F: Future + Unpin> Future for HostFuture<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match self.0.as_mut() {
            Some(future) => Pin::new(future).poll(cx),
            None => Poll::Pending,
        }
    }
}

impl<F: Future + Unpin> Drop for HostFuture<F> {
    fn drop(&mut self) {
        if has_begun()
            && let Some(future) = self.0.take()
        {
            std::mem::forget(future);
        }
    }
}
