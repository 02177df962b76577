// SPDX-License-Identifier: Apache-2.0
//! The real PowerSync SQLite cores, taken from the npm packages that ship them and cached
//! under `$HOME/.cache/psync/reference/<version>/`: 0.5.3 is the reference of the differential
//! tests and benchmarks; 0.4.12 (the last with the `$local` write-checkpoint row) writes the
//! legacy fixture.

use std::path::{Path, PathBuf};

use crate::{cache_dir, run};

/// One core release and the npm package that ships it.
pub(crate) struct CoreRelease {
    pub(crate) version: &'static str,
    npm_package: &'static str,
}

/// The reference core of the differential tests and benchmarks.
pub(crate) const REFERENCE: CoreRelease = CoreRelease {
    version: "0.5.3",
    npm_package: "@powersync/node@1.1.0",
};

/// The last core with the legacy `$local` write checkpoint (schema v12).
pub(crate) const LEGACY: CoreRelease = CoreRelease {
    version: "0.4.12",
    npm_package: "@powersync/node@0.20.0",
};

/// Path of the x86-64 Linux core inside each package's tarball.
const SO_IN_TARBALL: &str = "package/lib/libpowersync_x64.linux.so";
/// File name of the cached core.
const SO_NAME: &str = "libpowersync_x64.linux.so";

/// Downloads a core once (`npm pack` + `tar`), returning its cached path.
///
/// Idempotent: when the file already exists nothing runs, so repeated calls stay offline.
pub(crate) fn core_library(release: &CoreRelease) -> Result<PathBuf, String> {
    let target = cache_dir()?
        .join("reference")
        .join(release.version)
        .join(SO_NAME);
    if target.is_file() {
        return Ok(target);
    }
    let cache = target.parent().ok_or("core cache path has no parent")?;
    std::fs::create_dir_all(cache)
        .map_err(|e| format!("cannot create {}: {e}", cache.display()))?;
    let scratch = cache.join(format!("download-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)
        .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    let result = download_into(release, &scratch, &target);
    let _ = std::fs::remove_dir_all(&scratch);
    result.map(|()| target)
}

fn download_into(release: &CoreRelease, scratch: &Path, target: &Path) -> Result<(), String> {
    let scratch_str = scratch.to_str().ok_or("non-UTF-8 cache path")?;
    run(
        "npm",
        &[
            "pack",
            release.npm_package,
            "--silent",
            "--pack-destination",
            scratch_str,
        ],
    )?;
    let tarball = std::fs::read_dir(scratch)
        .map_err(|e| format!("cannot list {scratch_str}: {e}"))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .find(|path| path.extension().is_some_and(|ext| ext == "tgz"))
        .ok_or("npm pack produced no .tgz")?;
    let tarball_str = tarball.to_str().ok_or("non-UTF-8 tarball path")?;
    run(
        "tar",
        &["-xzf", tarball_str, "-C", scratch_str, SO_IN_TARBALL],
    )?;
    // Rename within the same directory tree so a concurrent reader never sees a partial file.
    let partial = target.with_extension("so.partial");
    std::fs::copy(scratch.join(SO_IN_TARBALL), &partial)
        .map_err(|e| format!("cannot copy core {}: {e}", release.version))?;
    std::fs::rename(&partial, target)
        .map_err(|e| format!("cannot install core {}: {e}", release.version))
}
