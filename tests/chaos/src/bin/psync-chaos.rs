// SPDX-License-Identifier: Apache-2.0
//! `psync-chaos [--clients N] [--seconds S] [--seed SEED] [--max-rows N] [--quiet]`: one run of
//! the fault suite; prints the seed first and a summary line last; exits 1 when a check failed.
#![allow(clippy::print_stdout)]

use std::time::Duration;

use psync_chaos::orchestrator::{Config, run};
use psync_chaos::rng::Rng;
use psync_chaos::service_process::workspace_binary;

fn parse() -> Result<Config, String> {
    let mut config = Config {
        clients: 3,
        duration: Duration::from_secs(20),
        seed: Rng::fresh_seed(),
        client_bin: workspace_binary(
            "psync-chaos-client",
            "psync-chaos",
            "PSYNC_CHAOS_CLIENT_BIN",
        )
        .map_err(|e| e.to_string())?,
        service_bin: workspace_binary(
            "psync-test-service",
            "psync-test-service",
            "PSYNC_TEST_SERVICE_BIN",
        )
        .map_err(|e| e.to_string())?,
        max_rows: 30,
        health_every: Duration::from_secs(5),
        verbose: true,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut number = || -> Result<u64, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{flag} needs a number"))
        };
        match flag.as_str() {
            "--clients" => config.clients = number()? as usize,
            "--seconds" => config.duration = Duration::from_secs(number()?),
            "--seed" => config.seed = number()?,
            "--max-rows" => config.max_rows = number()? as usize,
            "--quiet" => config.verbose = false,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(config)
}

#[tokio::main]
async fn main() {
    let config = match parse() {
        Ok(config) => config,
        Err(problem) => {
            eprintln!(
                "psync-chaos: {problem}\nusage: psync-chaos [--clients N] [--seconds S] [--seed SEED] [--max-rows N] [--quiet]"
            );
            std::process::exit(2);
        }
    };
    println!(
        "psync-chaos: seed {} (reproduce with --seed {0})",
        config.seed
    );
    match run(config).await {
        Ok(summary) => {
            println!("{}", summary.line());
            for problem in summary.violations.iter().chain(&summary.client_failures) {
                println!("  {problem}");
            }
            if !summary.passed() {
                println!("FAILED");
                std::process::exit(1);
            }
        }
        Err(e) => {
            println!("psync-chaos: run failed: {e}");
            std::process::exit(1);
        }
    }
}
