# SPDX-License-Identifier: Apache-2.0
"""Syncing: the app's backend connector, credentials and checkpoint requests."""

from __future__ import annotations

import datetime
import enum
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from psync import _ffi
from psync._errors import translate, use_running_loop
from psync._logging import LOGGER
from psync.status import SyncStatus, status_from_ffi

if TYPE_CHECKING:
    from psync.database import Database


class CheckpointMode(enum.Enum):
    """How the service acknowledges uploads."""

    REQUESTS = "requests"
    """Client-allocated checkpoint requests (falls back to legacy when the service answers
    404)."""
    LEGACY = "legacy"
    """``GET /write-checkpoint2.json`` after each upload round."""

    def _to_ffi(self) -> _ffi.CheckpointMode:
        if self is CheckpointMode.LEGACY:
            return _ffi.CheckpointMode.LEGACY
        return _ffi.CheckpointMode.REQUESTS


@dataclass(frozen=True)
class Credentials:
    """Where and as whom to sync."""

    endpoint: str
    token: str

    def __repr__(self) -> str:
        return f"Credentials(endpoint={self.endpoint!r}, token=...)"


class BackendConnector(ABC):
    """Implemented by the app. Both methods run on the event loop that called ``connect``."""

    @abstractmethod
    async def fetch_credentials(self) -> Credentials | None:
        """Credentials for the sync service, or ``None`` when signed out."""

    @abstractmethod
    async def upload_data(self, database: Database) -> None:
        """Uploads queued writes (``database.get_crud_batch()``), then ``complete()`` them.

        An exception fails this upload round: it shows as ``status.upload_error`` and the
        round is retried later.
        """


class _ConnectorAdapter(_ffi.BackendConnector):
    """The generated trait, implemented by calling the app's connector."""

    def __init__(self, connector: BackendConnector, wrap: Any) -> None:
        self._connector = connector
        self._wrap = wrap

    async def fetch_credentials(self) -> Any:
        try:
            credentials = await self._connector.fetch_credentials()
        except Exception as error:
            raise _connector_error(error) from error
        if credentials is None:
            return None
        return _ffi.Credentials(endpoint=credentials.endpoint, token=credentials.token)

    async def upload_data(self, database: Any) -> None:
        try:
            await self._connector.upload_data(self._wrap(database))
        except Exception as error:
            raise _connector_error(error) from error


def _connector_error(error: Exception) -> _ffi.SyncError:
    """The app's exception as the trait's declared error: UniFFI hands it to Rust (it shows
    in the status) instead of printing "Unhandled exception in trait interface call" and a
    traceback to stderr for every failed attempt. The traceback goes to the ``psync`` logger
    at DEBUG (never to stderr unless the app configures logging so)."""
    LOGGER.debug("the backend connector failed", exc_info=error)
    return _ffi.SyncError.Connector(reason=f"{type(error).__name__}: {error}")


class _StatusForwarder(_ffi.StatusListener):
    def __init__(self, callback: Callable[[SyncStatus], None]) -> None:
        self._callback = callback

    def on_status(self, status: Any) -> None:
        self._callback(status_from_ffi(status))


class CheckpointRequest:
    """A checkpoint the service acknowledged; see :meth:`Database.request_checkpoint`."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    @property
    def id(self) -> int:
        """The id the service accepted."""
        return int(self._inner.id())

    @property
    def is_synced(self) -> bool:
        """Whether local data already includes this checkpoint."""
        return bool(self._inner.is_synced())

    async def wait_for_sync(self, timeout: float | None = None) -> None:
        """Waits until synced; raises :class:`psync.SyncTimeoutError` after ``timeout`` s."""
        limit = None if timeout is None else datetime.timedelta(seconds=timeout)
        use_running_loop()
        try:
            await self._inner.wait_for_sync(limit)
        except _ffi.SyncError as error:
            raise translate(error) from None
