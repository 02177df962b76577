// SPDX-License-Identifier: Apache-2.0
//! The public error of the bindings and the one place core errors are mapped to it.
//!
//! Variants are few and stable; their text never carries row data, SQL values or tokens
//! (core guarantees that for its messages, and the callback variant only carries the
//! host's own error text). Kotlin sees `SyncException`, Swift `SyncError`, Python
//! `SyncError` subclasses; `Display` is exported so `message`/`description`/`str()` read well.

use psync_core::{Error as CoreError, ErrorKind as CoreErrorKind};

/// An error reported by the psync SDK.
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[psync_ffi_macros::export(Display)]
pub enum SyncError {
    /// The database was closed; every call after `close()` fails with this.
    #[error("the database is closed")]
    Closed,
    /// An argument was rejected (wrong type, out of range, or an invalid schema).
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// What was wrong, without the offending value.
        reason: String,
    },
    /// SQLite or the database file reported an error.
    #[error("database error: {reason}")]
    Database {
        /// The SQLite error text or storage problem.
        reason: String,
    },
    /// Syncing with the service failed (protocol violation or invalid state).
    #[error("sync error: {reason}")]
    Sync {
        /// What went wrong.
        reason: String,
    },
    /// The app's `BackendConnector` failed to upload local changes or fetch credentials.
    #[error("connector error: {reason}")]
    Connector {
        /// The host error's text.
        reason: String,
    },
    /// A wait ran out of time.
    #[error("timed out")]
    Timeout,
}

impl From<CoreError> for SyncError {
    fn from(error: CoreError) -> Self {
        // Decide here what reaches the host: only the core's own (PII-free) messages.
        match error.into_kind() {
            CoreErrorKind::Closed => SyncError::Closed,
            CoreErrorKind::InvalidArgument(reason) | CoreErrorKind::InvalidSchema(reason) => {
                SyncError::InvalidArgument { reason }
            }
            kind @ (CoreErrorKind::Sqlite(_)
            | CoreErrorKind::Json(_)
            | CoreErrorKind::Storage(_)
            | CoreErrorKind::Io(_)) => SyncError::Database {
                reason: kind.to_string(),
            },
            kind @ (CoreErrorKind::Protocol(_) | CoreErrorKind::State(_)) => SyncError::Sync {
                reason: kind.to_string(),
            },
            // `ErrorKind` is non-exhaustive: new kinds surface as sync errors until mapped.
            kind => SyncError::Sync {
                reason: kind.to_string(),
            },
        }
    }
}

/// A host callback threw or returned something UniFFI could not read. Without this
/// conversion such a failure would panic instead of surfacing as an error.
impl From<uniffi::UnexpectedUniFFICallbackError> for SyncError {
    fn from(error: uniffi::UnexpectedUniFFICallbackError) -> Self {
        SyncError::Connector {
            reason: error.reason,
        }
    }
}

/// Result alias of the bindings.
pub(crate) type Result<T, E = SyncError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_core_error_maps_to_closed() {
        assert!(matches!(
            SyncError::from(CoreError::closed()),
            SyncError::Closed
        ));
    }

    #[test]
    fn invalid_schema_maps_to_invalid_argument_with_reason() {
        let mapped = SyncError::from(CoreError::invalid_schema("duplicate table"));
        assert_eq!(mapped.to_string(), "invalid argument: duplicate table");
    }

    #[test]
    fn protocol_error_maps_to_sync() {
        let mapped = SyncError::from(CoreError::protocol("bad line"));
        assert!(matches!(mapped, SyncError::Sync { .. }));
    }

    #[test]
    fn unexpected_callback_error_maps_to_connector() {
        let mapped = SyncError::from(uniffi::UnexpectedUniFFICallbackError::new("boom"));
        assert_eq!(mapped.to_string(), "connector error: boom");
    }
}
