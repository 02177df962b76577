// SPDX-License-Identifier: Apache-2.0
//! `psync-fixtures <core-0.4.12.so> <core-0.5.3.so> <out-dir>`: writes the fixture databases
//! and their expectations with the real PowerSync cores. `cargo xtask fixtures` downloads the
//! cores and runs this into `tests/fixtures/`.

use std::path::PathBuf;
use std::process::ExitCode;

use psync_reference::fixtures::{Cores, write_all};

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [legacy, current, out] = args.as_slice() else {
        eprintln!("usage: psync-fixtures <core-0.4.12.so> <core-0.5.3.so> <out-dir>");
        return ExitCode::from(2);
    };
    let cores = Cores {
        legacy: legacy.clone(),
        current: current.clone(),
    };
    match write_all(&cores, out) {
        Ok(()) => {
            eprintln!("fixtures written to {}", out.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("psync-fixtures: {error}");
            ExitCode::FAILURE
        }
    }
}
