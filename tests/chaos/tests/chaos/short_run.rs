// SPDX-License-Identifier: Apache-2.0
//! The fault suite's short mode, run by `cargo test`: 3 client processes × 20 s of faults
//! against a test-service process that is killed and restarted. `PSYNC_CHAOS_SEED=<n>`
//! reproduces a printed seed; `cargo xtask soak` runs long.

use std::time::Duration;

use psync_chaos::orchestrator::{Config, run};
use psync_chaos::rng::Rng;
use psync_chaos::service_process::workspace_binary;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_run_loses_nothing_and_converges() {
    let seed = std::env::var("PSYNC_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(Rng::fresh_seed);
    eprintln!("psync-chaos short run: seed {seed} (reproduce with PSYNC_CHAOS_SEED={seed})");
    let config = Config {
        clients: 3,
        duration: Duration::from_secs(20),
        seed,
        client_bin: env!("CARGO_BIN_EXE_psync-chaos-client").into(),
        service_bin: workspace_binary(
            "psync-test-service",
            "psync-test-service",
            "PSYNC_TEST_SERVICE_BIN",
        )
        .expect("the psync-test-service binary"),
        max_rows: 30,
        health_every: Duration::from_secs(5),
        verbose: false,
    };
    let summary = run(config).await.expect("the run completes");
    eprintln!("{}", summary.line());
    assert!(
        summary.acknowledged > 100,
        "too few writes: {}",
        summary.line()
    );
    assert!(
        summary.client_kills + summary.service_restarts > 0,
        "no kills: {}",
        summary.line()
    );
    assert!(
        summary.passed(),
        "seed {seed} failed: {}\n{:#?}\n{:#?}",
        summary.line(),
        summary.violations,
        summary.client_failures
    );
}
