# SPDX-License-Identifier: Apache-2.0
"""Exception classes, and the one place generated errors are translated to them."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from psync import _ffi


class SyncError(Exception):
    """Base class of every error raised by psync."""


class ClosedError(SyncError):
    """The database was closed."""


class InvalidArgumentError(SyncError, ValueError):
    """An argument (or the schema) was rejected."""


class DatabaseError(SyncError):
    """SQLite or the database file reported an error."""


class SyncFailedError(SyncError):
    """Syncing with the service failed."""


class ConnectorError(SyncError):
    """The backend connector failed (credentials or upload)."""


class SyncTimeoutError(SyncError, TimeoutError):
    """A wait ran out of time."""


_MAPPING: dict[type[BaseException], type[SyncError]] = {
    _ffi.SyncError.Closed: ClosedError,
    _ffi.SyncError.InvalidArgument: InvalidArgumentError,
    _ffi.SyncError.Database: DatabaseError,
    _ffi.SyncError.Sync: SyncFailedError,
    _ffi.SyncError.Connector: ConnectorError,
    _ffi.SyncError.Timeout: SyncTimeoutError,
}


def translate(error: _ffi.SyncError) -> SyncError:
    """The public exception for a generated one (its text comes from Rust's Display)."""
    return _MAPPING.get(type(error), SyncError)(str(error))


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
