# SPDX-License-Identifier: Apache-2.0
"""psync: offline-first SQLite sync speaking the PowerSync protocol.

The public API is hand-written over the private generated module ``psync._ffi``.
"""

from psync._errors import (
    CheckpointNotSupportedError,
    ClosedError,
    ConnectorError,
    ConstraintError,
    DatabaseBusyError,
    DatabaseError,
    InvalidArgumentError,
    NoRowsError,
    NotConnectedError,
    SqlError,
    SyncError,
    SyncFailedError,
    SyncTimeoutError,
    UnauthenticatedError,
)
from psync._ffi import version as _native_version
from psync._values import ExecuteResult, Row, SqlValue
from psync.database import CrudBatch, CrudEntry, Database, Subscription, UploadQueueStats
from psync.schema import Column, Index, RawParam, RawStatement, RawTable, Schema, Table
from psync.status import DownloadProgress, PriorityStatus, SyncStatus, SyncStreamStatus
from psync.streams import SyncStream, SyncStreamSubscription
from psync.sync import BackendConnector, CheckpointMode, CheckpointRequest, Credentials
from psync.transaction import Transaction

__version__: str = _native_version()
"""The psync version, as sent in the ``User-Agent`` (``psync/<version> (python)``)."""

__all__ = [
    "BackendConnector",
    "CheckpointMode",
    "CheckpointNotSupportedError",
    "CheckpointRequest",
    "ClosedError",
    "Column",
    "ConnectorError",
    "ConstraintError",
    "Credentials",
    "CrudBatch",
    "CrudEntry",
    "Database",
    "DatabaseBusyError",
    "DatabaseError",
    "DownloadProgress",
    "ExecuteResult",
    "Index",
    "InvalidArgumentError",
    "NoRowsError",
    "NotConnectedError",
    "PriorityStatus",
    "RawParam",
    "RawStatement",
    "RawTable",
    "Row",
    "Schema",
    "SqlError",
    "SqlValue",
    "Subscription",
    "SyncError",
    "SyncFailedError",
    "SyncStatus",
    "SyncStream",
    "SyncStreamStatus",
    "SyncStreamSubscription",
    "SyncTimeoutError",
    "Table",
    "Transaction",
    "UnauthenticatedError",
    "UploadQueueStats",
]
