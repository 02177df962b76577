// SPDX-License-Identifier: Apache-2.0
//! `psync-core`: an offline-first SQLite sync client that speaks the PowerSync protocol and
//! reads and writes the PowerSync storage format (core schema version 14).
//!
//! This crate knows nothing about FFI; `bindings/` wraps it for Swift, Kotlin and Python.

pub mod client;
pub mod crud;
pub mod db;
pub mod error;
pub mod ext;
#[doc(hidden)]
pub mod hot_statements;
pub mod kv;
pub mod migrations;
pub mod schema;
pub mod state;
pub mod sync;

pub use db::{Database, OpenOptions, Row, Value};
pub use error::{Error, ErrorKind, Result};
