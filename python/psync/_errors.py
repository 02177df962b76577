# SPDX-License-Identifier: Apache-2.0
"""Exception classes, and the one place generated errors are translated to them."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from psync import _ffi


class SyncError(Exception):
    """Base class of every error raised by psync."""


class ClosedError(SyncError):
    """The database was closed."""


class InvalidArgumentError(SyncError, ValueError):
    """An argument (or the schema) was rejected."""


class DatabaseError(SyncError):
    """SQLite or the database file reported an error (base of the database families)."""


class ConstraintError(DatabaseError):
    """A ``UNIQUE``, ``NOT NULL``, ``CHECK`` or foreign-key constraint rejected a write."""


class DatabaseBusyError(DatabaseError):
    """The database file stayed locked by another connection past the busy timeout."""


class NoRowsError(DatabaseError, LookupError):
    """:meth:`Database.get` found no row."""


class SqlError(DatabaseError):
    """SQLite rejected the statement: syntax, unknown table or column, parameter count."""


class SyncFailedError(SyncError):
    """Syncing with the service failed."""


class NotConnectedError(SyncFailedError):
    """``request_checkpoint`` (or a wait) needs an active ``connect()``."""


class CheckpointNotSupportedError(SyncFailedError):
    """The service does not support checkpoint requests (404), or legacy mode is in use."""


class UnauthenticatedError(SyncFailedError):
    """The service rejected the credentials; they are fetched again on the next attempt."""


class ConnectorError(SyncError):
    """The backend connector failed (credentials or upload)."""


class SyncTimeoutError(SyncError, TimeoutError):
    """A wait ran out of time."""


_MAPPING: dict[type[BaseException], type[SyncError]] = {
    _ffi.SyncError.Closed: ClosedError,
    _ffi.SyncError.InvalidArgument: InvalidArgumentError,
    _ffi.SyncError.Constraint: ConstraintError,
    _ffi.SyncError.Busy: DatabaseBusyError,
    _ffi.SyncError.NoRows: NoRowsError,
    _ffi.SyncError.Sql: SqlError,
    _ffi.SyncError.Database: DatabaseError,
    _ffi.SyncError.NotConnected: NotConnectedError,
    _ffi.SyncError.CheckpointNotSupported: CheckpointNotSupportedError,
    _ffi.SyncError.Unauthenticated: UnauthenticatedError,
    _ffi.SyncError.Sync: SyncFailedError,
    _ffi.SyncError.Connector: ConnectorError,
    _ffi.SyncError.Timeout: SyncTimeoutError,
}


# The generated variants without fields carry no text; these match Rust's Display.
_TEXT_OF_UNIT_VARIANTS: dict[type[BaseException], str] = {
    _ffi.SyncError.Closed: "the database is closed",
    _ffi.SyncError.NoRows: "the query returned no rows",
    _ffi.SyncError.NotConnected: "not connected",
    _ffi.SyncError.CheckpointNotSupported: "the sync service does not support checkpoint requests",
    _ffi.SyncError.Timeout: "timed out",
}


def translate(error: _ffi.SyncError) -> SyncError:
    """The public exception for a generated one: its ``reason`` (core's PII-free text), or the
    variant's fixed text."""
    reason = getattr(error, "reason", None)
    text = reason if isinstance(reason, str) else _TEXT_OF_UNIT_VARIANTS.get(type(error), "")
    return _MAPPING.get(type(error), SyncError)(text)


def use_running_loop() -> None:
    """Points the generated code at the running event loop.

    UniFFI keeps one process-wide loop for futures and for async callbacks arriving on Rust
    threads (where no loop runs). A loop from an earlier ``asyncio.run`` would be closed, so
    every async entry point re-points it; psync supports one active event loop at a time.
    """
    import asyncio

    _ffi.psync_ffi.uniffi_set_event_loop(asyncio.get_running_loop())


P = ParamSpec("P")
R = TypeVar("R")


def translated(function: Callable[P, R]) -> Callable[P, R]:
    """Re-raises generated errors of ``function`` as the public classes."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except _ffi.SyncError as error:
            raise translate(error) from None

    return wrapper


async def native(call: Awaitable[R]) -> R:
    """Awaits a native coroutine on the running loop, re-raising generated errors as public
    ones."""
    use_running_loop()
    try:
        return await call
    except _ffi.SyncError as error:
        raise translate(error) from None
