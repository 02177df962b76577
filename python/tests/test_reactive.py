# SPDX-License-Identifier: Apache-2.0
"""Reactive queries: ``watch`` re-runs only for tables it reads, throttled; ``table_changes``
reports the app's table names and filters by table, for local writes and synced data."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conftest import LISTS, Connector, post

from psync import Column, Database, Schema, Table

SCHEMA = Schema(
    [
        Table("lists", [Column.text("name"), Column.text("owner_id")]),
        Table("notes", [Column.text("body")], local_only=True),
    ]
)


async def test_watch_ignores_tables_it_does_not_read(tmp_path: Path) -> None:
    async with Database(tmp_path / "watch.db", SCHEMA) as db:
        rows = db.watch("SELECT name FROM lists ORDER BY name", throttle=0)
        assert await asyncio.wait_for(rows.__anext__(), timeout=5) == []

        await db.execute("INSERT INTO notes (id, body) VALUES ('n1', 'unrelated')")
        await db.execute("INSERT INTO lists (id, name) VALUES ('l1', 'a')")

        # The first result after the writes is the lists change, not a re-run for notes.
        assert await asyncio.wait_for(rows.__anext__(), timeout=5) == [{"name": "a"}]
        await rows.aclose()


async def test_watch_throttles_a_burst_of_commits(tmp_path: Path) -> None:
    async with Database(tmp_path / "throttle.db", SCHEMA) as db:
        rows = db.watch("SELECT count(*) AS n FROM lists", throttle=0.5)
        assert await asyncio.wait_for(rows.__anext__(), timeout=5) == [{"n": 0}]

        for i in range(10):
            await db.execute("INSERT INTO lists (id, name) VALUES (?, 'x')", [f"l{i}"])
        results = []
        while not results or results[-1] != [{"n": 10}]:
            results.append(await asyncio.wait_for(rows.__anext__(), timeout=5))

        assert len(results) <= 2, results  # not one result per commit
        await rows.aclose()


async def test_table_changes_use_app_names_and_filter(tmp_path: Path) -> None:
    async with Database(tmp_path / "changes.db", SCHEMA) as db:
        changes = db.table_changes(tables=["lists"])
        first = asyncio.ensure_future(changes.__anext__())
        await asyncio.sleep(0)  # one loop turn runs the generator to its first await: listening

        await db.execute("INSERT INTO notes (id, body) VALUES ('n1', 'filtered out')")
        await db.execute("INSERT INTO lists (id, name) VALUES ('l1', 'reported')")

        assert await asyncio.wait_for(first, timeout=5) == {"lists"}
        await changes.aclose()


async def test_watch_sees_rows_synced_from_the_service(service: str, tmp_path: Path) -> None:
    async with Database(tmp_path / "synced.db", LISTS) as db:
        rows = db.watch("SELECT name FROM lists", throttle=0)
        assert await asyncio.wait_for(rows.__anext__(), timeout=5) == []
        await db.connect(Connector(service), retry_delay=0.2)

        post(
            f"{service}/admin/source/execute",
            {"sql": "INSERT INTO lists (id, name, owner_id) VALUES ('s1', 'from server', 'u1')"},
        )

        async def synced() -> None:
            async for result in rows:
                if result == [{"name": "from server"}]:
                    return

        await asyncio.wait_for(synced(), timeout=20)
        await rows.aclose()
