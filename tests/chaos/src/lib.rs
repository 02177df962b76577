// SPDX-License-Identifier: Apache-2.0
//! A randomized multi-client fault suite (see `tests/chaos/README.md`): client processes
//! writing through a faulty loopback proxy to a test-service process that is killed and
//! restarted, with the invariants checked during and after the run.

pub mod ack_log;
pub mod checks;
pub mod client;
pub mod clients;
pub mod faults;
pub mod health;
pub mod orchestrator;
pub mod rng;
pub mod service_process;
pub mod summary;
