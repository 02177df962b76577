# SPDX-License-Identifier: Apache-2.0
"""What the Python package puts on the wire, captured by a bare loopback listener: the stream
request says ``(python)`` in its User-Agent and sends ``parameters: {}`` when the app set none
(``null`` is refused by the real PowerSync service)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import psync
from psync import BackendConnector, Column, Credentials, Database, Schema, Table

LISTS = Schema([Table("lists", [Column.text("name")])])


class FixedEndpoint(BackendConnector):
    def __init__(self, url: str) -> None:
        self.url = url

    async def fetch_credentials(self) -> Credentials | None:
        return Credentials(self.url, "test-token")

    async def upload_data(self, database: Database) -> None:
        return None


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    lines = head.split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return lines[0], headers, body


async def test_stream_request_says_python_and_sends_an_object(tmp_path: Path) -> None:
    stream_requests: asyncio.Queue[tuple[dict[str, str], bytes]] = asyncio.Queue()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line, headers, body = await _read_request(reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        # The checkpoint-request seed gets 404: the client falls back to legacy write
        # checkpoints and opens the stream at once (a 5xx would retry after retry_delay).
        # `connection: close`: this listener serves one request per connection.
        status = b"404 Not Found"
        if request_line.startswith("POST /sync/stream "):
            stream_requests.put_nowait((headers, body))
            status = b"503 Service Unavailable"
        writer.write(b"HTTP/1.1 " + status + b"\r\nconnection: close\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        with Database(tmp_path / "shape.db", LISTS) as db:
            await db.connect(FixedEndpoint(f"http://127.0.0.1:{port}"), retry_delay=60)
            headers, body = await asyncio.wait_for(stream_requests.get(), timeout=10)
            await db.disconnect()
    assert headers["user-agent"] == f"psync/{psync.__version__} (python)"
    assert headers["content-type"] == "application/json"
    assert headers["authorization"] == "Token test-token"
    assert json.loads(body)["parameters"] == {}
