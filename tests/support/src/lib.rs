// SPDX-License-Identifier: Apache-2.0
//! Test support shared by the workspace's test suites (one home, no copies):
//!
//! - [`paths`]: the repository's fixture and sequence folders, found from this crate's
//!   manifest (never outside the repository);
//! - [`wait`] (feature `wait`): condition waits; tests wait for what they expect, never for a
//!   fixed time;
//! - [`engine`] (feature `engine`): a bare SQLite connection with the core's SQL functions,
//!   sync-command helpers and state dumps, for psync-core's integration tests;
//! - [`reference`] (feature `reference`): the real PowerSync cores loaded into rusqlite;
//! - [`rng`]: the seeded generators of the fuzzers, generated sequences and chaos runs;
//! - [`proxy`] (feature `proxy`): the loopback TCP proxy with fault modes, TLS termination and
//!   connection counting;
//! - [`client`] (feature `client`): sync-client helpers and connector doubles against the
//!   embedded test service.
//!
//! Only integration tests and test tools use this crate: psync-core's own unit tests cannot
//! (psync-core is a dependency of this crate).

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "engine")]
pub mod engine;
pub mod paths;
#[cfg(feature = "proxy")]
pub mod proxy;
#[cfg(feature = "reference")]
pub mod reference;
pub mod rng;
#[cfg(feature = "wait")]
pub mod wait;
