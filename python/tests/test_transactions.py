# SPDX-License-Identifier: Apache-2.0
"""Interactive transactions on a real database file: commit, rollback, snapshots, and
transactions the host abandons (cancelled, collected, loop ended) releasing the writer."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import pytest
from conftest import SCHEMA

import psync
from psync import Database


async def insert_elsewhere(db: Database, todo_id: str) -> None:
    """An autocommit write outside the transaction: it succeeds only once the writer is free."""
    sql = "INSERT INTO todos (id, title) VALUES (?, 'other')"
    await asyncio.wait_for(db.execute(sql, [todo_id]), timeout=10)


async def ids(db: Database) -> list[object]:
    return [row["id"] for row in await db.get_all("SELECT id FROM todos ORDER BY id")]


async def test_write_transaction_commits_on_exit_and_reads_its_own_writes(db: Database) -> None:
    async with db.write_transaction() as tx:
        await tx.execute("INSERT INTO todos (id, title) VALUES ('a', 'milk')")
        assert await tx.get("SELECT title FROM todos WHERE id = 'a'") == {"title": "milk"}
        assert await tx.get_optional("SELECT * FROM todos WHERE id = 'b'") is None
        assert len(await tx.get_all("SELECT * FROM todos")) == 1
        assert await db.get_all("SELECT * FROM todos") == []  # readers see only committed data

    assert await ids(db) == ["a"]


async def test_write_transaction_rolls_back_on_exception(db: Database) -> None:
    with pytest.raises(RuntimeError, match="abort"):
        async with db.write_transaction() as tx:
            await tx.execute("INSERT INTO todos (id, title) VALUES ('a', 'milk')")
            raise RuntimeError("abort")

    assert await ids(db) == []
    await insert_elsewhere(db, "b")
    assert await ids(db) == ["b"]


async def test_failing_statement_raises_its_family_and_rolls_back(db: Database) -> None:
    with pytest.raises(psync.ConstraintError):
        async with db.write_transaction() as tx:
            await tx.execute("INSERT INTO todos (id, title) VALUES ('a', 'x')")
            await tx.execute("INSERT INTO todos (id, title) VALUES ('a', 'y')")

    assert await ids(db) == []


async def test_read_transaction_is_a_snapshot(db: Database) -> None:
    await db.execute("INSERT INTO todos (id, title) VALUES ('a', 'x')")
    async with db.read_transaction() as tx:
        assert len(await tx.get_all("SELECT * FROM todos")) == 1
        await insert_elsewhere(db, "b")
        assert len(await tx.get_all("SELECT * FROM todos")) == 1
        with pytest.raises(psync.DatabaseError):
            await tx.execute("INSERT INTO todos (id, title) VALUES ('c', 'x')")

    assert await ids(db) == ["a", "b"]


async def test_a_cancelled_task_rolls_back_and_frees_the_writer(db: Database) -> None:
    inside = asyncio.Event()

    async def hold() -> None:
        async with db.write_transaction() as tx:
            await tx.execute("INSERT INTO todos (id, title) VALUES ('a', 'x')")
            inside.set()
            await asyncio.Event().wait()

    task = asyncio.ensure_future(hold())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    await insert_elsewhere(db, "b")
    assert await ids(db) == ["b"]


async def test_a_collected_transaction_rolls_back_and_frees_the_writer(db: Database) -> None:
    scope = db.write_transaction()
    tx = await scope.__aenter__()  # entered, never exited: the host forgot it
    await tx.execute("INSERT INTO todos (id, title) VALUES ('a', 'x')")
    del scope, tx
    gc.collect()

    await insert_elsewhere(db, "b")
    assert await ids(db) == ["b"]


def test_a_transaction_left_open_when_the_loop_ends_rolls_back(tmp_path: Path) -> None:
    with Database(tmp_path / "loop.db", SCHEMA) as db:

        async def main() -> None:
            inside = asyncio.Event()

            async def hold() -> None:
                async with db.write_transaction() as tx:
                    await tx.execute("INSERT INTO todos (id, title) VALUES ('a', 'x')")
                    inside.set()
                    await asyncio.Event().wait()

            holding = asyncio.ensure_future(hold())  # still running when main returns
            await inside.wait()
            assert not holding.done()

        asyncio.run(main())

        async def afterwards() -> list[object]:
            await insert_elsewhere(db, "b")
            return await ids(db)

        assert asyncio.run(afterwards()) == ["b"]


async def test_calls_after_the_transaction_ended_fail(db: Database) -> None:
    async with db.write_transaction() as tx:
        pass
    with pytest.raises(psync.InvalidArgumentError, match="ended"):
        await tx.execute("SELECT 1")


async def test_close_ends_a_forgotten_transaction(tmp_path: Path) -> None:
    db = Database(tmp_path / "forgotten.db", SCHEMA)
    scope = db.write_transaction()
    tx = await scope.__aenter__()
    await tx.execute("INSERT INTO todos (id, title) VALUES ('a', 'x')")
    await asyncio.wait_for(db.aclose(), timeout=10)

    with Database(tmp_path / "forgotten.db", SCHEMA) as reopened:
        assert await ids(reopened) == []


async def test_a_write_waiting_for_the_writer_does_not_block_the_event_loop(db: Database) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(ticker())
    async with db.write_transaction() as tx:
        await tx.execute("INSERT INTO todos (id, title) VALUES ('held', 'x')")
        waiting = asyncio.create_task(insert_elsewhere(db, "waiting"))
        before = ticks
        while ticks - before < 10:  # the loop runs other tasks while the write waits
            await asyncio.sleep(0.01)
        # The write waits on a psync thread; the loop kept running other tasks meanwhile.
        assert not waiting.done()
        assert ticks - before >= 10
    await waiting
    ticking.cancel()
    assert await ids(db) == ["held", "waiting"]
