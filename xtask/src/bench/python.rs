// SPDX-License-Identifier: Apache-2.0
//! The psync Python side: a release wheel (maturin from the bindings venv, as `cargo xtask
//! bindings` builds the dev wheel) installed into a venv of its own under the target folder,
//! so benchmarking never replaces the wheel the binding tests use.

use std::path::PathBuf;
use std::process::Command;

use crate::bindings::{Layout, build_wheel, install_wheel, path_str, python_tools};
use crate::run;

pub(crate) struct PythonSide {
    python: PathBuf,
    script: PathBuf,
}

impl PythonSide {
    pub(crate) fn install() -> Result<Self, String> {
        let layout = Layout::new()?;
        python_tools(&layout)?;
        let wheel = build_wheel(&layout, &["--release"], "bench-wheels")?;
        let venv = layout.target.join("psync-bench-venv");
        let python = venv.join("bin").join("python");
        if !python.exists() {
            run("python3", &["-m", "venv", "--clear", path_str(&venv)?])?;
        }
        install_wheel(path_str(&python)?, &wheel)?;
        Ok(Self {
            python,
            script: layout.root.join("bench").join("side.py"),
        })
    }

    /// `python side.py <args>`, to be given the task's arguments.
    pub(crate) fn command(&self) -> Command {
        let mut command = Command::new(&self.python);
        // -P: import the installed wheel, never a source folder next to the script.
        command.arg("-P").arg(&self.script);
        command
    }
}
