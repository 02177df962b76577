# SPDX-License-Identifier: Apache-2.0
"""One syncing instance per database file: a second ``connect()`` on the same file fails with an
error naming it, whether from this process or another, until the first one stops or dies."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import LISTS, Connector

import psync
from psync import Database

SCRIPT = Path(__file__).parent / "scripts" / "connected_process.py"


async def test_second_database_on_the_same_file_cannot_connect(
    service: str, tmp_path: Path
) -> None:
    path = tmp_path / "shared.db"
    async with Database(path, LISTS) as first, Database(path, LISTS) as second:
        await first.connect(Connector(service), retry_delay=0.2)
        with pytest.raises(psync.SyncFailedError, match=re.escape(f"{path} is already syncing")):
            await second.connect(Connector(service), retry_delay=0.2)
        assert not second.status.connecting

        await first.disconnect()
        await second.connect(Connector(service), retry_delay=0.2)
        request = await second.request_checkpoint()
        await request.wait_for_sync(timeout=20)
        with pytest.raises(psync.SyncFailedError, match="already syncing"):
            await first.connect(Connector(service), retry_delay=0.2)


async def test_lock_of_a_killed_process_is_released(service: str, tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    holder = subprocess.Popen(
        [sys.executable, str(SCRIPT), service, str(path), "hold"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "connected\n"
        async with Database(path, LISTS) as db:
            with pytest.raises(psync.SyncFailedError, match="already syncing"):
                await db.connect(Connector(service), retry_delay=0.2)

            holder.send_signal(signal.SIGKILL)
            assert holder.wait(timeout=10) == -signal.SIGKILL
            await db.connect(Connector(service), retry_delay=0.2)
            request = await db.request_checkpoint()
            await request.wait_for_sync(timeout=20)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)
