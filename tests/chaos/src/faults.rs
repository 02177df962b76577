// SPDX-License-Identifier: Apache-2.0
//! The random fault schedule: each step picks one fault (or none); windows end by themselves.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::rng::Rng;
use crate::service_process::ServiceProcess;
use crate::summary::Summary;
use psync_test_support::proxy::{Mode, Proxy};

/// Faults currently in force and when they end.
#[derive(Default)]
pub struct Windows {
    proxy_until: Option<Instant>,
    service_until: Option<Instant>,
}

fn window(rng: &mut Rng, low_ms: u64, high_ms: u64) -> Instant {
    Instant::now() + Duration::from_millis(rng.between(low_ms, high_ms))
}

impl Windows {
    /// Ends the windows that are over.
    pub async fn expire(&mut self, proxy: &Proxy, service: &ServiceProcess) {
        let now = Instant::now();
        if self.proxy_until.is_some_and(|t| t <= now) {
            proxy.set_mode(Mode::Pass);
            self.proxy_until = None;
        }
        if self.service_until.is_some_and(|t| t <= now) && service.clear_faults().await.is_ok() {
            self.service_until = None;
        }
    }

    /// Ends every window now.
    pub async fn stop_all(&mut self, proxy: &Proxy, service: &ServiceProcess) {
        proxy.set_mode(Mode::Pass);
        self.proxy_until = None;
        self.service_until = None;
        let _ = service.clear_faults().await;
    }

    /// Opens a proxy fault window (unless one is open).
    pub fn proxy_fault(&mut self, rng: &mut Rng, proxy: &Proxy, summary: &mut Summary) {
        if self.proxy_until.is_some() {
            return;
        }
        let mode = match rng.below(4) {
            0 => Mode::Blackhole,
            1 => Mode::Delay(Duration::from_millis(rng.between(50, 800))),
            2 => Mode::Throttle(rng.between(2_000, 50_000)),
            _ => Mode::Reset,
        };
        proxy.set_mode(mode);
        self.proxy_until = Some(if mode == Mode::Reset {
            window(rng, 50, 400)
        } else {
            window(rng, 500, 4000)
        });
        summary.proxy_faults += 1;
    }

    /// Opens a service fault window (unless one is open).
    pub async fn service_fault(
        &mut self,
        rng: &mut Rng,
        service: &ServiceProcess,
        summary: &mut Summary,
    ) {
        if self.service_until.is_some() {
            return;
        }
        let faults = match rng.below(6) {
            0 => json!({"status": 503, "times": rng.between(1, 6)}),
            1 => json!({"drop_after_lines": rng.between(1, 20)}),
            2 => json!({"drop_after_bytes": rng.between(10, 3000)}),
            3 => json!({"stall": true}),
            4 => json!({"delay_ms": rng.between(100, 1500)}),
            _ => json!({"status": 500, "paths": ["/api/data"], "times": rng.between(1, 4)}),
        };
        if service.set_faults(faults).await.is_ok() {
            self.service_until = Some(window(rng, 500, 4000));
            summary.service_faults += 1;
        }
    }
}
