"""Shared fixtures: a runtime on a real database (SQLite file and PostgreSQL), the demo registry.

Every database test runs once per backend in ONETHING_TEST_DATABASES (default "sqlite,postgresql").
PostgreSQL is reached at ONETHING_TEST_PG_URL (default: the local server, database onething_test),
and a fresh schema is created per test so tests never see each other's rows.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session, select

from demo.registry import generate_dataset
from demo.seed import seed_demo
from engine import clock
from services.accounts.models import User
from services.config import Settings
from services.registries.embedded import EmbeddedRegistry
from services.runtime import Runtime, build_runtime, register_process_functions

TODAY = date(2026, 11, 23)
BACKENDS = [
    b for b in os.environ.get("ONETHING_TEST_DATABASES", "sqlite,postgresql").split(",") if b
]
PG_URL = os.environ.get(
    "ONETHING_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/onething_test"
)


@pytest.fixture(scope="session", autouse=True)
def _process_functions() -> None:
    """Deadline arithmetic for process expressions, as the runtime registers it."""
    register_process_functions()


START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in China


@pytest.fixture(autouse=True)
def _fixed_time() -> Iterator[None]:
    """Every test starts at the same moment, so working days and deadlines are deterministic;
    tests move the clock explicitly, never sleep."""
    clock.travel_to(START)
    yield
    clock.reset()


@pytest.fixture(scope="session")
def registry_path(tmp_path_factory) -> Path:
    """The demo registry, generated once for the whole test run (small, deterministic)."""
    path = tmp_path_factory.mktemp("registry") / "registry.sqlite"
    generate_dataset(path, people=600, today=TODAY)
    return path


def _ensure_pg_database() -> None:
    base, name = PG_URL.rsplit("/", 1)
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if exists.scalar() is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'onething.sqlite'}"
        return
    _ensure_pg_database()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    with engine.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def rt(database_url, registry_path, tmp_path) -> Iterator[Runtime]:
    """A runtime on a fresh database with the demo accounts seeded."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, deadline_interval=0)
    # The registry's clock stands still at the day the data was generated: tests do not age.
    registry = EmbeddedRegistry(
        registry_path, clock=lambda: datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    )
    runtime = build_runtime(settings, registry=registry)
    seed_demo(runtime)
    yield runtime
    runtime.db.dispose()


@pytest.fixture
def user_of(rt):
    """Look up a seeded account by username."""

    def find(username: str) -> User:
        with Session(rt.db) as session:
            user = session.exec(select(User).where(User.username == username)).one()
            session.expunge(user)
            return user

    return find


def add_newborn_parents(db, registry_path: Path, count: int) -> list[str]:
    """Usernames of `count` married mothers in the registry (so the newborn's form asks what
    the demo mother's asks), each with her own newborn (born within the year), given citizen
    accounts (the demo password). The demo accounts have two newborns
    only, and a child is applied for once (the matter's subject key)."""
    from demo.people import DEMO_PEOPLE
    from demo.seed import DEMO_PASSWORD
    from services.accounts.service import create_user

    demo = {person.id_number for person in DEMO_PEOPLE}  # the demo's children are the demo's
    with sqlite3.connect(registry_path) as registry:
        mothers = [
            mother
            for mother, father in registry.execute(
                "SELECT DISTINCT b.mother_id_number, b.father_id_number FROM birth b"
                " JOIN person p ON p.id_number = b.mother_id_number"
                " JOIN marriage m ON m.wife_id_number = b.mother_id_number"
                " AND m.husband_id_number = b.father_id_number AND m.status = 'married'"
                " WHERE b.birth_date > ? ORDER BY b.mother_id_number",
                ((TODAY - timedelta(days=300)).isoformat(),),
            )
            if mother not in demo and father not in demo
        ]
    found = []
    with Session(db) as session:
        for number in mothers:
            if len(found) == count:
                break
            if session.exec(select(User).where(User.username == number)).first() is not None:
                continue  # a demo account: its child is the demo's
            create_user(
                session,
                username=number,
                display_name=number,
                role="citizen",
                password=DEMO_PASSWORD,
                id_number=number,
            )
            found.append(number)
        session.commit()
    assert len(found) == count, f"the registry has {len(found)} such mothers"
    return found


@pytest.fixture
def newborn_parents(rt, registry_path):
    """`newborn_parents(n)`: n more newborn applicants (`add_newborn_parents`)."""
    return lambda count: add_newborn_parents(rt.db, registry_path, count)
