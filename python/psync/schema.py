# SPDX-License-Identifier: Apache-2.0
"""The app schema: tables, columns and indexes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from psync import _ffi

ColumnType = Literal["text", "integer", "real"]


@dataclass(frozen=True)
class Column:
    """A column besides the implicit text ``id``."""

    name: str
    type: ColumnType = "text"

    @staticmethod
    def text(name: str) -> Column:
        """A text column."""
        return Column(name, "text")

    @staticmethod
    def integer(name: str) -> Column:
        """An integer column."""
        return Column(name, "integer")

    @staticmethod
    def real(name: str) -> Column:
        """A real (float) column."""
        return Column(name, "real")


@dataclass(frozen=True)
class Index:
    """An index over columns; prefix a name with ``-`` to sort it descending."""

    name: str
    columns: Sequence[str]


@dataclass(frozen=True)
class Table:
    """One synced (or local-only) table, queried through a view of the same name."""

    name: str
    columns: Sequence[Column]
    indexes: Sequence[Index] = ()
    view_name: str | None = None
    local_only: bool = False
    insert_only: bool = False
    include_metadata: bool = False
    include_old: bool | Sequence[str] = False
    include_old_only_when_changed: bool = False
    ignore_empty_update: bool = False

    def _to_ffi(self) -> _ffi.Table:
        types = {c.name: c.type for c in self.columns}
        include_old: _ffi.IncludeOld | None
        if self.include_old is True:
            include_old = _ffi.IncludeOld.ALL()
        elif self.include_old is False:
            include_old = None
        else:
            include_old = _ffi.IncludeOld.COLUMNS(list(self.include_old))
        return _ffi.Table(
            name=self.name,
            columns=[_ffi.Column(name=c.name, column_type=c.type) for c in self.columns],
            indexes=[
                _ffi.Index(
                    name=i.name,
                    columns=[
                        _ffi.IndexedColumn(
                            name=c.lstrip("-"),
                            ascending=not c.startswith("-"),
                            column_type=types.get(c.lstrip("-"), "text"),
                        )
                        for c in i.columns
                    ],
                )
                for i in self.indexes
            ],
            view_name=self.view_name,
            local_only=self.local_only,
            insert_only=self.insert_only,
            include_metadata=self.include_metadata,
            include_old=include_old,
            include_old_only_when_changed=self.include_old_only_when_changed,
            ignore_empty_update=self.ignore_empty_update,
        )


@dataclass(frozen=True)
class RawParam:
    """What a raw-table statement binds to one ``?``: :attr:`ID`, :attr:`REST` (a JSON object of
    the synced values not bound by name) or :meth:`column`."""

    kind: str
    name: str | None = None

    ID: ClassVar[RawParam]
    REST: ClassVar[RawParam]

    @staticmethod
    def column(name: str) -> RawParam:
        """One column of the synced row."""
        return RawParam("column", name)

    def _to_ffi(self) -> _ffi.RawParam:
        if self.kind == "id":
            return _ffi.RawParam.ID()
        if self.kind == "rest":
            return _ffi.RawParam.REST()
        if self.kind == "column" and self.name is not None:
            return _ffi.RawParam.COLUMN(self.name)
        raise ValueError(f"unknown raw table parameter {self.kind!r}")


RawParam.ID = RawParam("id")
RawParam.REST = RawParam("rest")


@dataclass(frozen=True)
class RawStatement:
    """SQL run for a synced row of a raw table, with what to bind to each ``?``."""

    sql: str
    params: Sequence[RawParam]

    def _to_ffi(self) -> _ffi.RawStatement:
        return _ffi.RawStatement(sql=self.sql, params=[p._to_ffi() for p in self.params])


@dataclass(frozen=True)
class RawTable:
    """A table the app creates and owns: synced rows of type ``name`` are written to it with
    ``put``/``delete`` (inferred from the columns of ``table_name`` when absent)."""

    name: str
    table_name: str | None = None
    synced_columns: Sequence[str] | None = None
    put: RawStatement | None = None
    delete: RawStatement | None = None

    def _to_ffi(self) -> _ffi.RawTable:
        return _ffi.RawTable(
            name=self.name,
            table_name=self.table_name,
            synced_columns=None if self.synced_columns is None else list(self.synced_columns),
            put=None if self.put is None else self.put._to_ffi(),
            delete=None if self.delete is None else self.delete._to_ffi(),
        )


@dataclass(frozen=True)
class Schema:
    """The tables of an app, and its raw tables."""

    tables: Sequence[Table] = field(default_factory=tuple)
    raw_tables: Sequence[RawTable] = field(default_factory=tuple)

    def _to_ffi(self) -> _ffi.Schema:
        return _ffi.Schema(
            tables=[t._to_ffi() for t in self.tables],
            raw_tables=[r._to_ffi() for r in self.raw_tables],
        )
