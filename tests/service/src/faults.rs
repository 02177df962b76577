// SPDX-License-Identifier: Apache-2.0
//! Fault injection: configured globally or per client id, at start or at run time.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Faults to inject. All fields default to "no fault".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// End the sync stream abruptly after this many lines.
    pub drop_after_lines: Option<u64>,
    /// End the sync stream abruptly after this many body bytes (may cut a line).
    pub drop_after_bytes: Option<u64>,
    /// Keep sync streams open but send nothing (not even keepalives) while set.
    pub stall: bool,
    /// Delay before answering any non-admin request, in milliseconds.
    pub delay_ms: u64,
    /// Answer non-admin requests with this HTTP status (500, 503, 401, …) and a service error
    /// body.
    pub status: Option<u16>,
    /// Limit `status` and `delay_ms` to these paths (e.g. `["/sync/stream"]`); all when absent.
    pub paths: Option<Vec<String>>,
    /// Send bucket checksums off by one in checkpoint lines.
    pub corrupt_checksums: bool,
    /// Answer 404 PSYNC_S2002 on `/sync/checkpoint-request` (an old service).
    pub checkpoint_request_not_found: bool,
    /// Apply to this many requests/connections, then remove the faults; forever when absent.
    pub times: Option<u32>,
}

impl Faults {
    /// Whether `status`/`delay_ms` apply to `path`.
    pub fn applies_to(&self, path: &str) -> bool {
        self.paths
            .as_ref()
            .is_none_or(|paths| paths.iter().any(|p| p == path))
    }

    fn is_relevant(&self, path: &str) -> bool {
        let request_level = (self.status.is_some() || self.delay_ms > 0) && self.applies_to(path);
        let stream_level = path == "/sync/stream"
            && (self.drop_after_lines.is_some()
                || self.drop_after_bytes.is_some()
                || self.stall
                || self.corrupt_checksums);
        let not_found = path == "/sync/checkpoint-request" && self.checkpoint_request_not_found;
        request_level || stream_level || not_found
    }
}

/// Global and per-client faults.
#[derive(Debug, Default)]
pub struct FaultRegistry {
    global: Faults,
    per_client: HashMap<String, Faults>,
    /// Bumped on every change so running streams notice.
    pub generation: u64,
}

impl FaultRegistry {
    /// Replaces the faults of a client (or the global ones).
    pub fn set(&mut self, client_id: Option<&str>, faults: Faults) {
        match client_id {
            Some(c) if faults == Faults::default() => {
                self.per_client.remove(c);
            }
            Some(c) => {
                self.per_client.insert(c.to_owned(), faults);
            }
            None => self.global = faults,
        }
        self.generation += 1;
    }

    /// Removes every fault.
    pub fn clear(&mut self) {
        self.global = Faults::default();
        self.per_client.clear();
        self.generation += 1;
    }

    /// Effective faults for a client without consuming `times`.
    pub fn peek(&self, client_id: Option<&str>) -> Faults {
        client_id
            .and_then(|c| self.per_client.get(c))
            .cloned()
            .unwrap_or_else(|| self.global.clone())
    }

    /// Effective faults for one request to `path`, counting it against `times`.
    pub fn take(&mut self, client_id: Option<&str>, path: &str) -> Faults {
        let per_client = client_id
            .filter(|c| self.per_client.contains_key(*c))
            .map(str::to_owned);
        let slot = match &per_client {
            Some(c) => self.per_client.get_mut(c),
            None => Some(&mut self.global),
        };
        let Some(slot) = slot else {
            return Faults::default();
        };
        let faults = slot.clone();
        if faults.is_relevant(path)
            && let Some(times) = slot.times.as_mut()
        {
            *times = times.saturating_sub(1);
            if *times == 0 {
                *slot = Faults::default();
                if let Some(c) = &per_client {
                    self.per_client.remove(c);
                }
                self.generation += 1;
            }
        }
        faults
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_limits_how_often_a_fault_fires() {
        let mut registry = FaultRegistry::default();
        registry.set(
            Some("c"),
            Faults {
                status: Some(503),
                times: Some(2),
                ..Faults::default()
            },
        );
        assert_eq!(registry.take(Some("c"), "/sync/stream").status, Some(503));
        assert_eq!(registry.take(Some("other"), "/sync/stream").status, None);
        assert_eq!(registry.take(Some("c"), "/sync/stream").status, Some(503));
        assert_eq!(registry.take(Some("c"), "/sync/stream").status, None);
    }

    #[test]
    fn path_filter_limits_status() {
        let faults = Faults {
            status: Some(500),
            paths: Some(vec!["/api/data".to_owned()]),
            ..Faults::default()
        };
        assert!(faults.applies_to("/api/data"));
        assert!(!faults.applies_to("/sync/stream"));
    }
}
