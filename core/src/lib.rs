// SPDX-License-Identifier: Apache-2.0
//! `psync-core`: an offline-first SQLite sync client that speaks the PowerSync protocol and
//! reads and writes the PowerSync storage format (core schema version 14).
//!
//! This crate knows nothing about FFI; `bindings/` wraps it for Swift, Kotlin and Python.
//!
//! Its modules are layers that only depend downwards (docs/adr/0005-layers.md, checked by the
//! `layers` test): [`storage`] (the storage format as a SQLite extension on one connection) →
//! [`db`] (the connection pool, which knows nothing of sync) → [`Database`] (the two composed)
//! → [`client`] (the async SDK: HTTP, upload, checkpoint requests, status). Apps use
//! [`Database`], [`schema`] and [`client`]; `storage` is public for tools and differential
//! tests that load the format into a connection of their own.

#[cfg(feature = "client")]
pub mod client;
mod database;
pub mod db;
mod error;
#[cfg(test)]
mod layers;
pub mod storage;
mod value;

pub use database::Database;
pub use db::{ExecuteResult, OpenOptions, TableListener, TableListenerHandle, Transaction};
pub use error::{Error, ErrorKind, Result};
pub use storage::schema;
pub use value::{Row, Value, param_sets_from_json};

/// This crate's version (the `User-Agent` sends it as `psync/<version>`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
