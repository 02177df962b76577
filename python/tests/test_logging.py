# SPDX-License-Identifier: Apache-2.0
"""Core log lines reach the standard ``logging`` logger ``psync`` with their level, against
``psync-test-service``. (That nothing reaches stderr without logging configured is checked by
test_exit.py's ``failing-upload`` process.)"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from conftest import LISTS, Connector, post

from psync import Database


async def _record(caplog: pytest.LogCaptureFixture, text: str) -> logging.LogRecord:
    """The first ``psync`` record containing ``text``, waiting up to 20 s for it."""
    for _ in range(1000):
        for record in caplog.records:
            if record.name == "psync" and text in record.getMessage():
                return record
        await asyncio.sleep(0.02)
    raise AssertionError(f"no log line with {text!r}: {caplog.records}")


async def test_failing_upload_is_logged_as_warning(
    service: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="psync")
    async with Database(tmp_path / "upload.db", LISTS) as db:
        await db.connect(Connector(service, fail_uploads=True), retry_delay=0.2, crud_throttle=0.05)
        await db.execute("INSERT INTO lists (id, name, owner_id) VALUES ('l1', 'x', 'u1')")
        record = await _record(caplog, "upload failed, retrying")
    assert record.levelno == logging.WARNING
    assert "backend unavailable" in record.getMessage()


async def test_failing_sync_stream_is_logged_as_warning(
    service: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="psync")
    post(f"{service}/admin/faults", {"faults": {"status": 500, "paths": ["/sync/stream"]}})
    async with Database(tmp_path / "stream.db", LISTS) as db:
        await db.connect(Connector(service), retry_delay=0.2)
        record = await _record(caplog, "sync iteration failed, retrying")
    assert record.levelno == logging.WARNING


async def test_sync_progress_is_logged_at_debug(
    service: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="psync")
    async with Database(tmp_path / "debug.db", LISTS) as db:
        await db.connect(Connector(service), retry_delay=0.2)
        await db.wait_for_first_sync(timeout=20)
        record = await _record(caplog, "checkpoint")
    assert record.levelno in (logging.DEBUG, logging.INFO)
