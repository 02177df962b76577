// SPDX-License-Identifier: Apache-2.0
//! Table-change notifications.
//!
//! The writer connection's update hook records every table a statement touches; its commit
//! hook moves that set to "committed" and its rollback hook forgets it. After the write call
//! has released the writer, the committed set is handed to listeners, so listeners never run
//! inside SQLite or while a lock is held.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use rusqlite::Connection;

use crate::Result;

/// A callback receiving the raw storage table names changed by one or more commits.
pub type TableListener = Box<dyn Fn(&BTreeSet<String>) + Send + Sync>;

#[derive(Default)]
struct ChangeSets {
    pending: BTreeSet<String>,
    committed: BTreeSet<String>,
}

/// Collects changes on the writer and fans them out to listeners.
#[derive(Default)]
pub(crate) struct ChangeTracker {
    changes: Arc<Mutex<ChangeSets>>,
    listeners: Arc<Mutex<ListenerRegistry>>,
}

type SharedListener = Arc<dyn Fn(&BTreeSet<String>) + Send + Sync>;

#[derive(Default)]
struct ListenerRegistry {
    next_id: u64,
    listeners: BTreeMap<u64, SharedListener>,
}

impl ChangeTracker {
    /// Installs update, commit and rollback hooks on the writer connection.
    pub(crate) fn install(&self, conn: &mut Connection) -> Result<()> {
        let changes = Arc::clone(&self.changes);
        conn.update_hook(Some(move |_action, _db: &str, table: &str, _rowid| {
            let mut sets = changes.lock();
            if !sets.pending.contains(table) {
                sets.pending.insert(table.to_owned());
            }
        }))?;
        let changes = Arc::clone(&self.changes);
        conn.commit_hook(Some(move || {
            let mut sets = changes.lock();
            let pending = std::mem::take(&mut sets.pending);
            sets.committed.extend(pending);
            // false = let the commit proceed.
            false
        }))?;
        let changes = Arc::clone(&self.changes);
        conn.rollback_hook(Some(move || {
            changes.lock().pending.clear();
        }))?;
        Ok(())
    }

    /// Registers a listener; it stays registered while the handle lives.
    pub(crate) fn add_listener(&self, listener: TableListener) -> TableListenerHandle {
        let mut registry = self.listeners.lock();
        let id = registry.next_id;
        registry.next_id += 1;
        registry.listeners.insert(id, Arc::from(listener));
        TableListenerHandle {
            registry: Arc::downgrade(&self.listeners),
            id,
        }
    }

    /// Delivers committed changes, if any. Must be called without holding the writer lock.
    pub(crate) fn dispatch(&self) {
        let committed = std::mem::take(&mut self.changes.lock().committed);
        if committed.is_empty() {
            return;
        }
        let listeners: Vec<_> = self.listeners.lock().listeners.values().cloned().collect();
        for listener in listeners {
            listener(&committed);
        }
    }
}

/// Keeps a table listener registered; dropping it unregisters the listener.
pub struct TableListenerHandle {
    registry: Weak<Mutex<ListenerRegistry>>,
    id: u64,
}

impl Drop for TableListenerHandle {
    fn drop(&mut self) {
        if let Some(registry) = self.registry.upgrade() {
            // Take the listener out before dropping it so its destructor runs unlocked.
            let removed = registry.lock().listeners.remove(&self.id);
            drop(removed);
        }
    }
}

impl std::fmt::Debug for TableListenerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableListenerHandle")
            .field("id", &self.id)
            .finish()
    }
}
