# SPDX-License-Identifier: Apache-2.0
"""Smoke test: the wheel loads the native library and round-trips a row."""

import importlib.metadata

import psync
from psync import Database


async def test_insert_then_query_round_trips_values(db: Database) -> None:
    await db.execute("INSERT INTO todos (id, title, done) VALUES (uuid(), ?, ?)", ["milk", True])

    row = await db.get("SELECT title, done FROM todos")

    assert row == {"title": "milk", "done": 1}


def test_version_is_the_package_version() -> None:
    assert psync.__version__ == importlib.metadata.version("psync")
