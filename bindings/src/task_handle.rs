// SPDX-License-Identifier: Apache-2.0
//! [`TaskHandle`]: what every subscription returns.

use parking_lot::Mutex;
use tokio::task::JoinHandle;

/// Keeps a subscription (a listener) alive. Call `cancel()` to stop it; dropping or
/// destroying the handle cancels it too. Thread-safe; `cancel()` is idempotent.
#[derive(uniffi::Object)]
pub struct TaskHandle {
    task: Mutex<Option<JoinHandle<()>>>,
}

impl TaskHandle {
    /// A handle that aborts `task` when cancelled or dropped.
    pub(crate) fn new(task: JoinHandle<()>) -> Self {
        TaskHandle {
            task: Mutex::new(Some(task)),
        }
    }
}

#[psync_ffi_macros::export]
impl TaskHandle {
    /// Stops the subscription. No callback starts after this returns; one already
    /// running on another thread may still finish.
    pub fn cancel(&self) {
        let task = self.task.lock().take();
        if let Some(task) = task {
            task.abort();
        }
    }

    /// `true` once the subscription was cancelled or ended by itself.
    pub fn is_finished(&self) -> bool {
        self.task
            .lock()
            .as_ref()
            .is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for TaskHandle {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl std::fmt::Debug for TaskHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
