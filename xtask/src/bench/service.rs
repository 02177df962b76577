// SPDX-License-Identifier: Apache-2.0
//! The `psync-test-service` process the client sides sync from: started on an ephemeral
//! loopback port, seeded through its admin API, stopped on drop.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

/// The user whose `lists` rows the sides sync (the service's built-in config buckets them by
/// `owner_id`); the sides ask for tokens of this user.
pub(crate) const USER: &str = "bench-user";

pub(crate) struct Service {
    child: Child,
    /// Closing it stops the service (it serves until stdin closes).
    stdin: Option<ChildStdin>,
    pub(crate) url: String,
}

impl Service {
    pub(crate) fn start(binary: &Path) -> Result<Self, String> {
        let mut child = Command::new(binary)
            .args(["--port", "0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", binary.display()))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("service stdout not captured")?;
        let mut url = String::new();
        BufReader::new(stdout)
            .read_line(&mut url)
            .map_err(|e| format!("reading the service URL: {e}"))?;
        let url = url.trim().to_owned();
        if !url.starts_with("http://127.0.0.1:") {
            return Err(format!("the service printed {url:?} instead of its URL"));
        }
        Ok(Self { child, stdin, url })
    }

    /// Inserts `rows` lists of [`USER`] into the source database in one statement (replicated
    /// into one bucket before the call returns).
    pub(crate) fn seed(&self, rows: usize) -> Result<(), String> {
        let sql = format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) \
             INSERT INTO lists(id, name, owner_id, created_at) \
             SELECT printf('list-%08d', i), 'shopping list number ' || i, '{USER}', \
             '2026-01-01T00:00:00Z' FROM n"
        );
        let body = format!("{{\"sql\":\"{sql}\"}}");
        let answer = self.post("/admin/source/execute", &body)?;
        if answer.contains(&format!("\"changed\":{rows}")) {
            Ok(())
        } else {
            Err(format!("seeding {rows} rows answered {answer}"))
        }
    }

    /// A minimal HTTP/1.1 POST over loopback (xtask has no HTTP client); returns the body.
    fn post(&self, path: &str, body: &str) -> Result<String, String> {
        let address = self.url.trim_start_matches("http://");
        let mut stream =
            TcpStream::connect(address).map_err(|e| format!("connect to {address}: {e}"))?;
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| format!("POST {path}: {e}"))?;
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .map_err(|e| format!("POST {path}: {e}"))?;
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        if head.starts_with("HTTP/1.1 200") {
            Ok(body.to_owned())
        } else {
            Err(format!("POST {path}: {head} {body}"))
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if self.child.wait().is_err() {
            let _ = self.child.kill();
        }
    }
}
