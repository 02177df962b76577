# SPDX-License-Identifier: Apache-2.0
"""Conversion between Python values and SQLite values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psync import _ffi

SqlValue = None | int | float | str | bytes
"""A value SQLite stores: ``None``, ``int``, ``float``, ``str`` or ``bytes``."""

Row = dict[str, SqlValue]
"""One result row: column name to value, in query order."""


@dataclass(frozen=True)
class ExecuteResult:
    """What a write statement did."""

    rows_affected: int
    last_insert_rowid: int


def to_value(value: object) -> _ffi.Value:
    """The SQLite value of ``value``; ``bool`` becomes 0/1."""
    if value is None:
        return _ffi.Value.NULL()
    if isinstance(value, bool | int):
        return _ffi.Value.INTEGER(int(value))
    if isinstance(value, float):
        return _ffi.Value.REAL(value)
    if isinstance(value, str):
        return _ffi.Value.TEXT(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return _ffi.Value.BLOB(bytes(value))
    raise TypeError(f"cannot store a {type(value).__name__} in SQLite")


def to_params(params: Sequence[object]) -> list[_ffi.Value]:
    """SQLite values of ``params``."""
    return [to_value(p) for p in params]


def from_value(value: _ffi.Value) -> SqlValue:
    """The Python value of a SQLite value."""
    if value.is_NULL():
        return None
    result: SqlValue = value.value
    return result


def from_row(row: _ffi.Row) -> Row:
    """A dict of ``row``, keyed by column name."""
    return {name: from_value(v) for name, v in zip(row.columns, row.values, strict=True)}
