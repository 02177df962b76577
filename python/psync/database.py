# SPDX-License-Identifier: Apache-2.0
"""`Database`: the entry point of psync."""

from __future__ import annotations

import asyncio
import atexit
import datetime
import json
import math
import os
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from psync import _ffi
from psync._errors import InvalidArgumentError, native, translate, translated, use_running_loop
from psync._logging import LOGGER, LogForwarder
from psync._values import ExecuteResult, Row, from_row, to_params
from psync.schema import Schema
from psync.status import SyncStatus, status_from_ffi
from psync.streams import SyncStream
from psync.sync import (
    BackendConnector,
    CheckpointMode,
    CheckpointRequest,
    _ConnectorAdapter,
    _StatusForwarder,
)
from psync.transaction import TransactionScope

# A process that exits with a database still connected must exit cleanly: stop psync's threads
# (closing every open database) while the interpreter is still whole. A psync thread that
# entered Python during finalization would abort the process (bindings/src/shutdown.rs).
atexit.register(_ffi.shutdown)


def _deliver(loop: asyncio.AbstractEventLoop, callback: Callable[[Any], None], value: Any) -> None:
    """Hands ``value`` to ``callback`` on ``loop`` from a psync thread."""
    try:
        loop.call_soon_threadsafe(callback, value)
    except RuntimeError:
        pass  # the loop is closed: nobody iterates any more (the program is ending)


@dataclass(frozen=True)
class CrudEntry:
    """One queued local write."""

    client_id: int
    transaction_id: int | None
    op: str
    """``"PUT"``, ``"PATCH"`` or ``"DELETE"``."""
    table: str
    id: str
    data: dict[str, Any] | None
    previous_values: dict[str, Any] | None
    metadata: str | None


def _entry(entry: _ffi.CrudEntry) -> CrudEntry:
    def parse(text: str | None) -> dict[str, Any] | None:
        return None if text is None else dict(json.loads(text))

    return CrudEntry(
        client_id=entry.client_id,
        transaction_id=entry.transaction_id,
        op=entry.op.name,
        table=entry.table,
        id=entry.id,
        data=parse(entry.data_json),
        previous_values=parse(entry.previous_values_json),
        metadata=entry.metadata,
    )


@dataclass(frozen=True)
class UploadQueueStats:
    """The upload queue: queued writes and the size of their data in bytes."""

    count: int
    size: int


class CrudBatch:
    """Queued local writes, oldest first. Call :meth:`complete` once they are uploaded."""

    def __init__(self, inner: _ffi.CrudBatch | _ffi.CrudTransaction, has_more: bool) -> None:
        self._inner = inner
        self.entries: list[CrudEntry] = [_entry(e) for e in inner.entries()]
        self.has_more = has_more

    async def complete(self, write_checkpoint: int | None = None) -> None:
        """Removes these writes from the upload queue."""
        await native(self._inner.complete(write_checkpoint))


class Subscription:
    """A live listener; :meth:`cancel` (or leaving its ``with`` block) stops it."""

    def __init__(self, handle: _ffi.TaskHandle) -> None:
        self._handle = handle

    def cancel(self) -> None:
        """Stops the listener. Idempotent."""
        self._handle.cancel()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


class _Listener(_ffi.TableChangeListener):
    def __init__(self, callback: Callable[[set[str]], None]) -> None:
        self._callback = callback

    def on_update(self, tables: list[str]) -> None:
        # Runs on a psync thread. A failing host callback must not break the SDK.
        try:
            self._callback(set(tables))
        except Exception:
            LOGGER.exception("a table change callback failed")


class Database:
    """A PowerSync-format SQLite database with its app schema.

    Queries and writes are coroutines (``await db.get_all(...)``): SQLite works on psync's
    threads, never on the event loop. From a plain script, run them with ``asyncio.run``. Use
    it as an (async) context manager, or call :meth:`close`; later calls raise
    :class:`psync.ClosedError`. Databases still open when the interpreter exits are closed then
    (sync stops cleanly).

    psync logs to the standard :mod:`logging` logger ``psync`` (sync retries, failed uploads,
    protocol events; never tokens or row data); it prints nothing until the app configures
    logging.
    """

    @translated
    def __init__(
        self, path: str | os.PathLike[str] | None, schema: Schema, *, busy_timeout: float = 30.0
    ) -> None:
        """Opens (or creates) the database at ``path``; ``None`` opens an in-memory one.

        ``busy_timeout``: seconds a statement waits for a lock another connection or process
        holds on the file before raising :class:`psync.DatabaseBusyError`.
        """
        if not math.isfinite(busy_timeout) or busy_timeout < 0:
            raise InvalidArgumentError(
                f"busy_timeout must be a finite, non-negative number of seconds, not {busy_timeout}"
            )
        options = _ffi.OpenOptions(busy_timeout_ms=int(busy_timeout * 1000))
        if path is None:
            self._inner = _ffi.Database.open_in_memory(schema._to_ffi())
        else:
            self._inner = _ffi.Database.open_with_options(
                os.fspath(path), schema._to_ffi(), options
            )
        self._inner.set_logger(LogForwarder())

    @classmethod
    def _wrap(cls, inner: Any) -> Database:
        # A second handle on the same native database (for BackendConnector.upload_data).
        database = cls.__new__(cls)
        database._inner = inner
        return database

    def __enter__(self) -> Database:
        return self

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def update_schema(self, schema: Schema) -> None:
        """Replaces the app schema."""
        await native(self._inner.update_schema(schema._to_ffi()))

    async def execute(self, sql: str, params: Sequence[object] = ()) -> ExecuteResult:
        """Runs one write statement in its own transaction."""
        r = await native(self._inner.execute(sql, to_params(params)))
        return ExecuteResult(r.rows_affected, r.last_insert_rowid)

    async def execute_batch(
        self, sql: str, param_sets: Sequence[Sequence[object]]
    ) -> ExecuteResult:
        """Runs one statement once per parameter set in one transaction: all apply or none does.

        The sets cross into the native library as one JSON document (Python's C encoder), which
        is much faster than converting each value; sets holding ``bytes`` (or NaN/infinity) take
        the per-value path instead. ``rows_affected`` is the total over all sets (like
        :meth:`execute`, it does not count rows written by the triggers of the app's views).
        """
        if not isinstance(param_sets, (list, tuple)):
            param_sets = list(param_sets)
        try:
            encoded = json.dumps(param_sets, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError):
            call = self._inner.execute_batch(sql, [to_params(p) for p in param_sets])
        else:
            call = self._inner.execute_batch_json(sql, encoded)
        r = await native(call)
        return ExecuteResult(r.rows_affected, r.last_insert_rowid)

    async def write_batch(
        self, statements: Sequence[tuple[str, Sequence[object]]]
    ) -> list[ExecuteResult]:
        """Runs ``(sql, params)`` statements in one transaction: all apply or none does."""
        ffi = [_ffi.Statement(sql=sql, params=to_params(params)) for sql, params in statements]
        results = await native(self._inner.write_batch(ffi))
        return [ExecuteResult(r.rows_affected, r.last_insert_rowid) for r in results]

    async def get(self, sql: str, params: Sequence[object] = ()) -> Row:
        """The first row; raises :class:`psync.NoRowsError` if there is none."""
        return from_row(await native(self._inner.get(sql, to_params(params))))

    async def get_all(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        """Every row of a query."""
        return [from_row(r) for r in await native(self._inner.get_all(sql, to_params(params)))]

    async def get_optional(self, sql: str, params: Sequence[object] = ()) -> Row | None:
        """The first row of a query, or ``None``."""
        row = await native(self._inner.get_optional(sql, to_params(params)))
        return None if row is None else from_row(row)

    def write_transaction(self) -> TransactionScope:
        """``async with db.write_transaction() as tx:`` — holds the writer until the block ends
        (other writes wait); commits on a normal exit, rolls back on an exception."""
        return TransactionScope(self._inner.write_transaction)

    def read_transaction(self) -> TransactionScope:
        """``async with db.read_transaction() as tx:`` — one consistent snapshot on a reader."""
        return TransactionScope(self._inner.read_transaction)

    async def get_crud_batch(self, limit: int = 100) -> CrudBatch | None:
        """Up to ``limit`` queued local writes, or ``None`` when nothing is queued."""
        batch = await native(self._inner.get_crud_batch(limit))
        return None if batch is None else CrudBatch(batch, batch.has_more())

    async def get_next_crud_transaction(self) -> CrudBatch | None:
        """The queued writes of the oldest local transaction, or ``None``."""
        transaction = await native(self._inner.get_next_crud_transaction())
        return None if transaction is None else CrudBatch(transaction, False)

    async def crud_transactions(self) -> AsyncIterator[CrudBatch]:
        """Yields every queued local transaction, oldest first, without completing any: upload
        each, then :meth:`CrudBatch.complete` it (completing the last one completes them all)."""
        after = 0
        while True:
            transaction = await native(self._inner.get_crud_transaction_after(after))
            if transaction is None:
                return
            batch = CrudBatch(transaction, False)
            yield batch
            after = batch.entries[-1].client_id

    async def upload_queue_stats(self) -> UploadQueueStats:
        """How many writes are queued for upload, and the size of their data in bytes."""
        stats = await native(self._inner.upload_queue_stats())
        return UploadQueueStats(count=stats.count, size=stats.size_bytes)

    @translated
    def on_change(
        self, callback: Callable[[set[str]], None], *, tables: Iterable[str] = ()
    ) -> Subscription:
        """Calls ``callback(tables)`` on a psync thread after each committed write, with the
        names the app uses (``todos``, not ``ps_data__todos``). With ``tables``, only writes
        changing one of them are reported, and only those names."""
        return Subscription(self._inner.add_table_listener(list(tables), _Listener(callback)))

    async def table_changes(self, *, tables: Iterable[str] = ()) -> AsyncIterator[set[str]]:
        """Yields the changed tables after each committed write, on the running loop (names and
        ``tables`` as in :meth:`on_change`)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[set[str]] = asyncio.Queue()

        # Callbacks arrive on psync threads: hop to the loop before touching the queue.
        def forward(tables: set[str]) -> None:
            _deliver(loop, queue.put_nowait, tables)

        with self.on_change(forward, tables=tables):
            while True:
                yield await queue.get()

    async def connect(
        self,
        connector: BackendConnector,
        *,
        retry_delay: float = 5.0,
        crud_throttle: float = 1.0,
        params: dict[str, Any] | None = None,
        extra_root_certificates_pem: Sequence[str] = (),
        checkpoint_mode: CheckpointMode = CheckpointMode.REQUESTS,
        use_bson: bool = False,
        app_metadata: dict[str, str] | None = None,
        include_default_streams: bool = True,
    ) -> None:
        """Starts syncing. ``connector`` runs on the current event loop.

        Only one instance may sync a database file: raises :class:`psync.SyncFailedError`
        (naming the file) while another ``Database``, in this process or another, is
        connected to it (docs/adr/0003-one-syncing-instance-per-file.md).

        ``extra_root_certificates_pem``: PEM CA certificates trusted for ``https`` endpoints in
        addition to Mozilla's roots and the system's certificates (e.g. a self-hosted service's
        CA). Certificates are always verified.

        ``params``: client parameters for the sync rules/streams (a JSON object);
        ``checkpoint_mode``: how uploads are acknowledged; ``use_bson``: BSON sync lines;
        ``app_metadata``: strings sent with the stream request; ``include_default_streams``:
        ``False`` syncs only the streams you subscribe to.
        """
        # Rust calls the async connector from its own threads, where no loop is running.
        use_running_loop()
        options = _ffi.SyncOptions(
            retry_delay_ms=int(retry_delay * 1000),
            crud_throttle_ms=int(crud_throttle * 1000),
            params_json=None if params is None else json.dumps(params),
            extra_root_certificates_pem=list(extra_root_certificates_pem),
            client_language="python",
            checkpoint_mode=checkpoint_mode._to_ffi(),
            use_bson=use_bson,
            app_metadata=None if app_metadata is None else dict(app_metadata),
            include_default_streams=include_default_streams,
        )
        try:
            await self._inner.connect(_ConnectorAdapter(connector, Database._wrap), options)
        except _ffi.SyncError as error:
            raise translate(error) from None
        await self._disconnect_when_loop_ends()

    async def _disconnect_when_loop_ends(self) -> None:
        """Disconnects when the running loop shuts down (``asyncio.run`` returning).

        The connector runs on this loop: once it is closed, a psync thread finishing or
        starting a connector call would meet a closed loop (and print a traceback). So an async
        generator started here waits on the loop; ``loop.shutdown_asyncgens()``, which
        ``asyncio.run`` calls before closing the loop, closes it, and its ``finally`` stops
        syncing while the loop still runs. Once per database and loop.
        """
        loop = asyncio.get_running_loop()
        if getattr(self, "_watched_loop", None) is loop:
            return

        # Only a weak reference: when the database is garbage (its native object already
        # released, possibly in the same collection), the generator must not touch it. Calling
        # into a released native object was a use-after-free that aborted the process.
        database = weakref.ref(self)

        async def until_loop_ends() -> AsyncIterator[None]:
            try:
                yield
            finally:
                alive = database()
                if alive is not None:
                    try:
                        await alive._inner.disconnect()
                    except _ffi.SyncError:
                        pass  # already closed

        sentinel = until_loop_ends()
        await sentinel.__anext__()
        # The loop tracks started generators weakly: the database keeps this one (the
        # generator keeps the database only weakly, so there is no cycle).
        self._loop_sentinel = sentinel
        self._watched_loop = loop

    async def disconnect(self) -> None:
        """Stops syncing; local data stays."""
        use_running_loop()
        try:
            await self._inner.disconnect()
        except _ffi.SyncError as error:
            raise translate(error) from None

    async def disconnect_and_clear(self, *, clear_local: bool = True, soft: bool = False) -> None:
        """Stops syncing and deletes synced data and queued writes (logout).

        ``clear_local`` also deletes the rows of local-only tables, as every PowerSync SDK does
        by default; ``soft`` keeps downloaded buckets for a faster reconnect.
        """
        await native(self._inner.disconnect_and_clear(clear_local, soft))

    async def request_checkpoint(self) -> CheckpointRequest:
        """Asks the service for a checkpoint covering everything it has received."""
        use_running_loop()
        try:
            return CheckpointRequest(await self._inner.request_checkpoint())
        except _ffi.SyncError as error:
            raise translate(error) from None

    @property
    def status(self) -> SyncStatus:
        """The current sync status."""
        return status_from_ffi(self._inner.current_status())

    async def wait_for_first_sync(
        self, priority: int | None = None, timeout: float | None = None
    ) -> None:
        """Waits until a complete sync happened, or everything at ``priority`` or higher
        synced; :class:`psync.SyncTimeoutError` after ``timeout`` seconds."""
        limit = None if timeout is None else datetime.timedelta(seconds=timeout)
        use_running_loop()
        try:
            await self._inner.wait_for_first_sync(priority, limit)
        except _ffi.SyncError as error:
            raise translate(error) from None

    @translated
    def sync_stream(self, name: str, parameters: dict[str, Any] | None = None) -> SyncStream:
        """The sync stream ``name`` with ``parameters`` (a JSON object); subscribe to sync it."""
        text = None if parameters is None else json.dumps(parameters)
        return SyncStream(self._inner.sync_stream(name, text))

    async def status_stream(self) -> AsyncIterator[SyncStatus]:
        """Yields the current status, then every change, on the running loop."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[SyncStatus] = asyncio.Queue()

        def forward(status: SyncStatus) -> None:
            _deliver(loop, queue.put_nowait, status)

        handle = translated(self._inner.add_status_listener)(_StatusForwarder(forward))
        with Subscription(handle):
            while True:
                yield await queue.get()

    async def aclose(self) -> None:
        """:meth:`close` off the event loop (closing waits for sync to stop)."""
        await asyncio.to_thread(self.close)

    async def watch(
        self, sql: str, params: Sequence[object] = (), *, throttle: float = 0.03
    ) -> AsyncIterator[list[Row]]:
        """Yields the query's rows now and after every commit changing a table it reads, at most
        once per ``throttle`` seconds (a burst of commits yields one result)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[list[Row]] = asyncio.Queue()

        class _Rows(_ffi.QueryListener):
            def on_update(self, rows: list[Any]) -> None:
                _deliver(loop, queue.put_nowait, [from_row(r) for r in rows])

        throttle_ms = int(throttle * 1000)
        handle = translated(self._inner.watch)(sql, to_params(params), throttle_ms, _Rows())
        with Subscription(handle):
            while True:
                yield await queue.get()

    @translated
    def close(self) -> None:
        """Closes the database. Idempotent."""
        self._inner.close()

    @property
    def closed(self) -> bool:
        """``True`` once :meth:`close` was called."""
        return bool(self._inner.is_closed())
