// SPDX-License-Identifier: Apache-2.0
//! Our core against the reference PowerSync core 0.5.3, in one binary (one link): the scenario
//! sequences (spec expectations on both cores, step-by-step diff), generated histories, and
//! crash safety.

mod crash_safety;
mod differential;
mod generated;
mod spec_sequences;
