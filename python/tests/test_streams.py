# SPDX-License-Identifier: Apache-2.0
"""Sync streams, typed status and connect options against ``psync-test-service
--streams-example`` (an auto-subscribed ``announcements`` stream and ``list_todos``, the
todos of the list in the subscription's ``list_id`` owned by the token's user)."""

from __future__ import annotations

import asyncio
import datetime
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Connector, post

import psync
from psync import Column, Database, Schema, Table

APP = Schema(
    [
        Table("announcements", [Column.text("title")]),
        Table("lists", [Column.text("name"), Column.text("owner_id")]),
        Table(
            "todos",
            [Column.text("list_id"), Column.text("description"), Column.text("owner_id")],
        ),
    ]
)


def execute_on_service(url: str, sql: str) -> None:
    post(f"{url}/admin/source/execute", {"sql": sql, "params": []})


@pytest.fixture
def streams_service() -> Iterator[str]:
    """A test service with the streams example config and seeded rows."""
    path = os.environ.get("PSYNC_TEST_SERVICE")
    if path is None:  # a missing service is a failure, never a skip
        raise RuntimeError("PSYNC_TEST_SERVICE must name psync-test-service")
    process = subprocess.Popen(
        [path, "--port", "0", "--keepalive-ms", "1000", "--streams-example"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    try:
        for sql in [
            "INSERT INTO announcements(id, title) VALUES ('a1', 'hello')",
            "INSERT INTO lists(id, name, owner_id) VALUES ('l1', 'one', 'u1'), ('l2', 'two', 'u1')",
            "INSERT INTO todos(id, list_id, description, owner_id) VALUES"
            " ('t1', 'l1', 'a', 'u1'), ('t2', 'l1', 'b', 'u1'), ('t3', 'l2', 'c', 'u1'),"
            " ('t4', 'l1', 'not mine', 'u2')",
        ]:
            execute_on_service(url, sql)
        yield url
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=10)


async def count(db: Database, table: str) -> int:
    value = (await db.get(f"SELECT count(*) AS n FROM {table}"))["n"]
    assert isinstance(value, int)
    return value


async def eventually_count(db: Database, table: str, expected: int) -> None:
    for _ in range(200):
        if await count(db, table) == expected:
            return
        await asyncio.sleep(0.05)
    assert await count(db, table) == expected


async def test_parameterised_stream_syncs_its_rows_until_unsubscribed(
    streams_service: str, tmp_path: Path
) -> None:
    async with Database(tmp_path / "streams.db", APP) as db:
        connector = Connector(streams_service)
        await db.connect(connector, retry_delay=0.1, crud_throttle=0.01)
        await db.wait_for_first_sync(timeout=10)
        assert await count(db, "announcements") == 1
        assert await count(db, "todos") == 0
        default = db.status.for_stream("announcements")
        assert default is not None and default.is_default and default.has_synced

        stream = db.sync_stream("list_todos", {"list_id": "l1"})
        assert stream.name == "list_todos" and stream.parameters == {"list_id": "l1"}
        subscription = await stream.subscribe(ttl=1)
        await subscription.wait_for_first_sync(timeout=10)
        rows = await db.get_all("SELECT id FROM todos ORDER BY id")
        assert [r["id"] for r in rows] == ["t1", "t2"]
        status = db.status.for_stream("list_todos", {"list_id": "l1"})
        assert status is not None and status == stream.status
        assert db.status.for_stream("list_todos", {"list_id": "elsewhere"}) is None
        assert status.has_explicit_subscription and status.active and not status.is_default
        assert isinstance(status.last_synced_at, datetime.datetime)
        assert status.expires_at is not None and status.progress.fraction == 0.0

        other = db.sync_stream("list_todos", {"list_id": "l2"})
        with await other.subscribe(priority=1) as held:
            await held.wait_for_first_sync(timeout=10)
            assert await count(db, "todos") == 3
            assert other.status is not None and other.status.priority == 1
            await other.unsubscribe_all()
            await eventually_count(db, "todos", 2)

        # Releasing the handle: the rows stay until the TTL ran out and the next connect.
        subscription.unsubscribe()
        # A checkpoint synced after the release: the data is still there, and the status has
        # the released subscription's expiry.
        await (await db.request_checkpoint()).wait_for_sync(timeout=10)
        assert await count(db, "todos") == 2
        released = stream.status
        assert released is not None and released.expires_at is not None
        while datetime.datetime.now(datetime.timezone.utc) <= released.expires_at:
            await asyncio.sleep(0.05)
        await db.disconnect()
        await db.connect(connector, retry_delay=0.1)
        await eventually_count(db, "todos", 0)
        assert stream.status is None


async def test_include_default_streams_off_and_connect_options(
    streams_service: str, tmp_path: Path
) -> None:
    async with Database(tmp_path / "options.db", APP) as db:
        await db.connect(
            Connector(streams_service),
            retry_delay=0.1,
            include_default_streams=False,
            use_bson=True,
            checkpoint_mode=psync.CheckpointMode.LEGACY,
            app_metadata={"app": "streams-test"},
            params={"unused": 1},
        )
        await db.wait_for_first_sync(timeout=10)
        assert await count(db, "announcements") == 0 and await count(db, "lists") == 0
        subscription = await db.sync_stream("list_todos", {"list_id": "l1"}).subscribe()
        await subscription.wait_for_first_sync(timeout=10)
        assert await count(db, "todos") == 2
        # Legacy write checkpoints: a write uploads and syncs back without checkpoint requests.
        await db.execute(
            "INSERT INTO todos(id, list_id, description, owner_id) VALUES ('t9', 'l1', 'n', 'u1')"
        )
        await eventually_count(db, "ps_crud", 0)
        with pytest.raises(psync.SyncError):
            await db.request_checkpoint()  # checkpoint requests are off in legacy mode


async def test_typed_status_and_first_sync_waits(streams_service: str, tmp_path: Path) -> None:
    async with Database(tmp_path / "status.db", APP) as db:
        assert db.status == psync.SyncStatus(has_synced=False)
        with pytest.raises(psync.SyncTimeoutError):
            await db.wait_for_first_sync(priority=0, timeout=0.05)
        await db.connect(Connector(streams_service), retry_delay=0.1, crud_throttle=0.01)
        await db.wait_for_first_sync(priority=0, timeout=10)
        assert db.status.for_priority(0).has_synced
        await db.wait_for_first_sync(timeout=10)
        status = db.status
        assert status.has_synced and isinstance(status.last_synced_at, datetime.datetime)
        assert status.last_synced_at.tzinfo is datetime.timezone.utc
        assert status.for_priority(3).last_synced_at is not None
        assert status.priority_status == tuple(
            sorted(status.priority_status, key=lambda p: p.priority)
        )
        with pytest.raises(dataclasses_frozen_error()):
            status.connected = False  # type: ignore[misc]

        await db.execute("INSERT INTO lists(id, name, owner_id) VALUES ('l9', 'new', 'u1')")
        request = await db.request_checkpoint()
        await request.wait_for_sync(timeout=10)
        applied = db.status.last_applied_checkpoint_request_id
        assert applied is not None and applied >= request.id


async def test_errors_in_status_are_exceptions(streams_service: str, tmp_path: Path) -> None:
    async with Database(tmp_path / "errors.db", APP) as db:
        await db.connect(
            Connector(streams_service, fail_uploads=True), retry_delay=0.1, crud_throttle=0.01
        )
        await db.execute("INSERT INTO lists(id, name, owner_id) VALUES ('l9', 'new', 'u1')")

        async def first_upload_error() -> psync.SyncStatus:
            async for status in db.status_stream():
                if status.upload_error is not None:
                    return status
            raise AssertionError("status stream ended")

        status = await asyncio.wait_for(first_upload_error(), timeout=10)
        assert isinstance(status.upload_error, psync.SyncFailedError)
        assert "backend unavailable" in str(status.upload_error)
        assert status.any_error is not None


async def test_bad_stream_arguments_are_rejected(db: Database) -> None:
    with pytest.raises(psync.InvalidArgumentError):
        db.sync_stream("")
    with pytest.raises(psync.InvalidArgumentError):
        await db.sync_stream("s").subscribe(priority=-1)


def dataclasses_frozen_error() -> type[Exception]:
    import dataclasses

    return dataclasses.FrozenInstanceError


def test_download_progress_fraction() -> None:
    assert psync.DownloadProgress(5, 10).fraction == 0.5
    assert psync.DownloadProgress(0, 0).fraction == 0.0
