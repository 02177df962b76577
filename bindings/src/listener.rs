// SPDX-License-Identifier: Apache-2.0
//! Host-implemented listener traits.

/// Receives the names of tables changed by committed writes. Implemented by the host.
///
/// Called on a psync runtime thread, never while a psync lock is held, one call at a time
/// per subscription. Hop to your own executor/thread before touching UI state.
#[psync_ffi_macros::export(foreign)]
pub trait TableChangeListener: Send + Sync + std::fmt::Debug {
    /// Tables changed by one or more commits. Names are storage tables
    /// (`ps_data__<table>` for synced tables, `ps_crud` for the upload queue).
    fn on_update(&self, tables: Vec<String>);
}
