# SPDX-License-Identifier: Apache-2.0
"""The psync Python package doing one benchmark task against a running psync-test-service.

Run by ``cargo xtask bench`` (with a release wheel in its own venv) in a fresh process with an
empty database file, next to the official Node.js client (``bench/peer/bench.mjs``) and the
psync Rust client (``psync-bench-side``), which take the same command line::

    python side.py sync  <service url> <rows expected> <checkpoint requests>
    python side.py write <single|transaction|batch> <rows>

Prints one line ``RESULT key=value ...`` on stdout. ``transaction`` is
``async with db.write_transaction()`` with one ``tx.execute`` per row, like the official
client's ``writeTransaction`` loop.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from psync import BackendConnector, Column, Credentials, Database, Schema, Table

# The test service's built-in config syncs `lists` rows owned by the token's user.
USER = "bench-user"
FIRST_SYNC_TIMEOUT_S = 900.0
INSERT = "INSERT INTO lists(id, name, owner_id, created_at) VALUES (?, ?, ?, ?)"

SCHEMA = Schema(
    [
        Table("lists", [Column.text("name"), Column.text("owner_id"), Column.text("created_at")]),
        Table(
            "todos",
            [
                Column.text("list_id"),
                Column.text("description"),
                Column.integer("completed"),
                Column.text("owner_id"),
                Column.text("created_at"),
            ],
        ),
        Table(
            "announcements",
            [Column.text("title"), Column.text("body"), Column.text("created_at")],
        ),
    ]
)


class ServiceConnector(BackendConnector):
    """Tokens from the service's dev endpoint; the sync task makes no local writes."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _token(self) -> str:
        request = urllib.request.Request(
            f"{self.url}/api/auth/token",
            data=json.dumps({"user_id": USER}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return str(json.load(response)["token"])

    async def fetch_credentials(self) -> Credentials | None:
        return Credentials(self.url, await asyncio.to_thread(self._token))

    async def upload_data(self, database: Database) -> None:
        return None


def peak_rss_kib() -> int:
    """Peak resident set of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def percentile(ordered: list[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * p))]


async def first_sync(db: Database) -> None:
    async for status in db.status_stream():
        if status.has_synced:
            return


async def sync(db: Database, url: str, rows: int, requests: int) -> dict[str, float]:
    """connect → all rows queryable, then sequential checkpoint requests → synced."""
    started = time.perf_counter()
    await db.connect(ServiceConnector(url))
    await asyncio.wait_for(first_sync(db), FIRST_SYNC_TIMEOUT_S)
    initial_sync = time.perf_counter() - started
    synced = (await db.get("SELECT count(*) AS n FROM lists"))["n"]
    if synced != rows:
        raise RuntimeError(f"synced {synced} rows, expected {rows}")
    latencies = []
    for _ in range(requests):
        start = time.perf_counter()
        request = await db.request_checkpoint()
        await request.wait_for_sync(timeout=10)
        latencies.append((time.perf_counter() - start) * 1000)
    latencies.sort()
    result = {"initial_sync_s": initial_sync, "peak_rss_kib": peak_rss_kib()}
    if latencies:
        result["checkpoint_p50_ms"] = percentile(latencies, 0.5)
        result["checkpoint_p99_ms"] = percentile(latencies, 0.99)
    await db.disconnect()
    return result


async def write(db: Database, kind: str, rows: int) -> dict[str, float]:
    """``rows`` inserts through the view and its triggers, one of three ways."""
    params = [
        [f"local-{i:08d}", f"local list {i}", USER, "2026-01-01T00:00:00Z"] for i in range(rows)
    ]
    started = time.perf_counter()
    if kind == "single":
        for p in params:
            await db.execute(INSERT, p)
    elif kind == "transaction":
        # Like the official client's writeTransaction loop: one statement per call.
        async with db.write_transaction() as tx:
            for p in params:
                await tx.execute(INSERT, p)
    elif kind == "batch":
        await db.execute_batch(INSERT, params)
    else:
        raise ValueError(f"unknown write kind {kind}")
    seconds = time.perf_counter() - started
    queued = (await db.get("SELECT count(*) AS n FROM ps_crud"))["n"]
    if queued != rows:
        raise RuntimeError(f"{queued} upload-queue entries, expected {rows}")
    return {"seconds": seconds, "peak_rss_kib": peak_rss_kib()}


async def run(args: list[str]) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        async with Database(Path(folder) / "bench.db", SCHEMA) as db:
            if len(args) == 4 and args[0] == "sync":
                return await sync(db, args[1], int(args[2]), int(args[3]))
            if len(args) == 3 and args[0] == "write":
                return await write(db, args[1], int(args[2]))
    raise ValueError("usage: side.py sync <url> <rows> <requests> | write <kind> <rows>")


def main() -> int:
    try:
        result = asyncio.run(run(sys.argv[1:]))
    except Exception as error:
        print(f"python bench side failed: {error!r}", file=sys.stderr)
        return 1
    print("RESULT " + " ".join(f"{key}={value}" for key, value in result.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
