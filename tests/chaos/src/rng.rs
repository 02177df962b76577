// SPDX-License-Identifier: Apache-2.0
//! The run's seeded generator (SplitMix64, shared test support): a run is reproduced from its
//! printed seed alone.

pub use psync_test_support::rng::SplitMix64 as Rng;
