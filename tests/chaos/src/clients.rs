// SPDX-License-Identifier: Apache-2.0
//! The client processes of a run: spawned, SIGKILLed and respawned on the same database file
//! and log; their stdout lines arrive on one channel.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// A line a client printed: (client index, line); `None` when its stdout closed.
pub type Event = (usize, Option<String>);

/// One client slot (the process is replaced on restarts).
pub struct ClientProcess {
    /// Index of the client.
    pub index: usize,
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    /// Its database file.
    pub db: PathBuf,
    /// Its acknowledged-write log.
    pub log: PathBuf,
}

/// How to start clients.
pub struct ClientLauncher {
    /// The `psync-chaos-client` binary.
    pub binary: PathBuf,
    /// Service URL through the proxy.
    pub url: String,
    /// Service URL without the proxy.
    pub admin_url: String,
    /// Max live rows per client.
    pub max_rows: usize,
    /// Where the events go.
    pub events: mpsc::UnboundedSender<Event>,
}

/// The client name of index `i` (its rows are `<name>-<seq>`).
pub fn client_name(index: usize) -> String {
    format!("c{index}")
}

impl ClientLauncher {
    /// A new slot for client `index` with files in `dir`, started.
    pub fn start(&self, index: usize, dir: &Path, seed: u64) -> io::Result<ClientProcess> {
        let mut client = ClientProcess {
            index,
            child: None,
            stdin: None,
            db: dir.join(format!("{}.db", client_name(index))),
            log: dir.join(format!("{}.log", client_name(index))),
        };
        self.respawn(&mut client, seed)?;
        Ok(client)
    }

    /// Starts the slot's process (again).
    pub fn respawn(&self, client: &mut ClientProcess, seed: u64) -> io::Result<()> {
        let mut child = Command::new(&self.binary)
            .arg(&client.db)
            .arg(&self.url)
            .arg(&self.admin_url)
            .arg(client_name(client.index))
            .arg("chaos-user")
            .arg(&client.log)
            .arg(seed.to_string())
            .arg(self.max_rows.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        client.stdin = child.stdin.take();
        client.child = Some(child);
        let (index, events) = (client.index, self.events.clone());
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = events.send((index, Some(line)));
            }
            let _ = events.send((index, None));
        });
        Ok(())
    }
}

impl ClientProcess {
    /// SIGKILL.
    pub async fn kill(&mut self) {
        self.stdin = None;
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Sends a command line; `close` then closes stdin.
    pub async fn command(&mut self, line: &str, close: bool) {
        if let Some(stdin) = &mut self.stdin {
            let _ = stdin.write_all(format!("{line}\n").as_bytes()).await;
            let _ = stdin.flush().await;
        }
        if close {
            self.stdin = None;
        }
    }

    /// Waits for the process to exit.
    pub async fn wait(&mut self) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        child.wait().await.ok()
    }
}
