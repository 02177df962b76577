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
from psync.sync import BackendConnector, CheckpointRequest, Credentials, SyncStatus

__all__ = [
    "BackendConnector",
    "CheckpointRequest",
    "ClosedError",
    "Column",
    "ConnectorError",
    "Credentials",
    "CrudBatch",
    "CrudEntry",
    "Database",
    "DatabaseError",
    "ExecuteResult",
    "Index",
    "InvalidArgumentError",
    "Row",
    "Schema",
    "SqlValue",
    "Subscription",
    "SyncError",
    "SyncFailedError",
    "SyncStatus",
    "SyncTimeoutError",
    "Table",
]
