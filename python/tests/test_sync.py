# SPDX-License-Identifier: Apache-2.0
"""Syncing against ``psync-test-service`` (path in ``PSYNC_TEST_SERVICE``): connector calls,
checkpoint requests, status streams and connector failures."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import LISTS, Connector, post

import psync
from psync import Database


async def test_local_write_is_uploaded_and_checkpoint_syncs(service: str, tmp_path: Path) -> None:
    async with Database(tmp_path / "sync.db", LISTS) as db:
        connector = Connector(service)
        await db.connect(connector, retry_delay=0.2, crud_throttle=0.05)
        await db.execute("INSERT INTO lists (id, name, owner_id) VALUES ('l1', 'groceries', 'u1')")

        request = await db.request_checkpoint()
        await request.wait_for_sync(timeout=20)

        assert request.is_synced
        assert connector.uploads >= 1
        assert await db.get_crud_batch() is None
        assert await db.get("SELECT name FROM lists WHERE id = 'l1'") == {"name": "groceries"}


async def test_status_stream_reports_connected(service: str, tmp_path: Path) -> None:
    async with Database(tmp_path / "status.db", LISTS) as db:
        stream = db.status_stream()
        first = await asyncio.wait_for(stream.__anext__(), timeout=5)
        assert not first.connected

        await db.connect(Connector(service), retry_delay=0.2)
        async for status in stream:
            if status.connected:
                break
        await stream.aclose()
        await db.disconnect()


async def test_connector_exception_becomes_upload_error_without_crash(
    service: str, tmp_path: Path
) -> None:
    async with Database(tmp_path / "fail.db", LISTS) as db:
        await db.connect(Connector(service, fail_uploads=True), retry_delay=0.2, crud_throttle=0.05)
        await db.execute("INSERT INTO lists (id, name, owner_id) VALUES ('l2', 'x', 'u1')")

        async def upload_error() -> str:
            async for status in db.status_stream():
                if status.upload_error:
                    return str(status.upload_error)
            raise AssertionError("status stream ended")

        error = await asyncio.wait_for(upload_error(), timeout=20)
        assert "backend unavailable" in error
        assert await db.get_crud_batch() is not None  # the write stays queued


async def test_wait_for_sync_times_out_while_uploads_fail(service: str, tmp_path: Path) -> None:
    async with Database(tmp_path / "timeout.db", LISTS) as db:
        await db.connect(Connector(service, fail_uploads=True), retry_delay=0.2)
        await db.execute("INSERT INTO lists (id, name, owner_id) VALUES ('l3', 'x', 'u1')")

        with pytest.raises(psync.SyncError):
            request = await db.request_checkpoint()
            await request.wait_for_sync(timeout=0.5)


async def test_request_checkpoint_without_connect_fails(tmp_path: Path) -> None:
    async with Database(tmp_path / "idle.db", LISTS) as db:
        with pytest.raises(psync.SyncFailedError):
            await db.request_checkpoint()


async def test_extra_root_certificates_must_be_pem(service: str, tmp_path: Path) -> None:
    async with Database(tmp_path / "tls.db", LISTS) as db:
        with pytest.raises(psync.InvalidArgumentError, match="extra_root_certificates_pem"):
            await db.connect(Connector(service), extra_root_certificates_pem=["not a certificate"])
        assert not db.status.connected


def test_example_demo_runs_against_a_service_given_on_the_command_line(service: str) -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "demo.py"
    token = post(f"{service}/api/auth/token", {"user_id": "example-user"})["token"]
    result = subprocess.run(
        [
            sys.executable,
            str(example),
            "--endpoint",
            service,
            "--token-command",
            f"printf %s {token}",
            "--upload-url",
            f"{service}/api/data",
            "--user",
            "example-user",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "todos downloaded from the service: 2/2" in result.stdout
    assert "demo finished OK" in result.stdout
