# SPDX-License-Identifier: Apache-2.0
"""The upload API against ``psync-test-service``: ``upload_queue_stats``, ``crud_transactions``
with typed row data, and a connector uploading transaction by transaction."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conftest import LISTS, Connector, post

from psync import Database, UploadQueueStats


class TransactionConnector(Connector):
    """Uploads through ``crud_transactions()``, one POST per local transaction."""

    async def upload_data(self, database: Database) -> None:
        self.uploads += 1
        async for transaction in database.crud_transactions():
            entries = [
                {"op": e.op, "type": e.table, "id": e.id, "data": e.data}
                for e in transaction.entries
            ]
            await asyncio.to_thread(post, f"{self.url}/api/data", {"batch": entries}, self.token)
            await transaction.complete()


async def test_queue_stats_and_transactions_then_upload(service: str, tmp_path: Path) -> None:
    async with Database(tmp_path / "queue.db", LISTS) as db:
        assert await db.upload_queue_stats() == UploadQueueStats(count=0, size=0)
        async with db.write_transaction() as tx:
            await tx.execute("INSERT INTO lists (id, name, owner_id) VALUES ('l1', 'a', 'u1')")
            await tx.execute("INSERT INTO lists (id, name, owner_id) VALUES ('l2', 'b', 'u1')")
        await db.execute("UPDATE lists SET name = 'c' WHERE id = 'l1'")

        stats = await db.upload_queue_stats()
        assert stats.count == 3
        assert stats.size > 0
        transactions = [t async for t in db.crud_transactions()]
        assert [[(e.op, e.id) for e in t.entries] for t in transactions] == [
            [("PUT", "l1"), ("PUT", "l2")],
            [("PATCH", "l1")],
        ]
        assert transactions[0].entries[1].data == {"name": "b", "owner_id": "u1"}
        assert (await db.upload_queue_stats()).count == 3  # iterating completes nothing

        connector = TransactionConnector(service)
        await db.connect(connector, retry_delay=0.2, crud_throttle=0.05)
        await (await db.request_checkpoint()).wait_for_sync(timeout=20)

        assert await db.upload_queue_stats() == UploadQueueStats(count=0, size=0)
        rows = post(f"{service}/admin/source/query", {"sql": "SELECT id, name FROM lists"})
        assert sorted(rows["rows"]) == [["l1", "c"], ["l2", "b"]]
