# SPDX-License-Identifier: Apache-2.0
"""Wrapper behaviour: values, errors, lifetimes, listeners and the upload queue."""

from __future__ import annotations

import asyncio
import gc
import threading
from pathlib import Path

import pytest
from conftest import SCHEMA

import psync
from psync import Database


async def test_values_of_every_type_round_trip(db: Database) -> None:
    row = await db.get(
        "SELECT ? AS n, ? AS i, ? AS r, ? AS t, ? AS b", [None, 7, 1.5, "x", b"\x00"]
    )

    assert row == {"n": None, "i": 7, "r": 1.5, "t": "x", "b": b"\x00"}


async def test_unsupported_parameter_type_is_a_type_error(db: Database) -> None:
    with pytest.raises(TypeError):
        await db.execute("SELECT ?", [object()])


async def test_sql_error_is_a_database_error_with_sqlite_text(db: Database) -> None:
    with pytest.raises(psync.DatabaseError, match="no such table"):
        await db.get_all("SELECT * FROM missing")


async def test_write_batch_applies_all_or_nothing(db: Database) -> None:
    with pytest.raises(psync.DatabaseError):
        await db.write_batch(
            [
                ("INSERT INTO todos (id, title) VALUES ('1', 'a')", []),
                ("INSERT INTO missing VALUES (1)", []),
            ]
        )

    assert await db.get_all("SELECT * FROM todos") == []


async def test_execute_batch_runs_one_statement_for_every_parameter_set(db: Database) -> None:
    sets = [[str(i), f"todo {i}", i % 2 == 0] for i in range(1000)]
    await db.execute_batch("INSERT INTO todos (id, title, done) VALUES (?, ?, ?)", sets)

    assert await db.get("SELECT count(*) AS n, sum(done) AS d FROM todos") == {"n": 1000, "d": 500}
    assert await db.get("SELECT title FROM todos WHERE id = '7'") == {"title": "todo 7"}


async def test_execute_batch_is_all_or_nothing(db: Database) -> None:
    with pytest.raises(psync.DatabaseError):
        await db.execute_batch(
            "INSERT INTO todos (id, title) VALUES (?, ?)", [("a", "x"), ("b", "y"), ("a", "z")]
        )

    assert await db.get_all("SELECT * FROM todos") == []


async def test_execute_batch_takes_bytes_through_the_typed_path(db: Database) -> None:
    await db.execute("CREATE TABLE local_blobs (k INTEGER, b BLOB)")
    result = await db.execute_batch(
        "INSERT INTO local_blobs VALUES (?, ?)", [(1, b"\x00\xff"), (2, None)]
    )

    assert result.rows_affected == 2  # a plain table: rows written by view triggers not counted

    assert await db.get_all("SELECT k, b FROM local_blobs ORDER BY k") == [
        {"k": 1, "b": b"\x00\xff"},
        {"k": 2, "b": None},
    ]


async def test_execute_batch_rejects_integers_beyond_64_bits(db: Database) -> None:
    with pytest.raises(psync.InvalidArgumentError, match="64 bits"):
        await db.execute_batch("INSERT INTO todos (id, done) VALUES (?, ?)", [("x", 2**63)])
    with pytest.raises(psync.InvalidArgumentError, match="64 bits"):
        await db.execute_batch("INSERT INTO todos (id, done) VALUES (?, ?)", [("x", 2**64)])
    assert await db.get_all("SELECT * FROM todos") == []


async def test_closing_twice_is_allowed_and_use_after_close_raises(tmp_path: Path) -> None:
    db = Database(tmp_path / "c.db", SCHEMA)

    db.close()
    db.close()

    assert db.closed
    with pytest.raises(psync.ClosedError):
        await db.get_all("SELECT 1")


def test_context_manager_closes(tmp_path: Path) -> None:
    with Database(tmp_path / "cm.db", SCHEMA) as db:
        pass

    assert db.closed


def test_invalid_schema_raises_invalid_argument(tmp_path: Path) -> None:
    bad = psync.Schema([SCHEMA.tables[0], SCHEMA.tables[0]])

    with pytest.raises(psync.InvalidArgumentError):
        Database(tmp_path / "bad.db", bad)


async def test_change_callback_runs_on_a_psync_thread(db: Database) -> None:
    seen: list[tuple[int, set[str]]] = []
    called = threading.Event()

    def callback(tables: set[str]) -> None:
        seen.append((threading.get_ident(), tables))
        called.set()

    with db.on_change(callback):
        await db.execute("INSERT INTO todos (id, title) VALUES (uuid(), 'a')")
        assert called.wait(5)

    thread, tables = seen[0]
    assert thread != threading.get_ident()
    assert "todos" in tables


async def test_cancelled_subscription_stops_callbacks(db: Database) -> None:
    calls: list[set[str]] = []
    subscription = db.on_change(calls.append)

    subscription.cancel()
    subscription.cancel()
    await db.execute("INSERT INTO todos (id, title) VALUES (uuid(), 'a')")

    assert not threading.Event().wait(0.3)
    assert calls == []


async def test_failing_callback_does_not_break_later_writes(db: Database) -> None:
    called = threading.Event()

    def failing(tables: set[str]) -> None:
        called.set()
        raise RuntimeError("host bug")

    with db.on_change(failing):
        await db.execute("INSERT INTO todos (id, title) VALUES (uuid(), 'a')")
        assert called.wait(5)
        await db.execute("INSERT INTO todos (id, title) VALUES (uuid(), 'b')")

    assert await db.get("SELECT count(*) AS n FROM todos") == {"n": 2}


async def test_table_changes_arrive_on_the_event_loop(db: Database) -> None:
    changes = db.table_changes()
    first = asyncio.ensure_future(changes.__anext__())
    await asyncio.sleep(0)  # one loop turn runs the generator to its first await: listening

    await db.execute("INSERT INTO todos (id, title) VALUES (uuid(), 'a')")

    tables = await asyncio.wait_for(first, timeout=5)
    assert "todos" in tables
    await changes.aclose()


async def test_upload_queue_entries_complete(db: Database) -> None:
    await db.execute("INSERT INTO todos (id, title, done) VALUES ('t1', 'milk', 0)")

    batch = await db.get_crud_batch()
    assert batch is not None
    assert [(e.op, e.table, e.id, e.data) for e in batch.entries] == [
        ("PUT", "todos", "t1", {"title": "milk", "done": 0})
    ]
    await batch.complete()

    assert await db.get_crud_batch() is None


def _open_files() -> int:
    return len(list(Path("/proc/self/fd").iterdir()))


async def test_thousand_databases_opened_and_dropped_do_not_leak(tmp_path: Path) -> None:
    path = tmp_path / "leak.db"
    Database(path, SCHEMA).close()
    gc.collect()
    before = _open_files()

    for _ in range(1000):
        db = Database(path, SCHEMA)
        await db.get_optional("SELECT 1 AS one")
        db.close()
        del db
    gc.collect()

    assert _open_files() <= before + 2


async def test_watch_yields_rows_now_and_after_a_write(db: Database) -> None:
    rows = db.watch("SELECT title FROM todos")
    assert await asyncio.wait_for(rows.__anext__(), timeout=5) == []

    await db.execute("INSERT INTO todos (id, title) VALUES (uuid(), 'a')")

    assert await asyncio.wait_for(rows.__anext__(), timeout=5) == [{"title": "a"}]
    await rows.aclose()
