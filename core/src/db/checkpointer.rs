// SPDX-License-Identifier: Apache-2.0
//! WAL checkpoints on a background connection.
//!
//! SQLite's default auto-checkpoint runs inside the commit that pushes the WAL past 1000 pages,
//! so whichever write happens to cross the line (a sync batch, or an app's own small write)
//! also pays for copying the whole log into the database file and syncing it. Measured on an
//! initial sync of 100k rows, that is a fifth of the time. Here the writer's WAL hook only
//! signals this thread, which runs a PASSIVE checkpoint on its own connection: it never
//! blocks the writer or readers, and it copies what no reader still needs. The WAL stays
//! about as bounded as with auto-checkpoint, as long as checkpoints keep up (they are
//! sequential copies, faster than the writes that produced the frames).

use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};
use rusqlite::Connection;

use crate::Result;

/// WAL size, in pages, that triggers a checkpoint (SQLite's auto-checkpoint default).
pub(super) const CHECKPOINT_PAGES: i32 = 1000;

#[derive(Default)]
struct Signal {
    state: Mutex<Requests>,
    wake: Condvar,
}

#[derive(Default)]
struct Requests {
    checkpoint: bool,
    stop: bool,
}

/// The background checkpoint thread of one database file. Dropping it stops the thread
/// (after a checkpoint in progress finishes) and closes its connection.
pub(super) struct Checkpointer {
    signal: Arc<Signal>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread on `conn` (a fresh connection to the same file) and installs the WAL
    /// hook on `writer`, which replaces the writer's auto-checkpoint.
    pub(super) fn start(writer: &mut Connection, conn: Connection) -> Result<Self> {
        let signal = Arc::new(Signal::default());
        let hook_signal = Arc::clone(&signal);
        writer.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: i32| {
            if pages >= CHECKPOINT_PAGES {
                hook_signal.state.lock().checkpoint = true;
                hook_signal.wake.notify_one();
            }
            Ok(())
        }))?;
        let spawned = std::thread::Builder::new()
            .name("psync-checkpoint".to_string())
            .spawn({
                let signal = Arc::clone(&signal);
                move || run(&signal, &conn)
            });
        match spawned {
            Ok(thread) => Ok(Self {
                signal,
                thread: Some(thread),
            }),
            Err(e) => {
                // Hand checkpoints back to SQLite (this replaces our hook); the open fails
                // anyway, but the connection stays consistent.
                let _ = writer.execute_batch("PRAGMA wal_autocheckpoint = 1000");
                Err(e.into())
            }
        }
    }

    /// Stops the thread and waits for it (idempotent).
    pub(super) fn stop(&mut self) {
        self.signal.state.lock().stop = true;
        self.signal.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            // The thread only runs checkpoints; a panic there has nothing to hand back.
            let _ = thread.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(signal: &Signal, conn: &Connection) {
    loop {
        {
            let mut requests = signal.state.lock();
            while !requests.checkpoint && !requests.stop {
                signal.wake.wait(&mut requests);
            }
            if requests.stop {
                return;
            }
            requests.checkpoint = false;
        }
        // PASSIVE never waits for locks; a checkpoint that cannot copy everything (a reader
        // still uses old frames) is simply retried after the next large commit.
        let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }
}
