// SPDX-License-Identifier: Apache-2.0
//! A small filesystem for disk-full tests: a tmpfs mounted for the test when the process may
//! mount (root), filled with a ballast file; else SQLite's `max_page_count` on the writer
//! connection (same SQLITE_FULL error, but only the main database file is limited).

use std::path::{Path, PathBuf};
use std::process::Command;

use psync_core::client::SyncDatabase;

/// Where the database lives and how the disk is filled and freed.
pub struct SmallDisk {
    dir: tempfile::TempDir,
    mounted: bool,
}

impl SmallDisk {
    /// A tmpfs of `size_kib` when mounting works, else a plain folder.
    pub fn new(size_kib: u64) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        eprintln!(
            "disk faults: {}",
            if mounted {
                "tmpfs mounted for the test"
            } else {
                "cannot mount here; emulating with PRAGMA max_page_count"
            }
        );
        Self { dir, mounted }
    }

    /// A path on the small disk.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn ballast(&self) -> PathBuf {
        self.dir.path().join("ballast")
    }

    /// Leaves about `free_kib` free (tmpfs) or lets the database grow by about that much.
    pub async fn fill(&self, db: &SyncDatabase, free_kib: u64) {
        if self.mounted {
            let _ = std::fs::remove_file(self.ballast());
            let stats = available_kib(self.dir.path());
            let size = stats.saturating_sub(free_kib) * 1024;
            std::fs::write(self.ballast(), vec![0u8; size as usize]).expect("ballast");
        } else {
            let pages = page_count(db).await + free_kib / 4;
            db.execute(&format!("PRAGMA max_page_count = {pages}"), vec![])
                .await
                .expect("max_page_count");
        }
    }

    /// Gives the space back.
    pub async fn free(&self, db: &SyncDatabase) {
        if self.mounted {
            std::fs::remove_file(self.ballast()).expect("remove ballast");
        } else {
            db.execute("PRAGMA max_page_count = 1073741823", vec![])
                .await
                .expect("max_page_count");
        }
    }

    /// Remounts read-only (tmpfs) or makes the files read-only (permissions; not for root).
    pub fn make_read_only(&self) {
        if self.mounted {
            let status = Command::new("mount")
                .args(["-o", "remount,ro"])
                .arg(self.dir.path())
                .status()
                .expect("remount");
            assert!(status.success());
        } else {
            for entry in std::fs::read_dir(self.dir.path()).expect("dir").flatten() {
                let mut permissions = entry.metadata().expect("meta").permissions();
                permissions.set_readonly(true);
                std::fs::set_permissions(entry.path(), permissions).expect("chmod");
            }
            let mut permissions = std::fs::metadata(self.dir.path())
                .expect("meta")
                .permissions();
            permissions.set_readonly(true);
            std::fs::set_permissions(self.dir.path(), permissions).expect("chmod");
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg(self.dir.path()).status();
        }
    }
}

async fn page_count(db: &SyncDatabase) -> u64 {
    let rows = db
        .get_all("PRAGMA page_count", vec![])
        .await
        .expect("page_count");
    rows.first()
        .and_then(|r| r.get(0))
        .and_then(psync_core::Value::as_i64)
        .unwrap_or(0) as u64
}

/// Free KiB of the filesystem holding `path` (from `df`, to stay dependency-free).
fn available_kib(path: &Path) -> u64 {
    let out = Command::new("df")
        .args(["-k", "--output=avail"])
        .arg(path)
        .output()
        .expect("df");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .expect("df output")
}
