// SPDX-License-Identifier: Apache-2.0
//! The project's one build entry point.
//!
//! `cargo xtask test` installs what the test suites need, then runs every check CI runs:
//! formatting, clippy, and the Rust test suites. Each step prints a banner so a failing CI
//! log says which step broke.

mod bench;
mod bindings;
mod cores;
mod soak;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// Environment variable through which tests find the reference core 0.5.3.
const REFERENCE_ENV: &str = "PSYNC_REFERENCE_CORE";
/// Environment variable through which the fixture check finds the legacy core 0.4.12.
const LEGACY_ENV: &str = "PSYNC_LEGACY_CORE";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("lint") => lint(),
        Some("bench") => bench::bench(),
        Some("bench-client") => bench_client(),
        Some("bindings") => bindings::test(),
        Some("reference") => reference_core().map(|path| eprintln!("{}", path.display())),
        Some("fixtures") => fixtures(),
        Some("soak") => soak::soak(&args[1..]),
        Some("fuzz") => soak::fuzz(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <test|lint|bench|bench-client|reference|fixtures|bindings|soak|fuzz>"
            );
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
    )?;
    // A workspace build unifies features, so it never builds psync-core without its default
    // `client` feature; tests/reference does (no TLS stack there). Check that build alone.
    run(
        "cargo",
        &[
            "clippy",
            "-p",
            "psync-reference",
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
    let legacy = cores::core_library(&cores::LEGACY)?;
    // SAFETY of set_var: as above.
    unsafe { std::env::set_var(LEGACY_ENV, &legacy) };
    run("cargo", &["test", "--workspace"])?;
    bindings::test()
}

/// The reference core 0.5.3, downloaded once.
fn reference_core() -> Result<PathBuf, String> {
    cores::core_library(&cores::REFERENCE)
}

/// Rewrites `tests/fixtures/` with the real cores 0.4.12 and 0.5.3 (`psync-fixtures`).
fn fixtures() -> Result<(), String> {
    let legacy = cores::core_library(&cores::LEGACY)?;
    let current = reference_core()?;
    let out = repo_root()?.join("tests").join("fixtures");
    let paths: Vec<&str> = [&legacy, &current, &out]
        .iter()
        .map(|path| path.to_str().ok_or(format!("{path:?} is not UTF-8")))
        .collect::<Result<_, _>>()?;
    let mut args = vec![
        "run",
        "-p",
        "psync-reference",
        "--bin",
        "psync-fixtures",
        "--",
    ];
    args.extend(paths);
    run("cargo", &args)
}

/// The checkout's root folder (xtask lives one level below it).
fn repo_root() -> Result<PathBuf, String> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| "xtask has no parent folder".to_owned())
}

/// The cache folder shared by every xtask step (`$HOME/.cache/psync`).
fn cache_dir() -> Result<PathBuf, String> {
    let home = std::env::var_os("HOME").ok_or("HOME is not set")?;
    Ok(PathBuf::from(home).join(".cache").join("psync"))
}
