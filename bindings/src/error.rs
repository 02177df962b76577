// SPDX-License-Identifier: Apache-2.0
//! The public error of the bindings and the one place core errors are mapped to it.
//!
//! Variants are few and stable; their text never carries row data, SQL values or tokens
//! (core guarantees that for its messages, and the callback variant only carries the
//! host's own error text). Kotlin sees `SyncException`, Swift `SyncError`, Python
//! `SyncError` subclasses; `Display` is exported so `message`/`description`/`str()` read well.

use psync_core::client::CheckpointError as CoreCheckpointError;
use psync_core::{Error as CoreError, ErrorKind as CoreErrorKind};

/// An error reported by the psync SDK.
///
/// One variant per outcome a host branches on: the `request_checkpoint` outcomes
/// (`NotConnected`, `CheckpointNotSupported`, `Unauthenticated`, `Timeout`, `Closed`) and the
/// database error families (`Constraint`, `Busy`, `NoRows`, `Sql`, `Database`).
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
    /// A constraint (`UNIQUE`, `NOT NULL`, `CHECK`, foreign key) rejected a write.
    #[error("constraint failed: {reason}")]
    Constraint {
        /// SQLite's text naming the constraint.
        reason: String,
    },
    /// The database file stayed locked by another connection or process past the busy
    /// timeout.
    #[error("database busy: {reason}")]
    Busy {
        /// SQLite's text.
        reason: String,
    },
    /// `get` found no row.
    #[error("the query returned no rows")]
    NoRows,
    /// SQLite rejected the statement: a syntax error, an unknown table or column, or the
    /// wrong number of parameters.
    #[error("sql error: {reason}")]
    Sql {
        /// SQLite's text.
        reason: String,
    },
    /// Any other SQLite or storage error (corrupt or unreadable file, I/O, full disk).
    #[error("database error: {reason}")]
    Database {
        /// The SQLite error text or storage problem.
        reason: String,
    },
    /// `request_checkpoint` (or a wait) needs an active `connect()`.
    #[error("not connected")]
    NotConnected,
    /// The service does not support checkpoint requests (it answered 404), or the client
    /// connected in legacy checkpoint mode.
    #[error("the sync service does not support checkpoint requests")]
    CheckpointNotSupported,
    /// The service rejected the credentials (they are invalidated and fetched again).
    #[error("unauthenticated: {reason}")]
    Unauthenticated {
        /// The service's message.
        reason: String,
    },
    /// Syncing with the service failed (network, protocol violation, invalid state, or a
    /// download/upload error while waiting for a checkpoint).
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
            CoreErrorKind::Sqlite(error) => from_sqlite(error),
            kind @ (CoreErrorKind::Json(_) | CoreErrorKind::Storage(_) | CoreErrorKind::Io(_)) => {
                SyncError::Database {
                    reason: kind.to_string(),
                }
            }
            kind @ (CoreErrorKind::Network(_)
            | CoreErrorKind::Protocol(_)
            | CoreErrorKind::State(_)) => SyncError::Sync {
                reason: kind.to_string(),
            },
            // `ErrorKind` is non-exhaustive: new kinds surface as sync errors until mapped.
            kind => SyncError::Sync {
                reason: kind.to_string(),
            },
        }
    }
}

/// The database family of a SQLite error. SQLite's messages name tables, columns and
/// constraints, never bound values.
fn from_sqlite(error: rusqlite::Error) -> SyncError {
    use rusqlite::ErrorCode;
    let reason = match &error {
        rusqlite::Error::SqliteFailure(_, Some(message)) => message.clone(),
        other => other.to_string(),
    };
    match &error {
        rusqlite::Error::QueryReturnedNoRows => SyncError::NoRows,
        rusqlite::Error::SqlInputError { .. }
        | rusqlite::Error::InvalidParameterCount(..)
        | rusqlite::Error::InvalidParameterName(_)
        | rusqlite::Error::MultipleStatement => SyncError::Sql { reason },
        _ => match error.sqlite_error_code() {
            Some(ErrorCode::ConstraintViolation) => SyncError::Constraint { reason },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => SyncError::Busy { reason },
            // SQLITE_ERROR: the generic "SQL error" code (syntax, unknown table or column).
            Some(ErrorCode::Unknown) => SyncError::Sql { reason },
            _ => SyncError::Database { reason },
        },
    }
}

impl From<CoreCheckpointError> for SyncError {
    fn from(error: CoreCheckpointError) -> Self {
        match error {
            CoreCheckpointError::NotConnected => SyncError::NotConnected,
            CoreCheckpointError::NotSupported => SyncError::CheckpointNotSupported,
            CoreCheckpointError::Unauthenticated(reason) => SyncError::Unauthenticated { reason },
            CoreCheckpointError::Timeout => SyncError::Timeout,
            CoreCheckpointError::Closed => SyncError::Closed,
            CoreCheckpointError::SyncError(reason) | CoreCheckpointError::Failed(reason) => {
                SyncError::Sync { reason }
            }
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
    fn checkpoint_outcomes_map_to_their_own_variants() {
        assert!(matches!(
            SyncError::from(CoreCheckpointError::NotConnected),
            SyncError::NotConnected
        ));
        assert!(matches!(
            SyncError::from(CoreCheckpointError::NotSupported),
            SyncError::CheckpointNotSupported
        ));
        assert_eq!(
            SyncError::from(CoreCheckpointError::Unauthenticated("expired".into())).to_string(),
            "unauthenticated: expired"
        );
    }

    #[test]
    fn sqlite_errors_map_to_their_families() {
        let db = psync_core::Database::open_in_memory().expect("setup succeeds");
        let family =
            |sql: &str| SyncError::from(db.execute(sql, &[]).expect_err("the statement fails"));
        db.execute(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)",
            &[],
        )
        .expect("setup succeeds");
        assert!(matches!(
            family("INSERT INTO t(v) VALUES (NULL)"),
            SyncError::Constraint { .. }
        ));
        assert!(matches!(family("SELEC 1"), SyncError::Sql { .. }));
        assert!(matches!(
            family("SELECT * FROM missing"),
            SyncError::Sql { .. }
        ));
        assert!(matches!(
            SyncError::from(
                db.get("SELECT 1 WHERE 0", &[])
                    .expect_err("the statement fails")
            ),
            SyncError::NoRows
        ));
    }

    #[test]
    fn locked_file_is_busy() {
        let dir = tempfile::tempdir().expect("setup succeeds");
        let path = dir.path().join("locked.db");
        let options = psync_core::OpenOptions {
            busy_timeout: std::time::Duration::ZERO,
            ..Default::default()
        };
        let db = psync_core::Database::open_with(&path, options).expect("setup succeeds");
        let other = rusqlite::Connection::open(&path).expect("setup succeeds");
        other
            .execute_batch("BEGIN EXCLUSIVE")
            .expect("setup succeeds");
        let error = db
            .execute("CREATE TABLE t(x)", &[])
            .expect_err("the statement fails");
        assert!(matches!(SyncError::from(error), SyncError::Busy { .. }));
    }

    #[test]
    fn unexpected_callback_error_maps_to_connector() {
        let mapped = SyncError::from(uniffi::UnexpectedUniFFICallbackError::new("boom"));
        assert_eq!(mapped.to_string(), "connector error: boom");
    }
}
