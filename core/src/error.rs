// SPDX-License-Identifier: Apache-2.0
//! The core's error type.
//!
//! [`Error`] is one pointer wide (a box over the crate-private-ish [`ErrorKind`]), so
//! `Result<T>` stays cheap to move around. Bindings map it to a small public enum in one
//! place; nothing here may carry row data, tokens or credentials in its message.

use std::fmt;

/// Result alias used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error the core can produce.
pub struct Error(Box<ErrorKind>);

/// What went wrong. Match on [`Error::kind`] to branch on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The database (or the sync client) was closed; every later call fails with this.
    #[error("the database is closed")]
    Closed,
    /// An error reported by SQLite.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A JSON document could not be parsed or produced.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// The schema handed to the core is invalid; the message names the problem.
    #[error("invalid schema: {0}")]
    InvalidSchema(String),
    /// An argument is out of range or of the wrong type.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The service could not be reached: connection, TLS or transfer failure. The message
    /// names the endpoint's host only.
    #[error("network error: {0}")]
    Network(String),
    /// The service sent something the sync protocol does not allow.
    #[error("sync protocol error: {0}")]
    Protocol(String),
    /// The sync state machine was used in a state that does not allow the call.
    #[error("{0}")]
    State(String),
    /// The database file is not in a format this core can open.
    #[error("storage format: {0}")]
    Storage(String),
    /// Reading or writing a file failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0
    }

    /// Consumes the error, returning what went wrong.
    pub fn into_kind(self) -> ErrorKind {
        *self.0
    }

    /// The database or client is closed.
    pub fn closed() -> Self {
        ErrorKind::Closed.into()
    }

    /// An invalid schema; `what` names the problem (never row data).
    pub fn invalid_schema(what: impl Into<String>) -> Self {
        ErrorKind::InvalidSchema(what.into()).into()
    }

    /// An invalid argument; `what` names the problem (never row data).
    pub fn invalid_argument(what: impl Into<String>) -> Self {
        ErrorKind::InvalidArgument(what.into()).into()
    }

    /// A sync protocol violation by the service.
    pub fn protocol(what: impl Into<String>) -> Self {
        ErrorKind::Protocol(what.into()).into()
    }

    /// A network failure talking to `host` (never the URL, which may carry parameters).
    pub fn network(what: impl Into<String>) -> Self {
        ErrorKind::Network(what.into()).into()
    }

    /// A call made in a state that does not allow it.
    pub fn state(what: impl Into<String>) -> Self {
        ErrorKind::State(what.into()).into()
    }

    /// A database file this core cannot open.
    pub fn storage(what: impl Into<String>) -> Self {
        ErrorKind::Storage(what.into()).into()
    }

    /// The SQLite error code, when the error came from SQLite.
    pub fn sqlite_code(&self) -> Option<rusqlite::ErrorCode> {
        match &*self.0 {
            ErrorKind::Sqlite(e) => e.sqlite_error_code(),
            _ => None,
        }
    }
}

impl<E: Into<ErrorKind>> From<E> for Error {
    fn from(e: E) -> Self {
        Error(Box::new(e.into()))
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_one_pointer_wide() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn closed_error_says_closed() {
        assert_eq!(Error::closed().to_string(), "the database is closed");
    }
}
