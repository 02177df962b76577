# SPDX-License-Identifier: Apache-2.0
"""Run by test_exit.py and test_sync_lock.py as their own process: connects, syncs for a second,
prints whether it is connected, then lets the interpreter exit without ``close()``.
Usage: ``connected_process.py <service url> <db path> <mode>``.

Modes: ``dropped`` (the database is garbage once ``main`` returns), ``alive`` (still referenced
at exit), ``upload`` (alive, with an upload still running on the closed loop), ``listeners``
(alive, with change/status/query listeners registered), ``exit`` (``sys.exit`` while
connected), ``failing-upload`` (the connector raises on every upload; nothing may reach
stderr), ``collected`` (first a database that synced, closed and became garbage on this loop;
calling into it afterwards was a use-after-free) and ``hold`` (stays connected until killed).
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import urllib.request

from psync import BackendConnector, Column, Credentials, Database, Schema, Table

URL, PATH, MODE = sys.argv[1], sys.argv[2], sys.argv[3]
SCHEMA = Schema([Table("lists", [Column.text("name"), Column.text("owner_id")])])
KEPT: list[object] = []


def _token() -> str:
    request = urllib.request.Request(
        f"{URL}/api/auth/token", data=json.dumps({"user_id": "u1"}).encode(), method="POST"
    )
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["token"])


class Connector(BackendConnector):
    def __init__(self, hang_uploads: bool, fail_uploads: bool) -> None:
        self.token = _token()
        self.hang_uploads = hang_uploads
        self.fail_uploads = fail_uploads
        self.upload_started = asyncio.Event()

    async def fetch_credentials(self) -> Credentials | None:
        return Credentials(URL, self.token)

    async def upload_data(self, database: Database) -> None:
        self.upload_started.set()
        if self.fail_uploads:
            raise RuntimeError("backend unavailable")
        if self.hang_uploads:
            await asyncio.Event().wait()  # never returns: still running when the loop closes


async def synced_then_collected() -> None:
    """A connected database that synced, closed, and collected while the loop runs on."""
    db = Database(f"{PATH}-first.db", SCHEMA)
    await db.connect(Connector(hang_uploads=False, fail_uploads=False), retry_delay=0.1)
    await db.wait_for_first_sync(timeout=30)
    await db.aclose()
    del db
    gc.collect()
    await asyncio.sleep(0.2)  # whatever the collection scheduled on this loop runs now


async def main() -> None:
    if MODE == "collected":
        await synced_then_collected()
    db = Database(PATH, SCHEMA)
    connector = Connector(hang_uploads=MODE == "upload", fail_uploads=MODE == "failing-upload")
    await db.connect(connector, retry_delay=0.1, crud_throttle=0.01)
    if MODE != "dropped":
        KEPT.append(db)
    if MODE == "upload":
        await db.execute("INSERT INTO lists (id, name, owner_id) VALUES ('queued', 'x', 'u1')")
        await asyncio.wait_for(connector.upload_started.wait(), timeout=10)
    if MODE == "failing-upload":
        await db.execute("INSERT INTO lists (id, name, owner_id) VALUES ('queued', 'x', 'u1')")
        for _ in range(3):  # several failed rounds (retry_delay is 0.1 s)
            connector.upload_started.clear()
            await asyncio.wait_for(connector.upload_started.wait(), timeout=10)
        assert "backend unavailable" in str(db.status.upload_error)
    if MODE == "listeners":
        KEPT.append(db.on_change(lambda tables: None))
        statuses = db.status_stream()
        await statuses.__anext__()
        KEPT.append(statuses)
        rows = db.watch("SELECT count(*) AS n FROM lists")
        await rows.__anext__()
        KEPT.append(rows)
        await db.execute("INSERT INTO lists (id, name, owner_id) VALUES ('l1', 'x', 'u1')")
    # Connected (which may take a while on a busy machine), then a second of syncing.
    deadline = asyncio.get_running_loop().time() + 30
    while not db.status.connected and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    await asyncio.sleep(1)
    print("connected" if db.status.connected else "not connected", flush=True)
    if MODE == "exit":
        sys.exit(0)
    if MODE == "hold":
        await asyncio.sleep(3600)  # until killed


asyncio.run(main())
