"""The health endpoints: live while the process answers; ready only while the database, its
schema, the editor's assets and the file store can be used, else 503 with Retry-After, naming
the dependency and nothing more."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import create_engine

import web.routes.processes
from services.db import make_engine
from services.storage import DirectoryStore


def test_a_serving_host_is_live_and_ready(app):
    with TestClient(app) as client:
        assert client.get("/healthz").json() == {"status": "ok", "checks": {}}
        ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"
    checks = ready.json()["checks"]
    assert {"database", "migrations", "editor_assets"} <= set(checks)
    assert set(checks.values()) == {"ok"}


def test_without_its_database_a_host_is_live_but_not_ready(app, rt, monkeypatch):
    # Nothing listens on port 1: the connection is refused at once.
    unreachable = create_engine("postgresql+psycopg://onething@127.0.0.1:1/onething")
    with TestClient(app) as client:
        monkeypatch.setattr(rt, "db", unreachable)
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.headers["Retry-After"] == "5"
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["checks"]["database"] == "unavailable"
    assert "127.0.0.1" not in ready.text and "psycopg" not in ready.text


def test_a_database_not_at_the_newest_migration_is_not_ready(app, rt, monkeypatch, tmp_path):
    unmigrated = make_engine(f"sqlite:///{tmp_path / 'unmigrated.sqlite'}")
    with TestClient(app) as client:
        monkeypatch.setattr(rt, "db", unmigrated)
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["migrations"] == "unavailable"
    assert "alembic" not in ready.text and str(tmp_path) not in ready.text


def test_a_host_without_the_editors_assets_is_not_ready(app, monkeypatch, tmp_path):
    monkeypatch.setattr(web.routes.processes, "VENDOR_BPMN_JS", tmp_path / "bpmn-js")
    with TestClient(app) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["editor_assets"] == "unavailable"
    assert ready.json()["checks"]["database"] == "ok"
    assert str(tmp_path) not in ready.text


def test_a_file_directory_that_cannot_be_made_is_not_ready(app, rt, monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store's parent directory should be")
    monkeypatch.setattr(rt, "files", DirectoryStore(blocker / "uploads", shared=False))
    with TestClient(app) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["file_store"] == "unavailable"
    assert str(tmp_path) not in ready.text
    monkeypatch.setattr(rt, "files", DirectoryStore(tmp_path / "new" / "uploads", shared=False))
    with TestClient(app) as client:
        assert client.get("/readyz").json()["checks"]["file_store"] == "ok"
