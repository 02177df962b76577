# SPDX-License-Identifier: Apache-2.0
"""Smoke test: the wheel loads the native library and round-trips a row."""

from psync import Database


def test_insert_then_query_round_trips_values(db: Database) -> None:
    db.execute("INSERT INTO todos (id, title, done) VALUES (uuid(), ?, ?)", ["milk", True])

    row = db.get("SELECT title, done FROM todos")

    assert row == {"title": "milk", "done": 1}
