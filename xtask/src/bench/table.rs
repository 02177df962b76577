// SPDX-License-Identifier: Apache-2.0
//! The one table of `cargo xtask bench`: a row per measurement, a column per side, then how
//! many times better psync is than its counterpart.

use std::io::Write;

use super::{Config, Fields, Results, Side, Task, WRITE_KINDS};

fn label(side: Side) -> &'static str {
    match side {
        Side::Official => "@powersync/node 1.1.0",
        Side::Reference => "reference core 0.5.3 (engine)",
        Side::EngineLine => "psync engine, line per tx",
        Side::Engine => "psync engine, batched",
        Side::Rust => "psync Rust client",
        Side::Python => "psync Python client",
        Side::Plain => "plain SQLite",
    }
}

/// Ratio columns: (psync side, the side it is compared with).
const RATIOS: [(Side, Side); 3] = [
    (Side::Rust, Side::Official),
    (Side::Python, Side::Official),
    (Side::EngineLine, Side::Reference),
];

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

/// Reads a side's value from its runs (median over runs, or max for memory).
type Reader = Box<dyn Fn(&[Fields]) -> Option<f64>>;

/// One measurement: how to read it from a side's runs, and whether lower is better.
struct Metric {
    name: String,
    task: Task,
    /// The value of a side (median over runs, or max for memory), `None` when not measured.
    value: Reader,
    format: fn(f64) -> String,
    lower_is_better: bool,
}

fn field_median(runs: &[Fields], key: &str) -> Option<f64> {
    median(runs.iter().filter_map(|f| f.get(key).copied()).collect())
}

fn seconds(value: f64) -> String {
    if value < 1.0 {
        format!("{value:.3} s")
    } else {
        format!("{value:.2} s")
    }
}

fn metrics(config: &Config) -> Vec<Metric> {
    let mut metrics = Vec::new();
    for &rows in &config.sizes {
        metrics.push(Metric {
            name: format!("initial sync, {rows} rows"),
            task: Task::Sync(rows),
            value: Box::new(|runs| field_median(runs, "initial_sync_s")),
            format: seconds,
            lower_is_better: true,
        });
    }
    for &rows in &config.sizes {
        for (p, key) in [("p50", "checkpoint_p50_ms"), ("p99", "checkpoint_p99_ms")] {
            metrics.push(Metric {
                name: format!("checkpoint request → synced {p}, {rows} rows"),
                task: Task::Sync(rows),
                value: Box::new(move |runs| field_median(runs, key)),
                format: |ms| format!("{ms:.2} ms"),
                lower_is_better: true,
            });
        }
    }
    for &rows in &config.sizes {
        metrics.push(Metric {
            name: format!("peak RSS, {rows} rows"),
            task: Task::Sync(rows),
            value: Box::new(|runs| {
                runs.iter()
                    .filter_map(|f| f.get("peak_rss_kib").copied())
                    .reduce(f64::max)
                    .map(|kib| kib / 1024.0)
            }),
            format: |mib| format!("{mib:.0} MiB"),
            lower_is_better: true,
        });
    }
    if config.writes > 0 {
        let writes = config.writes as f64;
        for kind in WRITE_KINDS {
            let name = match kind {
                "single" => "one `execute` per row",
                "transaction" => "one transaction",
                _ => "one batch statement",
            };
            metrics.push(Metric {
                name: format!("{} inserts, {name} (rows/s)", config.writes),
                task: Task::Write(kind),
                value: Box::new(move |runs| field_median(runs, "seconds").map(|s| writes / s)),
                format: |rate| format!("{rate:.0}"),
                lower_is_better: false,
            });
        }
    }
    metrics
}

pub(crate) fn print(
    out: &mut impl Write,
    config: &Config,
    results: &Results,
    started_load: f64,
) -> std::io::Result<()> {
    let ratios: Vec<(Side, Side)> = RATIOS
        .into_iter()
        .filter(|(ours, theirs)| config.sides.contains(ours) && config.sides.contains(theirs))
        .collect();
    write!(out, "\n| measurement |")?;
    for &side in &config.sides {
        write!(out, " {} |", label(side))?;
    }
    for (ours, theirs) in &ratios {
        write!(out, " {} vs {} |", label(*ours), label(*theirs))?;
    }
    write!(out, "\n|---|")?;
    for _ in config.sides.iter().chain(ratios.iter().map(|(s, _)| s)) {
        write!(out, "---:|")?;
    }
    writeln!(out)?;
    for metric in metrics(config) {
        let value = |side: Side| {
            let runs = results.runs.get(&(side, metric.task.clone()))?;
            (metric.value)(runs)
        };
        write!(out, "| {} |", metric.name)?;
        for &side in &config.sides {
            let failed = results.failures.contains_key(&(side, metric.task.clone()));
            match value(side) {
                Some(v) if !failed => write!(out, " {} |", (metric.format)(v))?,
                _ if failed => write!(out, " failed |")?,
                _ => write!(out, " |")?,
            }
        }
        for (ours, theirs) in &ratios {
            match (value(*ours), value(*theirs)) {
                (Some(o), Some(t)) if o > 0.0 && t > 0.0 => {
                    let better = if metric.lower_is_better { t / o } else { o / t };
                    write!(out, " {better:.1}× |")?;
                }
                _ => write!(out, " |")?,
            }
        }
        writeln!(out)?;
    }
    let loads: Vec<f64> = results
        .runs
        .values()
        .flatten()
        .filter_map(|f| f.get("load1").copied())
        .chain([started_load])
        .collect();
    let low = loads.iter().copied().fold(f64::INFINITY, f64::min);
    let high = loads.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    writeln!(
        out,
        "\nRatios: how many times better psync is (time, latency, memory: theirs ÷ ours; \
         rows/s: ours ÷ theirs). Medians of {} runs per size up to 100k rows, {} above; peak \
         RSS is the highest run. 1-minute load average at the starts of the runs: \
         {low:.2}–{high:.2}.",
        config.runs_for(100_000),
        config.runs_for(1_000_000),
    )?;
    for ((side, task), error) in &results.failures {
        writeln!(out, "{} {task:?} failed: {error}", label(*side))?;
    }
    Ok(())
}
