// SPDX-License-Identifier: Apache-2.0
//! One syncing instance per database file (docs/adr/0003-one-syncing-instance-per-file.md).
//!
//! `connect()` takes an exclusive OS advisory lock on a sidecar file next to the database,
//! `<db>-psync-sync.lock`, and holds it until the client disconnects, closes or is dropped.
//! The lock is `flock` on Unix and `LockFileEx` on Windows (through `fs4`): it belongs to the
//! open file, so a second `Database` in the same process conflicts just like another process,
//! and the OS releases it when the process dies, even by SIGKILL. The sidecar file stays on
//! disk; deleting it would let two processes lock two different files under one name.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use fs4::TryLockError;

use crate::{Error, Result};

/// Appended to the database path to name the lock file.
pub const SYNC_LOCK_SUFFIX: &str = "-psync-sync.lock";

/// Held while a client syncs a database file; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct SyncFileLock {
    _file: File,
}

impl SyncFileLock {
    /// Takes the sync lock of the database at `db_path`, or fails at once when another
    /// client (in this process or another) holds it.
    pub(crate) fn acquire(db_path: &Path) -> Result<Self> {
        let lock_path = lock_path(db_path);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| {
                Error::state(format!(
                    "cannot open the sync lock file {}: {e}",
                    lock_path.display()
                ))
            })?;
        // Called through the trait: std's own `File::try_lock` needs a newer Rust than ours.
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => Ok(SyncFileLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(Error::state(format!(
                "{} is already syncing: another connect() in this or another process holds \
                 {}; only one instance may sync a database file, so disconnect or close the \
                 other one first",
                db_path.display(),
                lock_path.display()
            ))),
            Err(TryLockError::Error(e)) => Err(Error::state(format!(
                "cannot lock {}: {e}",
                lock_path.display()
            ))),
        }
    }
}

/// The sidecar lock file of `db_path`. The canonical path, so two spellings of one file
/// (relative, through a symlink) share a lock.
pub fn lock_path(db_path: &Path) -> PathBuf {
    let canonical = std::fs::canonicalize(db_path).unwrap_or_else(|_| db_path.to_path_buf());
    let mut name = canonical.into_os_string();
    name.push(SYNC_LOCK_SUFFIX);
    PathBuf::from(name)
}
