"""Fixtures of the services' tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from services.db import make_engine


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    """An engine on a fresh database with every table (created at once, not migrated)."""
    engine = make_engine(database_url)
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()
