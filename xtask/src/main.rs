// SPDX-License-Identifier: Apache-2.0
//! The project's one build entry point.
//!
//! `cargo xtask test` installs what the test suites need, then runs every check CI runs:
//! formatting, clippy, and the Rust test suites. Each step prints a banner so a failing CI
//! log says which step broke.

mod bindings;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// npm package that ships the reference PowerSync SQLite core 0.5.3.
const REFERENCE_NPM_PACKAGE: &str = "@powersync/node@1.1.0";
/// Path of the x86-64 Linux core inside that package's tarball.
const REFERENCE_SO_IN_TARBALL: &str = "package/lib/libpowersync_x64.linux.so";
/// Environment variable through which tests find the reference core.
const REFERENCE_ENV: &str = "PSYNC_REFERENCE_CORE";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("lint") => lint(),
        Some("bench") => bench(),
        Some("bench-client") => bench_client(),
        Some("bindings") => bindings::test(),
        Some("reference") => reference_core().map(|path| eprintln!("{}", path.display())),
        _ => {
            eprintln!("usage: cargo xtask <test|lint|bench|bench-client|reference|bindings>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one command, failing with its name if it does not succeed.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("==> {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .status()
        .map_err(|e| format!("could not start {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed ({status})", args.join(" ")))
    }
}

fn lint() -> Result<(), String> {
    run("cargo", &["fmt", "--all", "--check"])?;
    run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )
}

/// Client latency benchmark (request_checkpoint → synced, split into POST, service wait and our
/// own work) against the embedded service with 1k, 100k and 1M rows synced first
/// (`PSYNC_BENCH_CLIENT_SIZES`, `PSYNC_BENCH_CLIENT_REQUESTS` narrow it).
fn bench_client() -> Result<(), String> {
    run(
        "cargo",
        &[
            "run",
            "--release",
            "-p",
            "psync-demo",
            "--bin",
            "psync-bench-client",
        ],
    )
}

fn test() -> Result<(), String> {
    lint()?;
    let reference = reference_core()?;
    // SAFETY of set_var: xtask is single-threaded; child processes inherit the variable.
    unsafe { std::env::set_var(REFERENCE_ENV, &reference) };
    let fixtures = shared_fixtures()?;
    // SAFETY of set_var: as above.
    unsafe { std::env::set_var("PSYNC_FIXTURES", &fixtures) };
    run("cargo", &["test", "--workspace"])?;
    bindings::test()
}

/// The fixture databases written by real PowerSync cores: `shared/fixtures` beside the checkout
/// (as CI lays it out), else the developer machines' `/work/shared/fixtures`.
fn shared_fixtures() -> Result<PathBuf, String> {
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures");
    for candidate in [beside, PathBuf::from("/work/shared/fixtures")] {
        if candidate.join("README.md").is_file() {
            return Ok(candidate);
        }
    }
    Err("the shared fixtures folder (../shared/fixtures beside the checkout) is missing".into())
}

/// Runs the initial-sync benchmark (reference core vs ours vs plain SQLite) in release mode.
fn bench() -> Result<(), String> {
    let reference = reference_core()?;
    // SAFETY of set_var: xtask is single-threaded; child processes inherit the variable.
    unsafe { std::env::set_var(REFERENCE_ENV, &reference) };
    run(
        "cargo",
        &["bench", "-p", "psync-reference", "--bench", "initial_sync"],
    )
}

/// Location of the cached reference core: `$HOME/.cache/psync/reference/0.5.3/`.
fn reference_core_path() -> Result<PathBuf, String> {
    let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
    Ok(PathBuf::from(home)
        .join(".cache/psync/reference/0.5.3")
        .join("libpowersync_x64.linux.so"))
}

/// Downloads the reference core once (`npm pack` + `tar`), returning its cached path.
///
/// Idempotent: when the file already exists nothing runs, so repeated `cargo xtask test` calls
/// stay offline and fast.
fn reference_core() -> Result<PathBuf, String> {
    let target = reference_core_path()?;
    if target.is_file() {
        return Ok(target);
    }
    let cache_dir = target
        .parent()
        .ok_or("reference cache path has no parent")?;
    std::fs::create_dir_all(cache_dir)
        .map_err(|e| format!("cannot create {}: {e}", cache_dir.display()))?;
    let scratch = cache_dir.join(format!("download-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)
        .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    let result = download_reference_into(&scratch, &target);
    let _ = std::fs::remove_dir_all(&scratch);
    result.map(|()| target)
}

fn download_reference_into(scratch: &Path, target: &Path) -> Result<(), String> {
    let scratch_str = scratch.to_str().ok_or("non-UTF-8 cache path")?;
    run(
        "npm",
        &[
            "pack",
            REFERENCE_NPM_PACKAGE,
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
        &[
            "-xzf",
            tarball_str,
            "-C",
            scratch_str,
            REFERENCE_SO_IN_TARBALL,
        ],
    )?;
    // Rename within the same directory tree so a concurrent reader never sees a partial file.
    let partial = target.with_extension("so.partial");
    std::fs::copy(scratch.join(REFERENCE_SO_IN_TARBALL), &partial)
        .map_err(|e| format!("cannot copy the reference core: {e}"))?;
    std::fs::rename(&partial, target).map_err(|e| format!("cannot install the reference core: {e}"))
}

/// The cache folder shared by every xtask step (`$HOME/.cache/psync`).
fn cache_dir() -> Result<PathBuf, String> {
    let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
    Ok(PathBuf::from(home).join(".cache").join("psync"))
}
