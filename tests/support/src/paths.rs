// SPDX-License-Identifier: Apache-2.0
//! Folders of the repository the tests read, located from this crate's manifest so that they
//! resolve the same from every crate and on a fresh clone.

use std::path::{Path, PathBuf};

/// The workspace root (this crate lives in `tests/support`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `tests/fixtures/`: databases written by the real PowerSync cores, with their expectations.
pub fn fixtures_dir() -> PathBuf {
    workspace_root().join("tests/fixtures")
}

/// A fixture database, `tests/fixtures/<name>.db`.
pub fn fixture_db(name: &str) -> PathBuf {
    fixtures_dir().join(format!("{name}.db"))
}

/// `tests/sequences/`: the language-neutral scenario sequences.
pub fn sequences_dir() -> PathBuf {
    workspace_root().join("tests/sequences")
}

/// Fixture a: written by core 0.4.12, local writes pending (target MAX), legacy write
/// checkpoint 101.
pub const FIXTURE_A: &str = "a-legacy-0.4.12-pending-max";
/// Fixture c: written by core 0.5.3 in checkpoint-request mode.
pub const FIXTURE_C: &str = "c-0.5.3-checkpoint-requests";
