"""The `onething` command seeds demo data into a fresh data directory, and says what is wrong."""

from __future__ import annotations

from services.config import get_settings
from web.cli import main


def test_demo_command_generates_registry_and_accounts(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ONETHING_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ONETHING_REGISTRY_PEOPLE", "300")
    monkeypatch.delenv("ONETHING_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        assert main(["demo"]) == 0
        assert main(["demo"]) == 0  # idempotent
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert (tmp_path / "registry.sqlite").exists() and (tmp_path / "onething.sqlite").exists()
    assert "31010519940908028X" in out and "police01" in out and "onething123" in out


def test_serve_without_registry_explains_how_to_create_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ONETHING_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ONETHING_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        assert main(["serve", "--port", "1"]) == 2
    finally:
        get_settings.cache_clear()
    assert "onething serve --demo" in capsys.readouterr().out


def test_registry_generate_command_writes_a_dataset(tmp_path, capsys):
    path = tmp_path / "r.sqlite"
    args = ["registry", "generate", "--people", "300", "--path", str(path), "--today", "2026-11-23"]
    assert main(args) == 0
    assert path.exists() and "person" in capsys.readouterr().out
