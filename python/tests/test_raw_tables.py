# SPDX-License-Identifier: Apache-2.0
"""Raw tables: rows synced from ``psync-test-service`` land in the app's own table through the
schema's put/delete statements."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conftest import Connector, post

from psync import Database, RawParam, RawStatement, RawTable, Schema

SCHEMA = Schema(
    raw_tables=[
        RawTable(
            "lists",
            table_name="my_lists",
            put=RawStatement(
                "INSERT OR REPLACE INTO my_lists (id, name) VALUES (?, ?)",
                [RawParam.ID, RawParam.column("name")],
            ),
            delete=RawStatement("DELETE FROM my_lists WHERE id = ?", [RawParam.ID]),
        )
    ]
)


async def test_synced_rows_use_the_put_and_delete_statements(service: str, tmp_path: Path) -> None:
    async with Database(tmp_path / "raw.db", SCHEMA) as db:
        await db.execute("CREATE TABLE my_lists (id TEXT PRIMARY KEY, name TEXT)")
        rows = db.watch("SELECT id, name FROM my_lists", throttle=0)
        assert await asyncio.wait_for(rows.__anext__(), timeout=5) == []
        await db.connect(Connector(service), retry_delay=0.2)

        async def until(expected: list[dict[str, object]]) -> None:
            async for result in rows:
                if result == expected:
                    return

        insert = "INSERT INTO lists (id, name, owner_id) VALUES ('r1', 'raw', 'u1')"
        post(f"{service}/admin/source/execute", {"sql": insert})
        await asyncio.wait_for(until([{"id": "r1", "name": "raw"}]), timeout=20)

        post(f"{service}/admin/source/execute", {"sql": "DELETE FROM lists WHERE id = 'r1'"})
        await asyncio.wait_for(until([]), timeout=20)
        await rows.aclose()
