# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from psync import Column, Database, Schema, Table

SCHEMA = Schema([Table("todos", [Column.text("title"), Column.integer("done")])])


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with Database(tmp_path / "test.db", SCHEMA) as database:
        yield database
