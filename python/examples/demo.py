# SPDX-License-Identifier: Apache-2.0
"""The psync demo against your own PowerSync service and app backend.

    python demo.py --endpoint https://my-instance.example.com \\
        --token-command "my-token-tool --user alice" \\
        --upload-url https://my-backend.example.com/api/data --user alice

It syncs the tables ``lists(name, owner_id, created_at)`` and ``todos(list_id, description,
completed, owner_id, created_at)`` (your sync rules must sync them to the token's user), writes a
list and two todos, waits until they are uploaded, requests a checkpoint and waits until the
service's copy of the todos is applied locally. Uploads are posted to ``--upload-url`` as
``{"batch": [{"op", "type", "id", "data"}]}`` with ``Authorization: Token <token>``, the shape
PowerSync's demo backends accept. ``--token-command`` runs with ``sh -c`` whenever a token is
needed, so tokens that expire during the run are renewed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import psync
from psync import BackendConnector, Column, Credentials, Database, Schema, Table

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
    ]
)


class DemoConnector(BackendConnector):
    """Tokens from a fixed value or a command; uploads to the backend's upload URL."""

    def __init__(
        self, endpoint: str, token: str | None, token_command: str | None, upload_url: str
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._token = token
        self._token_command = token_command
        self.upload_url = upload_url
        self.uploaded = 0

    def _current_token(self) -> str:
        if self._token_command is None:
            assert self._token is not None
            return self._token
        output = subprocess.run(
            ["sh", "-c", self._token_command], capture_output=True, text=True, check=True
        )
        token = output.stdout.strip()
        if not token:
            raise RuntimeError("the token command printed no token")
        return token

    async def fetch_credentials(self) -> Credentials | None:
        return Credentials(self.endpoint, await asyncio.to_thread(self._current_token))

    async def upload_data(self, database: Database) -> None:
        transaction = await database.get_next_crud_transaction()
        if transaction is None:
            return
        batch = [
            {"op": e.op, "type": e.table, "id": e.id, "data": e.data} for e in transaction.entries
        ]
        token = await asyncio.to_thread(self._current_token)
        await asyncio.to_thread(self._post, {"batch": batch}, token)
        await transaction.complete()
        self.uploaded += 1

    def _post(self, body: object, token: str) -> None:
        request = urllib.request.Request(
            self.upload_url, data=json.dumps(body).encode(), method="POST"
        )
        request.add_header("Content-Type", "application/json")
        request.add_header("Authorization", f"Token {token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()


async def _first_sync(db: Database) -> None:
    async for status in db.status_stream():
        if status.has_synced:
            return


async def _uploads_drained(db: Database) -> None:
    while (await db.get("SELECT count(*) AS n FROM ps_crud"))["n"] != 0:
        await asyncio.sleep(0.02)


async def run(args: argparse.Namespace) -> None:
    started = time.monotonic()

    def step(what: str) -> None:
        print(f"[{(time.monotonic() - started) * 1000:>6.0f} ms] {what}", flush=True)

    connector = DemoConnector(args.endpoint, args.token, args.token_command, args.upload_url)
    with tempfile.TemporaryDirectory() as folder:
        async with Database(Path(folder) / "demo.db", SCHEMA) as db:
            step("opened the local database")
            await db.connect(connector, retry_delay=0.5, crud_throttle=0.05)
            step("connect() called")
            await asyncio.wait_for(_first_sync(db), timeout=30)
            lists = await db.get_all("SELECT name FROM lists")
            step(f"first sync complete: {len(lists)} list(s) downloaded")

            list_id = f"l-{uuid.uuid4()}"
            todo_ids = [f"{list_id}-t0", f"{list_id}-t1"]
            await db.execute(
                "INSERT INTO lists(id, name, owner_id, created_at)"
                " VALUES (?, 'Written offline-first', ?, '2026-01-02')",
                [list_id, args.user],
            )
            for todo_id, text in zip(todo_ids, ["buy milk", "write demo"], strict=True):
                await db.execute(
                    "INSERT INTO todos(id, list_id, description, completed, owner_id)"
                    " VALUES (?, ?, ?, 0, ?)",
                    [todo_id, list_id, text, args.user],
                )
            step("wrote 1 list and 2 todos locally")
            await asyncio.wait_for(_uploads_drained(db), timeout=30)
            step(f"upload queue empty ({connector.uploaded} transaction(s) uploaded)")

            request = await db.request_checkpoint()
            step(f"checkpoint request {request.id} acknowledged")
            await request.wait_for_sync(timeout=10)
            step(f"checkpoint request {request.id} applied locally")
            synced_sql = (
                "SELECT count(*) AS n FROM ps_oplog WHERE row_type = 'todos' AND row_id IN (?, ?)"
            )
            synced = (await db.get(synced_sql, todo_ids))["n"]
            step(f"this run's todos downloaded from the service: {synced}/2")
            if synced != 2:
                raise RuntimeError("the checkpoint was applied without this run's todos")
    step("closed")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--endpoint", required=True, help="the PowerSync service URL")
    tokens = parser.add_mutually_exclusive_group(required=True)
    tokens.add_argument("--token", help="a JWT for the service")
    tokens.add_argument("--token-command", help="a shell command printing a JWT")
    parser.add_argument("--upload-url", required=True, help="the app backend's upload URL")
    parser.add_argument("--user", default="demo-user", help="owner_id of the rows written")
    args = parser.parse_args()
    try:
        asyncio.run(run(args))
    except (psync.SyncError, RuntimeError, OSError, subprocess.CalledProcessError) as error:
        print(f"demo FAILED: {error}", flush=True)
        return 1
    print("demo finished OK", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
