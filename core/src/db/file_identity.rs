// SPDX-License-Identifier: Apache-2.0
//! Notices a database file deleted or replaced while open. SQLite keeps writing to the
//! unlinked file (and its unlinked WAL) without an error, so every later write would vanish
//! when the database is closed; the writer checks the file first and fails clearly instead.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The file's path and (device, inode) when it was opened.
#[derive(Debug)]
pub(crate) struct FileIdentity {
    path: PathBuf,
    id: Option<(u64, u64)>,
}

#[cfg(unix)]
fn id_of(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Elsewhere an open file cannot be deleted or replaced; nothing to check.
#[cfg(not(unix))]
fn id_of(_path: &Path) -> Option<(u64, u64)> {
    None
}

impl FileIdentity {
    /// The identity of the (open) file at `path` now.
    pub(crate) fn of(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            id: id_of(path),
        }
    }

    /// Fails when the file at the path is no longer the one that was opened.
    pub(crate) fn check(&self) -> Result<()> {
        if self.id.is_none() || id_of(&self.path) == self.id {
            return Ok(());
        }
        Err(Error::storage(format!(
            "the database file {} was deleted or replaced while open; writes are refused \
             because they would be lost (reopen the database)",
            self.path.display()
        )))
    }
}
