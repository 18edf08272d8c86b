"""The health endpoints: live while the process answers; ready only while the database and the
file store can be used, else 503 with Retry-After, naming the dependency and nothing more."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from services.storage import DirectoryStore


def test_a_serving_host_is_live_and_ready(app):
    with TestClient(app) as client:
        assert client.get("/health/live").json() == {"status": "ok", "checks": {}}
        ready = client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["status"] == "ok" and ready.json()["checks"]["database"] == "ok"


def test_without_its_database_a_host_is_live_but_not_ready(app, rt, monkeypatch):
    # Nothing listens on port 1: the connection is refused at once.
    unreachable = create_engine("postgresql+psycopg://onething@127.0.0.1:1/onething")
    with TestClient(app) as client:
        monkeypatch.setattr(rt, "db", unreachable)
        assert client.get("/health/live").status_code == 200
        ready = client.get("/health/ready")
    assert ready.status_code == 503 and ready.headers["Retry-After"] == "5"
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["checks"]["database"] == "unavailable"
    assert "127.0.0.1" not in ready.text and "psycopg" not in ready.text


def test_a_file_directory_that_cannot_be_made_is_not_ready(app, rt, monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store's parent directory should be")
    monkeypatch.setattr(rt, "files", DirectoryStore(blocker / "uploads", shared=False))
    with TestClient(app) as client:
        ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["file_store"] == "unavailable"
    assert str(tmp_path) not in ready.text
    monkeypatch.setattr(rt, "files", DirectoryStore(tmp_path / "new" / "uploads", shared=False))
    with TestClient(app) as client:
        assert client.get("/health/ready").json()["checks"]["file_store"] == "ok"
