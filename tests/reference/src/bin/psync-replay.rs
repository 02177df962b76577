// SPDX-License-Identifier: Apache-2.0
//! `psync-replay <sequence.json> [reference|ours]`: replays one sequence and prints each step's
//! result, expectation failures and the final state. A debugging aid for writing sequences.
//! `psync-replay seed:<n> [core]` replays the generated sequence for seed `n` (80 steps), as the
//! differential test does; `PSYNC_REPLAY_SAVE=<file>` also writes that sequence as JSON.

use std::path::Path;
use std::process::ExitCode;

use psync_reference::runner::{Core, check_expectations, replay};
use psync_reference::sequence::Sequence;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(file) = args.first() else {
        eprintln!("usage: psync-replay <sequence.json> [reference|ours]");
        return ExitCode::from(2);
    };
    let core = match args.get(1).map(String::as_str) {
        Some("ours") => Core::Ours,
        _ => Core::Reference,
    };
    let loaded = match file.strip_prefix("seed:").map(str::parse::<u64>) {
        Some(Ok(seed)) => Ok(psync_reference::generator::generate(seed, 80)),
        Some(Err(e)) => Err(format!("bad seed: {e}")),
        None => Sequence::load(Path::new(file)),
    };
    if let (Ok(sequence), Some(save)) = (&loaded, std::env::var_os("PSYNC_REPLAY_SAVE")) {
        let text = serde_json::to_string_pretty(&sequence.to_json()).unwrap_or_default();
        if let Err(e) = std::fs::write(save, text + "\n") {
            eprintln!("cannot save: {e}");
        }
    }
    let sequence = match loaded {
        Ok(sequence) => sequence,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let recording = match replay(core, &sequence) {
        Ok(recording) => recording,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    for (index, setup) in recording.setup.iter().enumerate() {
        eprintln!("setup {index}: {setup}");
    }
    for (index, (step, result)) in sequence.steps.iter().zip(&recording.steps).enumerate() {
        let step_text: String = step.to_json().to_string().chars().take(200).collect();
        eprintln!("#{index} {step_text}\n    => {result}");
    }
    eprintln!(
        "final: {}",
        serde_json::to_string_pretty(&recording.final_state).unwrap_or_default()
    );
    let failures = check_expectations(&sequence, &recording);
    for failure in &failures {
        eprintln!("EXPECTATION FAILED: {failure}");
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
