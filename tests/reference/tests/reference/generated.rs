// SPDX-License-Identifier: Apache-2.0
//! Sanity of the randomised sequences on the reference core: the synthetic service model must
//! produce valid protocol traffic (every checksum validates, no unexpected errors), otherwise
//! differential runs would mostly compare error paths.

use psync_reference::generator::generate;
use psync_reference::runner::{Core, replay};

/// Seeds replayed by the generated-sequence tests (also used by the differential test).
const SEEDS: std::ops::Range<u64> = 0..40;

#[test]
fn generated_sequences_are_valid_protocol_traffic_on_the_reference() {
    psync_reference::require_reference_core();
    let mut applied = 0;
    let mut problems = Vec::new();
    for seed in SEEDS {
        let sequence = generate(seed, 80);
        let recording = replay(Core::Reference, &sequence).expect("replay runs");
        for (index, result) in recording.steps.iter().enumerate() {
            let text = result.to_string();
            if text.contains("Checksums didn't match") {
                problems.push(format!(
                    "{}: step {index}: checksum failure {text}",
                    sequence.name
                ));
            }
            if result.get("error").is_some() {
                problems.push(format!("{}: step {index}: {text}", sequence.name));
            }
            if text.contains("Validated and applied checkpoint") {
                applied += 1;
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        applied > 20,
        "too few applied checkpoints ({applied}); the model is too timid"
    );
}
