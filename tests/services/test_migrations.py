"""Schema migrations: they build exactly the tables the models declare, and a database made before
them (with an open case in it) is upgraded in place and the case runs on to the end."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, text
from sqlmodel import Session, SQLModel, func, select

from demo.seed import DEMO_PASSWORD
from services.cases.models import Case, CaseItem
from services.config import Settings
from services.db import BASELINE, current_revision, head_revision, make_engine, migrate
from services.registries.embedded import EmbeddedRegistry
from services.runtime import build_runtime
from web.app import create_app

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "baseline_case.json"
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def _value(value):
    if isinstance(value, dict) and len(value) == 1:
        kind, raw = next(iter(value.items()))
        if kind == "datetime":
            return datetime.fromisoformat(raw)
        if kind == "date":
            return date.fromisoformat(raw)
        if kind == "bytes":
            return base64.b64decode(raw)
    return value


def _load_baseline_rows(db) -> dict[str, list[dict]]:
    """The fixture's rows, into the tables as the baseline made them (read from the database:
    the models describe the newest schema)."""
    rows = json.loads(FIXTURE.read_text())
    baseline = MetaData()
    baseline.reflect(db)
    with db.begin() as connection:
        for table in baseline.sorted_tables:
            found = rows.get(table.name)
            if not found:
                continue
            connection.execute(
                table.insert(), [{k: _value(v) for k, v in row.items()} for row in found]
            )
            serial = "id" in table.c and table.c.id.type.python_type is int
            if connection.dialect.name == "postgresql" and serial:
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"(SELECT max(id) FROM {table.name}))"
                    )
                )
    return rows


def test_the_migrations_build_exactly_the_tables_the_models_declare(database_url):
    db = make_engine(database_url)
    migrate(db, BASELINE)  # step by step, not create_all
    migrate(db)
    assert current_revision(db) == head_revision()
    with db.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
    db.dispose()


def test_an_empty_database_is_created_at_the_newest_revision(database_url):
    db = make_engine(database_url)
    assert migrate(db) is None
    assert current_revision(db) == head_revision()
    assert migrate(db) == head_revision()  # running again changes nothing
    db.dispose()


def test_an_open_case_from_before_migrations_survives_the_upgrade(
    database_url, registry_path, tmp_path
):
    db = make_engine(database_url)
    migrate(db, BASELINE)
    rows = _load_baseline_rows(db)
    with db.begin() as connection:  # as create_all left it: no migration history at all
        connection.execute(text("DROP TABLE alembic_version"))
    db.dispose()

    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, deadline_interval=0)
    registry = EmbeddedRegistry(registry_path, clock=lambda: NOW)
    rt = build_runtime(settings, registry=registry)  # upgrades on start-up
    assert current_revision(rt.db) == head_revision()
    [case_row] = rows["case_file"]
    with Session(rt.db) as session:
        assert session.exec(select(func.count()).select_from(Case)).one() == 1
        open_items = session.exec(
            select(CaseItem).where(
                CaseItem.case_id == case_row["id"], CaseItem.status == "processing"
            )
        ).all()
        departments = {item.department for item in open_items}
    assert departments and "police" not in departments  # police decided before the upgrade

    app = create_app(rt)
    for department in sorted(departments):
        clerk = TestClient(app)
        login = clerk.post(
            "/api/v1/login", json={"username": f"{department}01", "password": DEMO_PASSWORD}
        )
        clerk.headers["Authorization"] = f"Bearer {login.json()['token']}"
        for task in clerk.get("/api/v1/tasks").json():
            done = clerk.post(f"/api/v1/tasks/{task['id']}/complete", json={"decision": "approved"})
            assert done.status_code == 200, done.text
    with Session(rt.db) as session:
        case = session.get(Case, case_row["id"])
        assert (case.status, case.outcome) == ("completed", "approved")
        assert case.number == case_row["number"]
    rt.db.dispose()
