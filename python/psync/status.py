# SPDX-License-Identifier: Apache-2.0
"""The sync status: typed, immutable snapshots of what the sync client is doing."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from typing import Any

from psync import _ffi
from psync._errors import SyncError, SyncFailedError, translated

FULL_SYNC_PRIORITY = 2_147_483_647
"""Priority of the entry that describes a complete sync."""


def _time(micros: int | None) -> datetime.datetime | None:
    if micros is None:
        return None
    return datetime.datetime.fromtimestamp(micros / 1_000_000, tz=datetime.timezone.utc)


@dataclass(frozen=True)
class DownloadProgress:
    """Operations downloaded towards the checkpoint being downloaded."""

    downloaded: int
    total: int

    @property
    def fraction(self) -> float:
        """``downloaded / total`` between 0.0 and 1.0 (0.0 when there is nothing to fetch)."""
        return 0.0 if self.total <= 0 else min(1.0, self.downloaded / self.total)


@dataclass(frozen=True)
class PriorityStatus:
    """Sync state of one bucket priority (0 = highest)."""

    priority: int
    last_synced_at: datetime.datetime | None
    has_synced: bool | None


@dataclass(frozen=True)
class SyncStreamStatus:
    """Sync state of one stream subscription (explicit, default, or both)."""

    name: str
    parameters: dict[str, Any] | None
    active: bool
    """The latest checkpoint includes the stream."""
    is_default: bool
    """The service syncs it without a subscription (an auto-subscribed stream)."""
    has_explicit_subscription: bool
    expires_at: datetime.datetime | None
    """When the subscription expires unless held or subscribed again."""
    last_synced_at: datetime.datetime | None
    priority: int | None
    """Priority its data completes at, when known."""
    progress: DownloadProgress

    @property
    def has_synced(self) -> bool:
        """Whether the stream's data was synced at least once."""
        return self.last_synced_at is not None


def _error_key(error: SyncError | None) -> tuple[str, str] | None:
    return None if error is None else (type(error).__name__, str(error))


@dataclass(frozen=True, eq=False)
class SyncStatus:
    """What the sync client is doing. Equal statuses have equal fields (errors by class and
    message)."""

    connected: bool = False
    connecting: bool = False
    downloading: bool = False
    download_progress: DownloadProgress | None = None
    uploading: bool = False
    last_synced_at: datetime.datetime | None = None
    """Last complete sync."""
    has_synced: bool | None = None
    """Whether a complete sync ever happened; ``None`` until known."""
    priority_status: tuple[PriorityStatus, ...] = ()
    """Per-priority entries, ascending priority number."""
    download_error: SyncError | None = None
    """Why the last sync attempt failed (:class:`psync.SyncFailedError`)."""
    upload_error: SyncError | None = None
    """Why the last upload round failed (:class:`psync.SyncFailedError`; a connector
    exception shows with its message)."""
    last_applied_checkpoint_request_id: int | None = None
    checkpoint_requests_unsupported: bool = False
    """The service answered 404 to checkpoint requests: legacy write checkpoints are used."""
    streams: tuple[SyncStreamStatus, ...] = field(default=())

    def _key(self) -> tuple[Any, ...]:
        return (
            self.connected,
            self.connecting,
            self.downloading,
            self.download_progress,
            self.uploading,
            self.last_synced_at,
            self.has_synced,
            self.priority_status,
            _error_key(self.download_error),
            _error_key(self.upload_error),
            self.last_applied_checkpoint_request_id,
            self.checkpoint_requests_unsupported,
            self.streams,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SyncStatus) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key()[:8])

    @property
    def any_error(self) -> SyncError | None:
        """``download_error``, else ``upload_error``."""
        return self.download_error or self.upload_error

    def for_priority(self, priority: int) -> PriorityStatus:
        """Sync state of everything at ``priority`` or higher (a lower number): the first entry
        whose priority number is at least ``priority``, else the full-sync state."""
        for entry in self.priority_status:
            if entry.priority >= priority:
                return entry
        return PriorityStatus(priority, self.last_synced_at, self.has_synced)

    def for_stream(
        self, name: str, parameters: dict[str, Any] | None = None
    ) -> SyncStreamStatus | None:
        """The entry of stream ``name`` subscribed with ``parameters`` (``None`` = without);
        parameters match as JSON values (the native lookup every language shares)."""
        keys = [
            _ffi.StreamKey(name=s.name, parameters_json=_json(s.parameters)) for s in self.streams
        ]
        index = translated(_ffi.stream_status_index)(keys, name, _json(parameters))
        return None if index is None else self.streams[index]


def _json(parameters: dict[str, Any] | None) -> str | None:
    return None if parameters is None else json.dumps(parameters)


def stream_status_from_ffi(status: _ffi.SyncStreamStatus) -> SyncStreamStatus:
    parameters = status.parameters_json
    return SyncStreamStatus(
        name=status.name,
        parameters=None if parameters is None else dict(json.loads(parameters)),
        active=status.active,
        is_default=status.is_default,
        has_explicit_subscription=status.has_explicit_subscription,
        expires_at=_time(status.expires_at),
        last_synced_at=_time(status.last_synced_at),
        priority=status.priority,
        progress=DownloadProgress(status.downloaded_operations, status.total_operations),
    )


def status_from_ffi(status: _ffi.SyncStatus) -> SyncStatus:
    """The public status for a generated record."""
    progress = None
    if status.downloaded_operations is not None and status.total_operations is not None:
        progress = DownloadProgress(status.downloaded_operations, status.total_operations)
    return SyncStatus(
        connected=status.connected,
        connecting=status.connecting,
        downloading=status.downloading,
        download_progress=progress,
        uploading=status.uploading,
        last_synced_at=_time(status.last_synced_at),
        has_synced=status.has_synced,
        priority_status=tuple(
            PriorityStatus(p.priority, _time(p.last_synced_at), p.has_synced)
            for p in status.priority_status
        ),
        download_error=None
        if status.download_error is None
        else SyncFailedError(status.download_error),
        upload_error=None if status.upload_error is None else SyncFailedError(status.upload_error),
        last_applied_checkpoint_request_id=status.last_applied_checkpoint_request_id,
        checkpoint_requests_unsupported=status.checkpoint_requests_unsupported,
        streams=tuple(stream_status_from_ffi(s) for s in status.streams),
    )
