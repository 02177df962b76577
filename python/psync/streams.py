# SPDX-License-Identifier: Apache-2.0
"""Sync streams: ``db.sync_stream(name, parameters)``, subscriptions and their waits."""

from __future__ import annotations

import datetime
import json
from typing import Any

from psync import _ffi
from psync._errors import translate, translated, use_running_loop
from psync.status import SyncStreamStatus, stream_status_from_ffi


class SyncStream:
    """A stream with parameters, from :meth:`psync.Database.sync_stream`. Subscribing makes it
    sync; the same stream may be subscribed with different parameters."""

    def __init__(self, inner: _ffi.SyncStream) -> None:
        self._inner = inner

    @property
    def name(self) -> str:
        return str(self._inner.name())

    @property
    def parameters(self) -> dict[str, Any] | None:
        text = self._inner.parameters_json()
        return None if text is None else dict(json.loads(text))

    async def subscribe(
        self, *, ttl: float | None = None, priority: int | None = None
    ) -> SyncStreamSubscription:
        """Subscribes; a running connection reconnects with the new subscription list.

        ``ttl``: seconds the subscription outlives its last handle (default one day).
        ``priority``: overrides the stream's priority (0 = highest). Keep the returned handle
        (or use it as a context manager) while you need the data.
        """
        limit = None if ttl is None else datetime.timedelta(seconds=ttl)
        use_running_loop()
        try:
            return SyncStreamSubscription(self, await self._inner.subscribe(limit, priority))
        except _ffi.SyncError as error:
            raise translate(error) from None

    async def unsubscribe_all(self) -> None:
        """Removes the subscription now, whatever handles exist."""
        use_running_loop()
        try:
            await self._inner.unsubscribe_all()
        except _ffi.SyncError as error:
            raise translate(error) from None

    @property
    def status(self) -> SyncStreamStatus | None:
        """This stream's entry in the current status (``None`` when not subscribed)."""
        status = self._inner.status()
        return None if status is None else stream_status_from_ffi(status)

    def __repr__(self) -> str:
        return f"SyncStream({self.name!r}, {self.parameters!r})"


class SyncStreamSubscription:
    """A held subscription. :meth:`unsubscribe` (or leaving the ``with`` block) stops holding
    the stream: it keeps syncing until its TTL runs out, unless subscribed again."""

    def __init__(self, stream: SyncStream, inner: _ffi.SyncStreamSubscription) -> None:
        self._inner = inner
        self.stream = stream

    async def wait_for_first_sync(self, timeout: float | None = None) -> None:
        """Waits until the stream's data synced once; :class:`psync.SyncTimeoutError` after
        ``timeout`` seconds."""
        limit = None if timeout is None else datetime.timedelta(seconds=timeout)
        use_running_loop()
        try:
            await self._inner.wait_for_first_sync(limit)
        except _ffi.SyncError as error:
            raise translate(error) from None

    @translated
    def unsubscribe(self) -> None:
        """Stops holding the stream. Idempotent."""
        self._inner.unsubscribe()

    def __enter__(self) -> SyncStreamSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.unsubscribe()
