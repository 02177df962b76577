// SPDX-License-Identifier: Apache-2.0
//! Host-implemented listener traits.

/// Receives a watched query's rows. Implemented by the host.
///
/// Called on a psync thread with the rows right away, then after every commit that changes
/// a table the query reads, one call at a time.
#[psync_ffi_macros::export(foreign)]
pub trait QueryListener: Send + Sync + std::fmt::Debug {
    /// The query's current rows.
    fn on_update(&self, rows: Vec<crate::value::Row>);
}

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
