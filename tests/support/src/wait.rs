// SPDX-License-Identifier: Apache-2.0
//! Condition waits. A test waits for the state it expects and fails with a message naming
//! it after [`WAIT`]; it never sleeps a fixed time hoping the state has arrived.

use std::fmt::Display;
use std::pin::Pin;
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

/// How long any wait may take before the test fails (generous: CI machines are slow).
pub const WAIT: Duration = Duration::from_secs(10);
/// How often a condition is checked.
const POLL: Duration = Duration::from_millis(20);

/// Waits until `check` returns `Some`, and returns that; panics after [`WAIT`] with `what`.
pub async fn until_some_async<T>(
    what: impl Display,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until `condition` holds (an async check); panics after [`WAIT`] with `what`.
pub async fn until_async(what: impl Display, mut condition: impl AsyncFnMut() -> bool) {
    until_some_async(what, async || condition().await.then_some(())).await;
}

/// Waits until `check` returns `Some`, and returns that; panics after [`WAIT`] with `what`.
pub async fn until_some<T>(what: impl Display, mut check: impl FnMut() -> Option<T>) -> T {
    until_some_async(what, async || check()).await
}

/// Waits until `condition` holds; panics after [`WAIT`] with `what`.
pub async fn until(what: impl Display, mut condition: impl FnMut() -> bool) {
    until_some(what, || condition().then_some(())).await;
}

/// [`until`] for threads outside a runtime (e.g. waiting for a child process).
pub fn until_blocking(what: impl Display, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        std::thread::sleep(POLL);
    }
}

/// Polls `future` once and asserts that it is pending: it has started waiting (registered
/// for what it waits on) and what would end it has not happened. Returns it, to be awaited
/// after the test made that happen — no sleep needed to let it "get going".
pub fn pending<F: Future>(what: impl Display, future: F) -> Pin<Box<F>> {
    let mut future = Box::pin(future);
    let mut context = Context::from_waker(Waker::noop());
    assert!(
        future.as_mut().poll(&mut context).is_pending(),
        "finished early: {what}"
    );
    future
}
