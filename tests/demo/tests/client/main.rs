// SPDX-License-Identifier: Apache-2.0
//! The sync client end to end over loopback against the embedded test service, in one binary
//! (one link): sync and upload, checkpoint requests, request shape, bulk sync, TLS, dropping,
//! the per-file sync lock, and opening databases written by the real PowerSync cores.

/// The shared helpers (`psync-test-support`), under the name the test files import them by.
mod common {
    pub use psync_test_support::client::*;
    pub use psync_test_support::proxy;
    pub use psync_test_support::wait::*;
}

mod client_bulk;
mod client_checkpoints;
mod client_drop;
mod client_e2e;
mod client_request_shape;
mod client_streams;
mod client_surface;
mod client_sync_lock;
mod client_tls;
mod fixture_migration;
