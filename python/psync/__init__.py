# SPDX-License-Identifier: Apache-2.0
"""psync: offline-first SQLite sync speaking the PowerSync protocol.

The public API is hand-written over the private generated module ``psync._ffi``.
"""

from psync._errors import (
    ClosedError,
    ConnectorError,
    DatabaseError,
    InvalidArgumentError,
    SyncError,
    SyncFailedError,
    SyncTimeoutError,
)
from psync._values import Row, SqlValue
from psync.database import CrudBatch, CrudEntry, Database, ExecuteResult, Subscription
from psync.schema import Column, Index, Schema, Table
from psync.status import DownloadProgress, PriorityStatus, SyncStatus, SyncStreamStatus
from psync.streams import SyncStream, SyncStreamSubscription
from psync.sync import BackendConnector, CheckpointMode, CheckpointRequest, Credentials

__all__ = [
    "BackendConnector",
    "CheckpointMode",
    "CheckpointRequest",
    "ClosedError",
    "Column",
    "ConnectorError",
    "Credentials",
    "CrudBatch",
    "CrudEntry",
    "Database",
    "DatabaseError",
    "DownloadProgress",
    "ExecuteResult",
    "Index",
    "InvalidArgumentError",
    "PriorityStatus",
    "Row",
    "Schema",
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
]
