// SPDX-License-Identifier: Apache-2.0
//! A small PowerSync-compatible sync service for tests and demos.
//!
//! It speaks the client-facing protocol (`/sync/stream` in ndjson or BSON,
//! `/sync/checkpoint-request`, `/write-checkpoint2.json`), mints dev HS256 tokens, accepts
//! uploads into a source SQLite database, replicates source changes into buckets, and lets
//! tests inject faults or script streams line by line. See `tests/service/README.md`.

pub mod admin;
pub mod auth;
pub mod checksum;
pub mod config;
pub mod encode;
pub mod error;
pub mod faults;
pub mod persist;
pub mod routes;
pub mod script;
pub mod service;
pub mod source;
pub mod store;
pub mod stream;
pub mod subscriptions;
pub mod validate;

pub use config::{
    BucketDefinition, ParameterSource, ServiceOptions, StreamDefinition, StreamFilter, SyncConfig,
    TableConfig,
};
pub use encode::Format;
pub use faults::Faults;
pub use script::ScriptedStream;
pub use service::{BackgroundService, Builder, Scripted, SourceGuard, TestService};
