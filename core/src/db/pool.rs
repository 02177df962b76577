// SPDX-License-Identifier: Apache-2.0
//! The reader connection pool: callers borrow an idle reader, waiting if all are busy.

use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::{Condvar, Mutex};
use rusqlite::Connection;

use crate::{Error, Result};

#[derive(Default)]
pub(crate) struct ReaderPool {
    idle: Mutex<Vec<Connection>>,
    returned: Condvar,
}

impl ReaderPool {
    pub(crate) fn fill(&self, readers: Vec<Connection>) {
        self.idle.lock().extend(readers);
        self.returned.notify_all();
    }

    /// Borrows a reader, waiting until one is idle. Fails once the database is closed.
    pub(crate) fn acquire<'pool>(
        &'pool self,
        closed: &'pool AtomicBool,
    ) -> Result<ReaderGuard<'pool>> {
        let mut idle = self.idle.lock();
        loop {
            if closed.load(Ordering::Acquire) {
                return Err(Error::closed());
            }
            if let Some(conn) = idle.pop() {
                return Ok(ReaderGuard {
                    pool: self,
                    closed,
                    conn: ManuallyDrop::new(conn),
                });
            }
            self.returned.wait(&mut idle);
        }
    }

    /// Drops every idle reader and wakes waiters so they see the closed flag.
    pub(crate) fn close(&self) {
        let readers = std::mem::take(&mut *self.idle.lock());
        drop(readers);
        self.returned.notify_all();
    }
}

/// A borrowed reader; returns to the pool (or is closed, after `close`) when dropped.
pub(crate) struct ReaderGuard<'pool> {
    pool: &'pool ReaderPool,
    closed: &'pool AtomicBool,
    conn: ManuallyDrop<Connection>,
}

impl ReaderGuard<'_> {
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }
}

impl Drop for ReaderGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: `conn` is taken exactly once, here, and never used afterwards.
        let conn = unsafe { ManuallyDrop::take(&mut self.conn) };
        // Check the flag under the pool lock: `close` sets it before draining the pool, so
        // a reader is either drained by `close` or dropped here, never left behind.
        let mut idle = self.pool.idle.lock();
        if self.closed.load(Ordering::Acquire) {
            drop(idle);
            drop(conn);
            return;
        }
        idle.push(conn);
        drop(idle);
        self.pool.returned.notify_one();
    }
}
