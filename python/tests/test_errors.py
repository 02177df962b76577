# SPDX-License-Identifier: Apache-2.0
"""One exception class per outcome: the ``request_checkpoint`` outcomes against
``psync-test-service`` and the database error families against a real SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import LISTS, Connector, post

import psync
from psync import Database


async def test_request_checkpoint_without_connect_is_not_connected(tmp_path: Path) -> None:
    async with Database(tmp_path / "idle.db", LISTS) as db:
        with pytest.raises(psync.NotConnectedError, match="not connected"):
            await db.request_checkpoint()


async def test_service_answering_404_is_checkpoint_not_supported(
    service: str, tmp_path: Path
) -> None:
    post(f"{service}/admin/faults", {"faults": {"checkpoint_request_not_found": True}})
    async with Database(tmp_path / "old-service.db", LISTS) as db:
        await db.connect(Connector(service), retry_delay=0.2)
        with pytest.raises(psync.CheckpointNotSupportedError):
            await db.request_checkpoint()


async def test_service_answering_401_is_unauthenticated(service: str, tmp_path: Path) -> None:
    async with Database(tmp_path / "unauthenticated.db", LISTS) as db:
        await db.connect(Connector(service), retry_delay=0.2)
        await (await db.request_checkpoint()).wait_for_sync(timeout=20)
        post(
            f"{service}/admin/faults",
            {"faults": {"status": 401, "paths": ["/sync/checkpoint-request"]}},
        )
        with pytest.raises(psync.UnauthenticatedError):
            await db.request_checkpoint()


async def test_wait_while_replication_is_paused_times_out(service: str, tmp_path: Path) -> None:
    async with Database(tmp_path / "paused.db", LISTS) as db:
        await db.connect(Connector(service), retry_delay=0.2, crud_throttle=0.05)
        post(f"{service}/admin/replication", {"paused": True})
        await db.execute("INSERT INTO lists (id, name, owner_id) VALUES ('l1', 'x', 'u1')")
        request = await db.request_checkpoint()
        with pytest.raises(psync.SyncTimeoutError):
            await request.wait_for_sync(timeout=0.3)


async def test_wait_ended_by_close_is_closed(service: str, tmp_path: Path) -> None:
    db = Database(tmp_path / "closing.db", LISTS)
    await db.connect(Connector(service), retry_delay=0.2, crud_throttle=0.05)
    post(f"{service}/admin/replication", {"paused": True})
    await db.execute("INSERT INTO lists (id, name, owner_id) VALUES ('l1', 'x', 'u1')")
    request = await db.request_checkpoint()
    waiting = asyncio.ensure_future(request.wait_for_sync(timeout=20))
    await asyncio.sleep(0)  # one loop turn: the wait has started
    await db.aclose()
    with pytest.raises(psync.ClosedError):
        await waiting


async def test_a_timed_out_request_is_cancelled_not_closed(service: str, tmp_path: Path) -> None:
    async with Database(tmp_path / "cancelled.db", LISTS) as db:
        await db.connect(Connector(service), retry_delay=0.2)
        await (await db.request_checkpoint()).wait_for_sync(timeout=20)
        delay = {"delay_ms": 5000, "paths": ["/sync/checkpoint-request"]}
        post(f"{service}/admin/faults", {"faults": delay})
        with pytest.raises(TimeoutError) as raised:
            await asyncio.wait_for(db.request_checkpoint(), timeout=0.3)
        assert not isinstance(raised.value, psync.SyncError)
        await db.execute("INSERT INTO lists (id, name) VALUES ('after', 'x')")


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        ("INSERT INTO lists (id, name) VALUES ('dup', 'again')", psync.ConstraintError),
        ("SELEC 1", psync.SqlError),
        ("SELECT * FROM missing", psync.SqlError),
        ("SELECT ?", psync.SqlError),
    ],
)
async def test_database_errors_have_their_family(tmp_path: Path, sql: str, error: type) -> None:
    with Database(tmp_path / "families.db", LISTS) as db:
        await db.execute("INSERT INTO lists (id, name) VALUES ('dup', 'first')")
        with pytest.raises(error) as raised:
            await db.execute(sql)
        assert isinstance(raised.value, psync.DatabaseError)


async def test_get_without_row_is_no_rows(tmp_path: Path) -> None:
    with Database(tmp_path / "empty.db", LISTS) as db:
        with pytest.raises(psync.NoRowsError):
            await db.get("SELECT * FROM lists")
        with pytest.raises(LookupError):
            await db.get("SELECT * FROM lists")


async def test_write_while_another_connection_holds_the_lock_is_busy(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    async with Database(path, LISTS) as holder, Database(path, LISTS, busy_timeout=0.1) as blocked:
        async with holder.write_transaction() as tx:
            await tx.execute("INSERT INTO lists (id, name) VALUES ('held', 'x')")
            with pytest.raises(psync.DatabaseBusyError, match="locked"):
                await blocked.execute("INSERT INTO lists (id, name) VALUES ('blocked', 'y')")
        # Once the lock is released the same write goes through.
        await blocked.execute("INSERT INTO lists (id, name) VALUES ('blocked', 'y')")


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_a_bad_busy_timeout_is_an_invalid_argument_and_creates_no_file(
    tmp_path: Path, bad: float
) -> None:
    path = tmp_path / "never.db"
    with pytest.raises(psync.InvalidArgumentError, match="busy_timeout"):
        Database(path, LISTS, busy_timeout=bad)
    assert not path.exists()
