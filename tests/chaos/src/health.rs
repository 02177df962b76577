// SPDX-License-Identifier: Apache-2.0
//! Resource use of a process, read from /proc: resident memory, open file descriptors,
//! threads. The soak samples one client over the whole run.

/// One sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Seconds since the run started.
    pub at_secs: u64,
    /// Resident set size in KiB (`VmRSS`).
    pub rss_kib: u64,
    /// Open file descriptors.
    pub fds: u64,
    /// Threads.
    pub threads: u64,
}

/// Threads of process `pid` (0 when it cannot be read).
pub fn thread_count(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count() as u64)
}

/// A sample of process `pid`, or `None` when it is gone.
pub fn sample(pid: u32, at_secs: u64) -> Option<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    Some(Sample {
        at_secs,
        rss_kib: field("VmRSS:")?,
        threads: field("Threads:")?,
        fds: std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64,
    })
}

impl std::fmt::Display for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "t={}s rss={:.1}MiB fds={} threads={}",
            self.at_secs,
            self.rss_kib as f64 / 1024.0,
            self.fds,
            self.threads
        )
    }
}
