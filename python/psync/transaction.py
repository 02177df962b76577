# SPDX-License-Identifier: Apache-2.0
"""Interactive transactions: ``async with db.write_transaction() as tx:``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType

from psync import _ffi
from psync._errors import native
from psync._values import ExecuteResult, Row, from_row, to_params


class Transaction:
    """An open transaction; its statements see its own writes. Ended by its ``async with``."""

    def __init__(self, inner: _ffi.Transaction) -> None:
        self._inner = inner

    async def execute(self, sql: str, params: Sequence[object] = ()) -> ExecuteResult:
        """Runs one statement inside the transaction."""
        r = await native(self._inner.execute(sql, to_params(params)))
        return ExecuteResult(r.rows_affected, r.last_insert_rowid)

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


class TransactionScope:
    """``async with``: begins on entry, commits on a normal exit, rolls back on an exception
    (cancellation included). A transaction abandoned otherwise (the object collected, the
    loop gone) rolls back natively and frees its connection."""

    def __init__(self, begin: Callable[[], Awaitable[_ffi.Transaction]]) -> None:
        self._begin = begin
        self._transaction: Transaction | None = None

    async def __aenter__(self) -> Transaction:
        self._transaction = Transaction(await native(self._begin()))
        return self._transaction

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        transaction, self._transaction = self._transaction, None
        assert transaction is not None, "__aexit__ without __aenter__"
        if exc_type is None:
            await native(transaction._inner.commit())
        else:
            await native(transaction._inner.rollback())
