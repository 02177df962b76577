// SPDX-License-Identifier: Apache-2.0
//! The `psync-test-service` binary as a separate process on a source database file: started,
//! SIGKILLed and started again on the same file and port; and its admin API.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Finds a workspace binary next to the running executable (tests run from `deps/`); builds
/// it with cargo when it is not there. `PSYNC_TEST_SERVICE_BIN`-style overrides come first.
pub fn workspace_binary(name: &str, package: &str, override_var: &str) -> io::Result<PathBuf> {
    if let Some(path) = std::env::var_os(override_var) {
        return Ok(path.into());
    }
    let exe = std::env::current_exe()?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let candidate = dir.join(name);
    if !candidate.exists() {
        let mut build = std::process::Command::new(env!("CARGO"));
        build.args(["build", "--quiet", "-p", package, "--bin", name]);
        if dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status()?;
        if !status.success() {
            return Err(io::Error::other(format!("cargo build -p {package} failed")));
        }
    }
    Ok(candidate)
}

/// A running (or killed) service process.
pub struct ServiceProcess {
    binary: PathBuf,
    db: PathBuf,
    port: u16,
    child: Option<Child>,
    http: reqwest::Client,
}

impl ServiceProcess {
    /// Starts the service on `db` (an ephemeral port, kept for restarts).
    pub async fn start(binary: &Path, db: &Path) -> io::Result<Self> {
        let mut service = Self {
            binary: binary.to_owned(),
            db: db.to_owned(),
            port: 0,
            child: None,
            http: psync_demo::http_client(),
        };
        service.spawn().await?;
        Ok(service)
    }

    async fn spawn(&mut self) -> io::Result<()> {
        let mut child = Command::new(&self.binary)
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--db")
            .arg(&self.db)
            .args(["--keepalive-ms", "1000"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let url = BufReader::new(stdout)
            .lines()
            .next_line()
            .await?
            .ok_or_else(|| io::Error::other("the service exited before printing its URL"))?;
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| io::Error::other(format!("unexpected service URL {url:?}")))?;
        self.port = port;
        self.child = Some(child);
        Ok(())
    }

    /// The service's own URL (admin calls go here, not through the proxy).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port (the same after restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// SIGKILLs the process (no shutdown of any kind).
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts it again on the same file and port (retrying while the port is still taken).
    pub async fn restart(&mut self) -> io::Result<()> {
        let mut last = None;
        for _ in 0..50 {
            match self.spawn().await {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(last.unwrap_or_else(|| io::Error::other("restart failed")))
    }

    /// Whether the process is running.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// POSTs to an admin endpoint.
    pub async fn admin(&self, path: &str, body: Value) -> io::Result<Value> {
        let answer = self
            .http
            .post(format!("{}{path}", self.url()))
            .json(&body)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(io::Error::other)?;
        if !answer.status().is_success() {
            return Err(io::Error::other(format!(
                "{path}: HTTP {}",
                answer.status()
            )));
        }
        answer.json().await.map_err(io::Error::other)
    }

    /// Sets global faults (`{}`-style JSON of `Faults`).
    pub async fn set_faults(&self, faults: Value) -> io::Result<()> {
        self.admin("/admin/faults", json!({"clear": true, "faults": faults}))
            .await
            .map(drop)
    }

    /// Clears every fault.
    pub async fn clear_faults(&self) -> io::Result<()> {
        self.admin("/admin/faults", json!({"clear": true}))
            .await
            .map(drop)
    }

    /// Every `todos` row of the backend: id → completed.
    pub async fn backend_rows(&self) -> io::Result<crate::checks::Rows> {
        let answer = self
            .admin(
                "/admin/source/query",
                json!({"sql": "SELECT id, completed FROM todos"}),
            )
            .await?;
        Ok(crate::checks::rows_of_answer(&answer))
    }
}
