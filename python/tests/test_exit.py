# SPDX-License-Identifier: Apache-2.0
"""A process that exits while a database is connected (no ``close()``) exits cleanly: code 0,
nothing on stderr, the database closed and every local write kept."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import LISTS, Connector

from psync import Database

SCRIPT = Path(__file__).parent / "scripts" / "connected_process.py"
RUNS = 3


@pytest.mark.parametrize(
    "mode", ["dropped", "alive", "upload", "listeners", "exit", "failing-upload", "collected"]
)
async def test_process_exits_cleanly_while_connected(
    service: str, tmp_path: Path, mode: str
) -> None:
    paths = [tmp_path / f"{mode}-{run}.db" for run in range(RUNS)]
    # Concurrently: the runs share the service and the machine, which only adds pressure.
    processes = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), service, str(path), mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in paths
    ]
    for path, process in zip(paths, processes, strict=True):
        stdout, stderr = process.communicate(timeout=60)

        assert process.returncode == 0, stderr
        assert stderr == ""
        assert stdout == "connected\n"
        # Closed at exit, not abandoned: the last connection folded the WAL back in.
        assert not Path(f"{path}-wal").exists()
        if mode in ("upload", "failing-upload"):
            with Database(path, LISTS) as db:
                batch = await db.get_crud_batch()
                assert batch is not None
                assert [entry.id for entry in batch.entries] == ["queued"]


def test_syncing_stops_when_its_event_loop_ends(service: str, tmp_path: Path) -> None:
    # The connector runs on the loop that called connect(): when asyncio.run ends it, syncing
    # stops first, so no psync thread meets a closed loop.
    with Database(tmp_path / "loop.db", LISTS) as db:

        async def connect_and_sync() -> None:
            await db.connect(Connector(service), retry_delay=0.2)
            request = await db.request_checkpoint()
            await request.wait_for_sync(timeout=20)

        asyncio.run(connect_and_sync())

        assert not db.status.connected
        assert not db.status.connecting
