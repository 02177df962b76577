// SPDX-License-Identifier: Apache-2.0
//! `cargo xtask bench`: one table comparing the official PowerSync Node.js client, the
//! reference core (engine alone), our engine, the psync Rust and Python clients and plain
//! SQLite (bench/README.md explains every row).
//!
//! * The engine sides run the `initial_sync` bench of `psync-reference` (synthetic lines from
//!   a file, one process per run); its `SUMMARY` lines are merged here.
//! * The client sides (`official`, `rust`, `python`) sync from a `psync-test-service` process
//!   seeded with N `lists` rows: connect → all rows queryable, then sequential checkpoint
//!   requests → synced; and 10k local inserts three ways on a fresh, unconnected database.
//!   Every task runs in a fresh process with an empty database file, sides alternating run by
//!   run; medians.
//!
//! Environment: `PSYNC_BENCH_SIZES=10000,100000` (rows), `PSYNC_BENCH_SIDES=official,rust`
//! (of `official,reference,engine-line,engine,rust,python,plain`), `PSYNC_BENCH_RUNS` (runs per
//! size; default 3 up to 100k rows, 1 above), `PSYNC_BENCH_REQUESTS` (checkpoint requests per
//! sync run, default 1000), `PSYNC_BENCH_WRITES` (rows per write task, default 10000; 0 skips
//! the write tasks).

mod peer;
mod python;
mod service;
mod table;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use crate::bindings::Layout;
use crate::{REFERENCE_ENV, reference_core, repo_root, run};

use peer::Peer;
use python::PythonSide;
use service::Service;

/// One side of the comparison.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum Side {
    Official,
    Reference,
    EngineLine,
    Engine,
    Rust,
    Python,
    Plain,
}

impl Side {
    const ALL: [Side; 7] = [
        Side::Official,
        Side::Reference,
        Side::EngineLine,
        Side::Engine,
        Side::Rust,
        Side::Python,
        Side::Plain,
    ];

    fn name(self) -> &'static str {
        match self {
            Side::Official => "official",
            Side::Reference => "reference",
            Side::EngineLine => "engine-line",
            Side::Engine => "engine",
            Side::Rust => "rust",
            Side::Python => "python",
            Side::Plain => "plain",
        }
    }

    /// The side's name in the `initial_sync` bench, for the engine sides.
    fn engine_bench_name(self) -> Option<&'static str> {
        match self {
            Side::Reference => Some("reference"),
            Side::EngineLine => Some("ours-per-line"),
            Side::Engine => Some("ours"),
            Side::Plain => Some("plain"),
            _ => None,
        }
    }

    fn is_client(self) -> bool {
        matches!(self, Side::Official | Side::Rust | Side::Python)
    }
}

/// What a run measured.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum Task {
    /// Initial sync of this many rows (then checkpoint requests, for the client sides).
    Sync(usize),
    /// Local inserts: `single`, `transaction` or `batch`.
    Write(&'static str),
}

/// `key=value` fields of one run (the sides' `RESULT` line; `load1` added here).
pub(crate) type Fields = BTreeMap<String, f64>;

/// Every run's fields, or the error of the run that failed.
#[derive(Default)]
pub(crate) struct Results {
    pub(crate) runs: BTreeMap<(Side, Task), Vec<Fields>>,
    pub(crate) failures: BTreeMap<(Side, Task), String>,
}

pub(crate) struct Config {
    pub(crate) sizes: Vec<usize>,
    pub(crate) sides: Vec<Side>,
    runs: Option<usize>,
    requests: usize,
    pub(crate) writes: usize,
}

pub(crate) const WRITE_KINDS: [&str; 3] = ["single", "transaction", "batch"];

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(default)
}

impl Config {
    fn from_env() -> Result<Self, String> {
        let sizes = match std::env::var("PSYNC_BENCH_SIZES") {
            Ok(text) => text
                .split(',')
                .map(|n| n.trim().replace('_', "").parse())
                .collect::<Result<_, _>>()
                .map_err(|e| format!("PSYNC_BENCH_SIZES={text}: {e}"))?,
            Err(_) => vec![10_000, 100_000, 1_000_000],
        };
        let sides = match std::env::var("PSYNC_BENCH_SIDES") {
            Ok(text) => text
                .split(',')
                .map(|name| {
                    Side::ALL
                        .into_iter()
                        .find(|side| side.name() == name.trim())
                        .ok_or(format!("PSYNC_BENCH_SIDES: unknown side {name:?}"))
                })
                .collect::<Result<_, _>>()?,
            Err(_) => Side::ALL.to_vec(),
        };
        Ok(Self {
            sizes,
            sides,
            runs: std::env::var("PSYNC_BENCH_RUNS")
                .ok()
                .and_then(|v| v.parse().ok()),
            requests: env_number("PSYNC_BENCH_REQUESTS", 1000),
            writes: env_number("PSYNC_BENCH_WRITES", 10_000),
        })
    }

    fn runs_for(&self, rows: usize) -> usize {
        self.runs
            .unwrap_or(if rows <= 100_000 { 3 } else { 1 })
            .max(1)
    }
}

/// The one-minute load average now (the machine is shared; every run records it).
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

pub(crate) fn bench() -> Result<(), String> {
    let config = Config::from_env()?;
    let mut results = Results::default();
    let started_load = load_average();
    run_engine_sides(&config, &mut results)?;
    run_client_sides(&config, &mut results)?;
    let mut stdout = std::io::stdout();
    table::print(&mut stdout, &config, &results, started_load)
        .map_err(|e| format!("print the table: {e}"))
}

/// The `initial_sync` bench for the engine sides; parses its `SUMMARY` lines.
fn run_engine_sides(config: &Config, results: &mut Results) -> Result<(), String> {
    let names: Vec<&str> = config
        .sides
        .iter()
        .filter_map(|s| s.engine_bench_name())
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let reference = reference_core()?;
    let sizes: Vec<String> = config.sizes.iter().map(usize::to_string).collect();
    let load = load_average();
    eprintln!("==> engine sides {} (load {load:.2})", names.join(","));
    let output = Command::new("cargo")
        .args(["bench", "-p", "psync-reference", "--bench", "initial_sync"])
        .env(REFERENCE_ENV, &reference)
        .env("PSYNC_BENCH_SIZES", sizes.join(","))
        .env("PSYNC_BENCH_SIDES", names.join(","))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not start cargo bench: {e}"))?;
    if !output.status.success() {
        return Err(format!("the engine bench failed ({})", output.status));
    }
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Some(summary) = line.strip_prefix("SUMMARY ") else {
            continue;
        };
        let parts: Vec<&str> = summary.split_whitespace().collect();
        let [name, rows, seconds, peak_kib] = parts[..] else {
            return Err(format!("bad SUMMARY line: {line}"));
        };
        let side = config
            .sides
            .iter()
            .copied()
            .find(|s| s.engine_bench_name() == Some(name))
            .ok_or(format!("SUMMARY of an unknown side: {line}"))?;
        let number = |text: &str| text.parse::<f64>().map_err(|e| format!("{line}: {e}"));
        let rows: usize = rows.parse().map_err(|e| format!("{line}: {e}"))?;
        let fields = Fields::from([
            ("initial_sync_s".to_owned(), number(seconds)?),
            ("peak_rss_kib".to_owned(), number(peak_kib)?),
            ("load1".to_owned(), load),
        ]);
        results
            .runs
            .entry((side, Task::Sync(rows)))
            .or_default()
            .push(fields);
    }
    Ok(())
}

/// How to start each client side.
struct Clients {
    peer: Option<Peer>,
    python: Option<PythonSide>,
    rust: std::path::PathBuf,
    service: std::path::PathBuf,
}

impl Clients {
    fn prepare(sides: &[Side]) -> Result<Self, String> {
        run(
            "cargo",
            &[
                "build",
                "--release",
                "-p",
                "psync-test-service",
                "-p",
                "psync-demo",
                "--bin",
                "psync-test-service",
                "--bin",
                "psync-bench-side",
            ],
        )?;
        let release = Layout::new()?.target.join("release");
        let root = repo_root()?;
        Ok(Self {
            peer: if sides.contains(&Side::Official) {
                Some(Peer::install(&root)?)
            } else {
                None
            },
            python: if sides.contains(&Side::Python) {
                Some(PythonSide::install()?)
            } else {
                None
            },
            rust: release.join("psync-bench-side"),
            service: release.join("psync-test-service"),
        })
    }

    fn command(&self, side: Side) -> Result<Command, String> {
        match side {
            Side::Official => Ok(self.peer.as_ref().ok_or("peer not installed")?.command()),
            Side::Python => Ok(self.python.as_ref().ok_or("wheel not built")?.command()),
            Side::Rust => Ok(Command::new(&self.rust)),
            _ => Err(format!("{side:?} is not a client side")),
        }
    }

    /// One task in a fresh process: its `RESULT` fields plus the load when it started.
    fn run(&self, side: Side, args: &[String]) -> Result<Fields, String> {
        let load = load_average();
        eprintln!("--> {} {} (load {load:.2})", side.name(), args.join(" "));
        let output = self
            .command(side)?
            .args(args)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("could not start the {} side: {e}", side.name()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let result = stdout
            .lines()
            .find_map(|line| line.strip_prefix("RESULT "))
            .filter(|_| output.status.success())
            .ok_or(format!(
                "{} {}: {}",
                side.name(),
                args.join(" "),
                output.status
            ))?;
        eprintln!("    {result}");
        let mut fields = Fields::from([("load1".to_owned(), load)]);
        for pair in result.split_whitespace() {
            let (key, value) = pair.split_once('=').ok_or(format!("bad field {pair}"))?;
            let value = value.parse().map_err(|e| format!("{pair}: {e}"))?;
            fields.insert(key.to_owned(), value);
        }
        Ok(fields)
    }
}

fn record(results: &mut Results, side: Side, task: Task, outcome: Result<Fields, String>) {
    match outcome {
        Ok(fields) => results.runs.entry((side, task)).or_default().push(fields),
        Err(error) => {
            eprintln!("    failed: {error}");
            results.failures.insert((side, task), error);
        }
    }
}

fn run_client_sides(config: &Config, results: &mut Results) -> Result<(), String> {
    let sides: Vec<Side> = config
        .sides
        .iter()
        .copied()
        .filter(|s| s.is_client())
        .collect();
    if sides.is_empty() {
        return Ok(());
    }
    let clients = Clients::prepare(&sides)?;
    for &rows in &config.sizes {
        let service = Service::start(&clients.service)?;
        eprintln!("==> seeding {rows} rows into {}", service.url);
        service.seed(rows)?;
        let args = [
            "sync".to_owned(),
            service.url.clone(),
            rows.to_string(),
            config.requests.to_string(),
        ];
        // Sides alternate within each round so drift on a shared machine hits all of them.
        for _ in 0..config.runs_for(rows) {
            for &side in &sides {
                let outcome = clients.run(side, &args);
                record(results, side, Task::Sync(rows), outcome);
            }
        }
    }
    if config.writes == 0 {
        return Ok(());
    }
    for _ in 0..config.runs_for(config.writes) {
        for kind in WRITE_KINDS {
            for &side in &sides {
                let args = [
                    "write".to_owned(),
                    kind.to_owned(),
                    config.writes.to_string(),
                ];
                let outcome = clients.run(side, &args);
                record(results, side, Task::Write(kind), outcome);
            }
        }
    }
    Ok(())
}
