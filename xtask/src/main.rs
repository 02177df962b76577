// SPDX-License-Identifier: Apache-2.0
//! The project's one build entry point.
//!
//! `cargo xtask test` installs what the test suites need, then runs every check CI runs:
//! formatting, clippy, and the Rust test suites. Each step prints a banner so a failing CI
//! log says which step broke.

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("lint") => lint(),
        _ => {
            eprintln!("usage: cargo xtask <test|lint>");
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
    run("cargo", &["test", "--workspace"])
}
