// SPDX-License-Identifier: Apache-2.0
//! Connecting and disconnecting a [`SyncDatabase`]: one session at a time, the file's sync
//! lock, clearing on logout, and closing.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::session::Session;
use super::{BackendConnector, Lifecycle, SyncDatabase, SyncOptions, blocking, sync_lock};
use crate::{Error, Result, Value};

/// What [`SyncDatabase::disconnect_and_clear`] deletes besides synced data and queued writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClearOptions {
    /// Also delete the rows of local-only tables (default `true`, as upstream's `clearLocal`).
    pub clear_local: bool,
    /// Keep downloaded buckets so a reconnect can reuse them (default `false`).
    pub soft: bool,
}

impl Default for ClearOptions {
    fn default() -> Self {
        ClearOptions {
            clear_local: true,
            soft: false,
        }
    }
}

impl SyncDatabase {
    /// Starts syncing (cancelling any previous connection first). Fails with an error naming
    /// the file when another client, in this process or another, syncs the same database
    /// file (docs/adr/0003-one-syncing-instance-per-file.md).
    pub async fn connect(
        &self,
        connector: Arc<dyn BackendConnector>,
        options: SyncOptions,
    ) -> Result<()> {
        if self.inner.db.is_closed() || *self.inner.lifecycle.borrow() == Lifecycle::Closed {
            return Err(Error::closed());
        }
        let mut guard = self.inner.session.lock().await;
        if let Some(old) = guard.take() {
            self.end_session(old).await;
        }
        self.hold_sync_lock()?;
        let session = match Session::start(&self.inner, connector, options).await {
            Ok(session) => session,
            Err(error) => {
                self.inner.sync_lock.lock().take();
                return Err(error);
            }
        };
        *self.inner.current.lock() = Some(Arc::clone(&session.parts));
        *guard = Some(session);
        self.inner.lifecycle.send_replace(Lifecycle::Connected);
        Ok(())
    }

    /// Takes the file's sync lock unless this client already holds it (a reconnect keeps
    /// it). In-memory databases have no file to share and take none.
    fn hold_sync_lock(&self) -> Result<()> {
        let Some(path) = self.inner.db.path() else {
            return Ok(());
        };
        let mut held = self.inner.sync_lock.lock();
        if held.is_none() {
            *held = Some(sync_lock::SyncFileLock::acquire(path)?);
        }
        Ok(())
    }

    async fn end_session(&self, session: Session) {
        *self.inner.current.lock() = None;
        session.stop().await;
        self.inner.show_stopped();
    }

    /// Stops syncing; returns once every background task has ended.
    pub async fn disconnect(&self) -> Result<()> {
        let mut guard = self.inner.session.lock().await;
        if let Some(old) = guard.take() {
            self.end_session(old).await;
        }
        // Only now that every task has ended may another client sync the file.
        self.inner.sync_lock.lock().take();
        self.inner.lifecycle.send_if_modified(|l| {
            let changed = *l == Lifecycle::Connected;
            if changed {
                *l = Lifecycle::Idle;
            }
            changed
        });
        Ok(())
    }

    /// Disconnects and deletes all synced data, queued writes and the checkpoint request
    /// counter; by default also the rows of local-only tables (logout), as every PowerSync SDK
    /// does. See [`ClearOptions`].
    pub async fn disconnect_and_clear(&self, options: ClearOptions) -> Result<()> {
        self.disconnect().await?;
        let mut flags = 0;
        if options.clear_local {
            flags |= crate::storage::crud::CLEAR_LOCAL;
        }
        if options.soft {
            flags |= crate::storage::crud::CLEAR_SOFT;
        }
        blocking(&self.inner.db, move |db| {
            db.write(|tx| {
                tx.get("SELECT powersync_clear(?)", &[Value::Integer(flags)])?;
                Ok(())
            })
        })
        .await?;
        self.inner.max_applied.store(i64::MIN, Ordering::Release);
        self.inner.status.update(|s| {
            s.last_synced_at = None;
            s.has_synced = Some(false);
            s.priority_status.clear();
            s.streams.clear();
            s.last_applied_checkpoint_request_id = None;
            s.download_error = None;
            s.upload_error = None;
        });
        Ok(())
    }

    /// Disconnects and closes the database. Checkpoint waiters fail with
    /// [`CheckpointError::Closed`].
    pub async fn close(&self) -> Result<()> {
        // Closed first, so waiters report Closed rather than the disconnect on the way.
        self.inner.lifecycle.send_replace(Lifecycle::Closed);
        self.disconnect().await?;
        blocking(&self.inner.db, |db| db.close()).await
    }
}
