// SPDX-License-Identifier: Apache-2.0
//! The figures of a run and whether it passed.

use std::time::Duration;

use crate::health::Sample;

/// What a run did and found.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Seed of the run.
    pub seed: u64,
    /// Client processes.
    pub clients: usize,
    /// Seconds of faults and writes.
    pub seconds: u64,
    /// Writes whose SDK call returned (logged by the clients).
    pub acknowledged: u64,
    /// Client SIGKILLs (each followed by a restart).
    pub client_kills: u64,
    /// Service SIGKILLs followed by a restart on the same database file.
    pub service_restarts: u64,
    /// Proxy fault windows (blackhole, delay, throttle, reset).
    pub proxy_faults: u64,
    /// Service fault windows set through `/admin/faults`.
    pub service_faults: u64,
    /// Write-barrier rounds that completed and were checked.
    pub barriers_checked: u64,
    /// Write-barrier rounds that timed out or could not start (faults).
    pub barriers_interrupted: u64,
    /// Acknowledged writes missing from (or older in) the backend at the end.
    pub lost: u64,
    /// Backend rows of a client that none of its acknowledged writes explains.
    pub phantom: u64,
    /// Clients whose final local rows differ from the backend.
    pub diverged: u64,
    /// Violations the clients reported while running (own rows, write barrier).
    pub violations: Vec<String>,
    /// Client processes that failed (exited with an error).
    pub client_failures: Vec<String>,
    /// Slowest final checkpoint request (made after faults stopped) until applied.
    pub max_recovery: Duration,
    /// Resource samples of client 0 (never killed), first and last.
    pub health: Vec<Sample>,
    /// Threads of client 0's process at start and 11 s after `close()`.
    pub threads_at_close: Option<(u64, u64)>,
}

/// A final checkpoint request must be applied within this after faults stop.
pub const RECOVERY_BOUND: Duration = Duration::from_secs(10);

impl Summary {
    /// Everything the run checks held.
    pub fn passed(&self) -> bool {
        self.lost == 0
            && self.phantom == 0
            && self.diverged == 0
            && self.violations.is_empty()
            && self.client_failures.is_empty()
            && self.max_recovery <= RECOVERY_BOUND
            && self
                .threads_at_close
                .is_none_or(|(start, end)| end <= start)
    }

    /// One line of figures.
    pub fn line(&self) -> String {
        let health = match (self.health.first(), self.health.last()) {
            (Some(first), Some(last)) => format!(" | client0 start {first} end {last}"),
            _ => String::new(),
        };
        let threads = self
            .threads_at_close
            .map(|(a, b)| format!(" | threads start {a} after close {b}"))
            .unwrap_or_default();
        format!(
            "seed={} clients={} seconds={} acknowledged={} client_kills={} service_restarts={} \
             proxy_faults={} service_faults={} barriers={} (+{} interrupted) lost={} phantom={} \
             diverged={} violations={} failures={} max_recovery={}ms{health}{threads}",
            self.seed,
            self.clients,
            self.seconds,
            self.acknowledged,
            self.client_kills,
            self.service_restarts,
            self.proxy_faults,
            self.service_faults,
            self.barriers_checked,
            self.barriers_interrupted,
            self.lost,
            self.phantom,
            self.diverged,
            self.violations.len(),
            self.client_failures.len(),
            self.max_recovery.as_millis(),
        )
    }
}
