# SPDX-License-Identifier: Apache-2.0
"""``disconnect_and_clear`` after syncing with ``psync-test-service``: synced rows, queued writes
and (by default) local-only rows are gone."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Connector

from psync import Column, Database, Schema, Table

SCHEMA = Schema(
    [
        Table("lists", [Column.text("name"), Column.text("owner_id")]),
        Table("drafts", [Column.text("body")], local_only=True),
    ]
)


async def counts(db: Database) -> tuple[object, object, object]:
    lists = await db.get("SELECT count(*) AS n FROM lists")
    drafts = await db.get("SELECT count(*) AS n FROM drafts")
    queued = await db.get("SELECT count(*) AS n FROM ps_crud")
    return lists["n"], drafts["n"], queued["n"]


@pytest.mark.parametrize(("clear_local", "drafts_left"), [(True, 0), (False, 1)])
async def test_disconnect_and_clear_after_sync(
    service: str, tmp_path: Path, clear_local: bool, drafts_left: int
) -> None:
    async with Database(tmp_path / "logout.db", SCHEMA) as db:
        await db.connect(Connector(service), retry_delay=0.2, crud_throttle=0.05)
        await db.execute("INSERT INTO lists (id, name, owner_id) VALUES ('l1', 'synced', 'u1')")
        await (await db.request_checkpoint()).wait_for_sync(timeout=20)
        await db.execute("INSERT INTO drafts (id, body) VALUES ('d1', 'local only')")
        await db.disconnect()
        await db.execute("INSERT INTO lists (id, name, owner_id) VALUES ('l2', 'queued', 'u1')")
        assert await counts(db) == (2, 1, 1)

        await db.disconnect_and_clear(clear_local=clear_local)

        assert await counts(db) == (0, drafts_left, 0)
        assert not db.status.connected
