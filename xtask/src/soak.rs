// SPDX-License-Identifier: Apache-2.0
//! `cargo xtask soak --minutes N [--seed S] [--clients N] [--runs K] [--debug]`: long runs of
//! the fault suite (`tests/chaos`), release build unless `--debug`. Each run prints its seed
//! first and a summary line last; with `--runs K` the seeds are S, S+1, … (S random when not
//! given).
//!
//! `cargo xtask fuzz --cases N`: the seeded sync fuzzers of `core/tests/engine/sync_fuzz.rs` with N
//! cases each (release build), reporting cases per second.

use std::process::Command;

use crate::run;

fn number(args: &[String], flag: &str) -> Result<Option<u64>, String> {
    match args.iter().position(|a| a == flag) {
        None => Ok(None),
        Some(at) => args
            .get(at + 1)
            .and_then(|v| v.parse().ok())
            .map(Some)
            .ok_or_else(|| format!("{flag} needs a number")),
    }
}

fn target_dir() -> Result<std::path::PathBuf, String> {
    Ok(match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => dir.into(),
        None => crate::repo_root()?.join("target"),
    })
}

/// Long fault-suite runs.
pub fn soak(args: &[String]) -> Result<(), String> {
    let minutes = number(args, "--minutes")?.unwrap_or(3);
    let clients = number(args, "--clients")?.unwrap_or(4);
    let runs = number(args, "--runs")?.unwrap_or(1);
    let first_seed = match number(args, "--seed")? {
        Some(seed) => seed,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64 % 1_000_000_007),
    };
    let debug = args.iter().any(|a| a == "--debug");
    let mut build = vec!["build", "-p", "psync-chaos", "-p", "psync-test-service"];
    if !debug {
        build.push("--release");
    }
    run("cargo", &build)?;
    let binaries = target_dir()?.join(if debug { "debug" } else { "release" });
    let mut failed = Vec::new();
    for seed in (0..runs).map(|i| first_seed.wrapping_add(i)) {
        let status = Command::new(binaries.join("psync-chaos"))
            .arg("--seconds")
            .arg((minutes * 60).to_string())
            .arg("--clients")
            .arg(clients.to_string())
            .arg("--seed")
            .arg(seed.to_string())
            .status()
            .map_err(|e| format!("could not start psync-chaos: {e}"))?;
        if !status.success() {
            failed.push(seed);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("soak failed for seeds {failed:?}"))
    }
}

/// The sync fuzzers in long mode.
pub fn fuzz(args: &[String]) -> Result<(), String> {
    let cases = number(args, "--cases")?.unwrap_or(10_000_000);
    // SAFETY of set_var: xtask is single-threaded; child processes inherit the variable.
    unsafe { std::env::set_var("PSYNC_FUZZ_CASES", cases.to_string()) };
    run(
        "cargo",
        &[
            "test",
            "--release",
            "-p",
            "psync-core",
            "--test",
            "engine",
            "--",
            "sync_fuzz::",
            "--nocapture",
            "--test-threads",
            "1",
        ],
    )
}
