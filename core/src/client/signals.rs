// SPDX-License-Identifier: Apache-2.0
//! The signals between the tasks of one `connect()`: cancellation, the wake-ups the driver and
//! the upload task send each other, and the background tasks to abort when the session ends.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::clock::Clock;

pub(crate) struct Signals {
    cancel: watch::Sender<bool>,
    clock: Arc<dyn Clock>,
    /// Wakes the upload task (local writes, first line, connect, retry).
    pub(crate) upload_trigger: Notify,
    /// Tells the driver an upload round finished.
    pub(crate) completed_upload: Notify,
    /// Tells the driver the app's stream subscriptions may have changed.
    pub(crate) subscriptions_changed: Notify,
    /// Background tasks (credential refreshes), aborted when the session ends.
    background: Mutex<Vec<JoinHandle<()>>>,
}

impl Signals {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            cancel: watch::Sender::new(false),
            clock,
            upload_trigger: Notify::new(),
            completed_upload: Notify::new(),
            subscriptions_changed: Notify::new(),
            background: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Resolves once the session is being stopped.
    pub(crate) async fn cancelled(&self) {
        let mut rx = self.cancel.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }

    /// Sleeps on the client's clock unless cancelled first; returns `false` when cancelled.
    pub(crate) async fn sleep(&self, duration: Duration) -> bool {
        tokio::select! {
            () = self.clock.sleep(duration) => true,
            () = self.cancelled() => false,
        }
    }

    /// Runs `task` until it ends or the session stops.
    pub(crate) fn spawn_background(&self, task: impl Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(task);
        let mut background = self.background.lock();
        background.retain(|h| !h.is_finished());
        background.push(handle);
    }

    /// Tells every task to stop (without waiting) and aborts the background tasks; returns
    /// their handles so a caller that can wait may.
    pub(crate) fn stop(&self) -> Vec<JoinHandle<()>> {
        self.cancel.send_replace(true);
        let background: Vec<_> = std::mem::take(&mut *self.background.lock());
        for handle in &background {
            handle.abort();
        }
        background
    }
}
