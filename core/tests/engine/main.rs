// SPDX-License-Identifier: Apache-2.0
//! psync-core's integration tests, one binary (one link, one process start): storage format,
//! migrations and fixtures, local writes, the sync engine's input handling, batching, floors
//! and fuzzing, query plans, and `psync-shell`. The sync *scenarios* are not here: they are the
//! JSON sequences in `tests/sequences/`, checked on our core and diffed against the reference
//! core by `tests/reference`.

mod crud;
mod deleted_file;
mod fixtures;
mod gate;
mod migrations;
mod query_plans;
mod schema;
mod shell;
mod sync_bad_input;
mod sync_batching;
mod sync_clock;
mod sync_fuzz;
mod sync_input;
mod sync_migration_floor;
mod sync_request_floor;
