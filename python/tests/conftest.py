# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures: a database, and ``psync-test-service`` (path in ``PSYNC_TEST_SERVICE``)
with a connector for it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from psync import BackendConnector, Column, Credentials, Database, Schema, Table

SCHEMA = Schema([Table("todos", [Column.text("title"), Column.integer("done")])])
LISTS = Schema([Table("lists", [Column.text("name"), Column.text("owner_id")])])


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with Database(tmp_path / "test.db", SCHEMA) as database:
        yield database


def post(url: str, body: dict[str, Any], token: str | None = None) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Token {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def service() -> Iterator[str]:
    """The URL of a fresh test service."""
    path = os.environ.get("PSYNC_TEST_SERVICE")
    if path is None:  # a missing service is a failure, never a skip
        raise RuntimeError(
            "PSYNC_TEST_SERVICE must name psync-test-service; `cargo xtask test` sets it"
        )
    process = subprocess.Popen(
        [path, "--port", "0", "--keepalive-ms", "1000"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    try:
        yield url
    finally:
        assert process.stdin is not None
        process.stdin.close()  # the service stops when stdin closes
        process.wait(timeout=10)


class Connector(BackendConnector):
    def __init__(self, url: str, fail_uploads: bool = False) -> None:
        self.url = url
        self.fail_uploads = fail_uploads
        self.token = post(f"{url}/api/auth/token", {"user_id": "u1"})["token"]
        self.uploads = 0

    async def fetch_credentials(self) -> Credentials | None:
        return Credentials(self.url, self.token)

    async def upload_data(self, database: Database) -> None:
        self.uploads += 1
        if self.fail_uploads:
            raise RuntimeError("backend unavailable")
        batch = await database.get_crud_batch()
        if batch is None:
            return
        entries = [{"op": e.op, "type": e.table, "id": e.id, "data": e.data} for e in batch.entries]
        await asyncio.to_thread(post, f"{self.url}/api/data", {"batch": entries}, self.token)
        await batch.complete()
