// SPDX-License-Identifier: Apache-2.0
//! Differential test: every hand-written sequence (`tests/sequences/*.json`) and a set of seeded
//! random sequences are replayed into the reference core 0.5.3 and into ours; step results and
//! final states must be equal up to the deliberate differences of `docs/differences.md`.
//!
//! `tests/sequences/known-mismatches.txt` lists sequences known to differ (bugs being fixed):
//! they are reported but do not fail the test; a listed sequence that now matches fails it, so
//! the list is kept current. A full report is written to
//! `target/tmp/differential-report.txt`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use psync_reference::allowed::compare_recordings;
use psync_reference::generator::generate;
use psync_reference::runner::{Core, replay};
use psync_reference::sequence::{load_dir, sequences_dir};

/// Seeds of the random sequences compared (same range as the validity test);
/// `PSYNC_DIFF_SEEDS=<n>` compares seeds `0..n` instead (deeper fuzzing, e.g. 1000).
const SEEDS: std::ops::Range<u64> = 0..40;
/// Steps per random sequence.
const RANDOM_LENGTH: usize = 80;

fn known_mismatches() -> BTreeSet<String> {
    let path = sequences_dir().join("known-mismatches.txt");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim().to_owned())
        .filter(|line| !line.is_empty())
        .collect()
}

#[test]
fn ours_matches_the_reference_on_every_sequence() {
    psync_reference::require_reference_core();
    let mut sequences = load_dir(&sequences_dir()).expect("sequences load");
    let seeds = std::env::var("PSYNC_DIFF_SEEDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .map_or(SEEDS, |n| 0..n);
    sequences.extend(seeds.map(|seed| generate(seed, RANDOM_LENGTH)));
    let known = known_mismatches();

    let mut report = String::new();
    let mut passed = Vec::new();
    let mut failed = Vec::new();
    let mut not_compared_steps = 0;
    let mut rules_used = BTreeSet::new();
    for sequence in &sequences {
        let reference = replay(Core::Reference, sequence).expect("reference replay runs");
        let ours = match replay(Core::Ours, sequence) {
            Ok(ours) => ours,
            Err(e) => {
                let _ = writeln!(report, "## {} — ours could not run: {e}\n", sequence.name);
                failed.push(sequence.name.clone());
                continue;
            }
        };
        let comparison = compare_recordings(sequence, &reference, &ours);
        rules_used.extend(comparison.used);
        if let Some(step) = comparison.diverged_at {
            let skipped = sequence.steps.len() - step;
            not_compared_steps += skipped;
            let _ = writeln!(
                report,
                "## {} — deliberate divergence (D2 seed floor) at step {step}; {skipped} steps not compared\n",
                sequence.name
            );
        }
        let mismatches = comparison.mismatches;
        if mismatches.is_empty() {
            passed.push(sequence.name.clone());
            continue;
        }
        failed.push(sequence.name.clone());
        let _ = writeln!(
            report,
            "## {} ({} mismatches)",
            sequence.name,
            mismatches.len()
        );
        for mismatch in mismatches.iter().take(12) {
            let _ = writeln!(report, "{mismatch}");
        }
        if mismatches.len() > 12 {
            let _ = writeln!(report, "  … {} more", mismatches.len() - 12);
        }
        let _ = writeln!(report);
    }

    let failed_set: BTreeSet<String> = failed.iter().cloned().collect();
    let unexpected: Vec<&String> = failed
        .iter()
        .filter(|name| !known.contains(*name))
        .collect();
    let fixed: Vec<&String> = known
        .iter()
        .filter(|name| !failed_set.contains(*name) && passed.contains(name))
        .collect();
    let summary = format!(
        "differential: {} sequences, {} match, {} differ ({} not in known-mismatches.txt), \
         {} known mismatches now pass; allowed differences used: {:?}; \
         {not_compared_steps} steps after a D2 divergence not compared\n",
        sequences.len(),
        passed.len(),
        failed.len(),
        unexpected.len(),
        fixed.len(),
        rules_used,
    );
    let report = format!("{summary}\n{report}");
    let report_path =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("differential-report.txt");
    let _ = std::fs::write(&report_path, &report);
    eprintln!("{summary}(report: {})", report_path.display());
    assert!(
        unexpected.is_empty(),
        "ours differs from the reference core 0.5.3:\n\n{report}"
    );
    assert!(
        fixed.is_empty(),
        "these sequences now match; remove them from tests/sequences/known-mismatches.txt: {fixed:?}"
    );
}

/// The generated histories are only worth diffing if their checkpoints validate: the
/// generator computes every bucket checksum itself (CLEAR and MOVE included), so a mismatch
/// here is a generator bug that would turn every apply into an identical failure on both sides.
#[test]
fn generated_histories_apply_their_checkpoints() {
    let mut applied = 0;
    let mut ops = std::collections::BTreeMap::new();
    for seed in SEEDS {
        let sequence = generate(seed, RANDOM_LENGTH);
        let text = sequence.to_json().to_string();
        for kind in [
            "MOVE",
            "CLEAR",
            "REMOVE",
            "subkey",
            "line_binary",
            "\"other\"",
        ] {
            *ops.entry(kind).or_insert(0) += text.matches(kind).count();
        }
        let recording = replay(Core::Ours, &sequence).expect("replay runs");
        let steps = serde_json::Value::Array(recording.steps).to_string();
        assert!(
            !steps.contains("Checksums didn't match"),
            "{}: a generated checkpoint failed validation",
            sequence.name
        );
        applied += steps.matches("Validated and applied checkpoint").count();
    }
    assert!(applied >= 20, "only {applied} checkpoints applied");
    assert!(ops.values().all(|&n| n > 0), "op kinds generated: {ops:?}");
}
