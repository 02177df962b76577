// SPDX-License-Identifier: Apache-2.0
//! Core log lines to the host's logger (Python's `logging`, a Kotlin callback).
//!
//! Core calls its logger synchronously from the sync tasks; the host must not run there (a
//! Python callback takes the GIL, any host code may block a runtime worker). So each line is
//! queued and a forwarding task hands it to the host on a blocking thread, in order.

use std::sync::Arc;

use psync_core::client::{LogLevel, Logger as CoreLogger, SyncDatabase as CoreSyncDatabase};

use crate::error::Result;
use crate::runtime;
use crate::shutdown::HostRef;

/// Severity of a log line (core's own enum, exported as is).
#[uniffi::remote(Enum)]
pub enum LogLevel {
    /// Details of the sync protocol.
    Debug,
    /// Normal progress.
    Info,
    /// Something went wrong and is being retried or worked around.
    Warning,
}

/// Receives psync's log lines. Implemented by the host.
///
/// Called on a psync thread, one line at a time and in order. Lines never contain tokens
/// or row data.
#[psync_ffi_macros::export(foreign)]
pub trait LogSink: Send + Sync + std::fmt::Debug {
    /// One log line.
    fn log(&self, level: LogLevel, message: String);
}

/// Installs `sink` as `client`'s logger (`None` removes it), replacing the previous one.
///
/// The forwarding task ends when its queue's sender, owned by the core logger, is dropped:
/// when the logger is replaced or the client is freed.
pub(crate) fn install(client: &CoreSyncDatabase, sink: Option<Arc<dyn LogSink>>) -> Result<()> {
    let Some(sink) = sink else {
        client.set_logger(None);
        return Ok(());
    };
    let sink = HostRef::new(sink);
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<(LogLevel, String)>();
    runtime::spawn(async move {
        while let Some((level, line)) = receiver.recv().await {
            if !sink.call_blocking(move |s| s.log(level, line)).await {
                break;
            }
        }
    })?;
    let logger: CoreLogger = Arc::new(move |level, line: &str| {
        // Fails only once the forwarder stopped (shutdown began): the line is dropped.
        let _ = sender.send((level, line.to_owned()));
    });
    client.set_logger(Some(logger));
    Ok(())
}
