// SPDX-License-Identifier: Apache-2.0
//! The project's one build entry point.
//!
//! `cargo xtask test` installs what the test suites need, then runs every check CI runs:
//! formatting, clippy, and the Rust test suites. Each step prints a banner so a failing CI
//! log says which step broke.

mod bindings;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("lint") => lint(),
        Some("bindings") => bindings::test(),
        _ => {
            eprintln!("usage: cargo xtask <test|lint|bindings>");
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

fn test() -> Result<(), String> {
    lint()?;
    let reference = reference_core()?;
    // SAFETY of set_var: xtask is single-threaded; children inherit the variable.
    unsafe { std::env::set_var("PSYNC_REFERENCE_CORE", &reference) };
    run("cargo", &["test", "--workspace"])?;
    bindings::test()
}

/// The cache folder shared by every xtask step (`$HOME/.cache/psync`).
fn cache_dir() -> Result<PathBuf, String> {
    let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
    Ok(PathBuf::from(home).join(".cache").join("psync"))
}

/// The reference PowerSync core 0.5.3 (a loadable SQLite extension), fetched once from the
/// npm package `@powersync/node@1.1.0` for the differential tests.
fn reference_core() -> Result<PathBuf, String> {
    let dir = cache_dir()?.join("reference").join("0.5.3");
    let library = dir.join("libpowersync_x64.linux.so");
    if library.exists() {
        return Ok(library);
    }
    let download = dir.join("download");
    std::fs::create_dir_all(&download).map_err(|e| format!("create {download:?}: {e}"))?;
    let download_str = download.to_str().ok_or("cache path is not UTF-8")?;
    run(
        "npm",
        &[
            "pack",
            "@powersync/node@1.1.0",
            "--pack-destination",
            download_str,
        ],
    )?;
    run(
        "tar",
        &[
            "-xzf",
            &format!("{download_str}/powersync-node-1.1.0.tgz"),
            "-C",
            download_str,
            "package/lib/libpowersync_x64.linux.so",
        ],
    )?;
    std::fs::rename(
        download.join("package/lib/libpowersync_x64.linux.so"),
        &library,
    )
    .map_err(|e| format!("move the reference core into the cache: {e}"))?;
    Ok(library)
}
