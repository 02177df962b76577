// SPDX-License-Identifier: Apache-2.0
//! Time as the client sees it: [`Clock`] behind every retry delay, throttle, idle timeout,
//! wait timeout and timing the client takes, so its logic can be tested on virtual time.
//! [`TokioClock`] is the default.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// A future a [`Clock`] resolves after a duration.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The client's source of time. The default is [`TokioClock`]; another implementation is
/// for tests and custom runtimes (see [`super::ClientIo`]).
pub trait Clock: Send + Sync {
    /// The current instant (used for [`super::CheckpointTimings`]).
    fn now(&self) -> Instant;

    /// Resolves once `duration` has passed; dropping it cancels the wait.
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// The tokio timer and the system's monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Runs `future` for at most `limit` on `clock`; `None` when the time ran out first.
pub(crate) async fn timeout<F: Future>(
    clock: &dyn Clock,
    limit: Duration,
    future: F,
) -> Option<F::Output> {
    tokio::select! {
        // The work first: an answer that is ready wins over an expired timer.
        biased;
        output = future => Some(output),
        () = clock.sleep(limit) => None,
    }
}
