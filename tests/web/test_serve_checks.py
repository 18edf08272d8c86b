"""What `onething serve` checks before it serves certificates: the public address their QR
codes and verify links print (ONETHING_PUBLIC_BASE_URL, else the served address; refused in
development when it names this host at another address) and the font they embed; `/readyz`
reports a missing font."""

from __future__ import annotations

import io
import shutil

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from services.certificates.pdf import qr_code
from services.config import (
    PublicAddressError,
    Settings,
    checked_public_address,
    get_settings,
    public_address,
    served_address,
)
from tests.api.test_citizen_api import _apply_newborn, _approve_everything
from tests.services.test_certificates import _qr_matrix_in
from web.cli import main


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("https://onething.example.gov.cn", "https://onething.example.gov.cn"),
        ("https://onething.example.gov.cn/", "https://onething.example.gov.cn"),
        ("http://192.168.1.20:8000", "http://192.168.1.20:8000"),
        ("https://example.gov.cn/onething/", "https://example.gov.cn/onething"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_a_public_address_is_kept_without_its_trailing_slash(given, kept):
    assert checked_public_address(given) == kept
    assert Settings(public_base_url=given).public_base_url == kept


@pytest.mark.parametrize(
    "given",
    [
        "onething.example.gov.cn",
        "127.0.0.1:8000",
        "ftp://onething.example.gov.cn",
        "https://",
        "https://onething.example.gov.cn/?lang=en",
        "https://onething.example.gov.cn/#top",
        "https://user:secret@onething.example.gov.cn",
        "http://onething.example.gov.cn:99999",
        "",
    ],
)
def test_a_public_address_that_is_no_absolute_http_address_is_refused(given):
    with pytest.raises(ValueError, match="ONETHING_PUBLIC_BASE_URL must be the absolute"):
        Settings(public_base_url=given)


def test_the_served_address_of_every_interface_is_the_loopback_one():
    assert served_address("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert served_address("0.0.0.0", 8100) == "http://127.0.0.1:8100"
    assert served_address("::", 8100) == "http://[::1]:8100"
    assert served_address("10.0.0.11", 8000) == "http://10.0.0.11:8000"


def test_unset_the_public_address_is_the_served_one():
    assert public_address(Settings(), host="127.0.0.1", port=8123) == (
        "http://127.0.0.1:8123",
        None,
    )
    address, warning = public_address(Settings(), host="0.0.0.0", port=8000)
    assert address == "http://127.0.0.1:8000"
    assert warning and "ONETHING_PUBLIC_BASE_URL" in warning and "phone" in warning


@pytest.mark.parametrize(
    "configured",
    ["http://127.0.0.1:8000", "http://localhost:8000/", "https://localhost:8100"],
)
def test_a_development_address_of_this_host_must_be_the_served_one(configured):
    settings = Settings(public_base_url=configured)
    with pytest.raises(PublicAddressError) as refused:
        public_address(settings, host="127.0.0.1", port=8100)
    message = str(refused.value)
    assert settings.public_base_url in message and "http://127.0.0.1:8100" in message
    assert "\n" not in message


def test_an_address_of_this_host_that_matches_or_sits_behind_a_proxy_is_kept():
    matching = Settings(public_base_url="http://localhost:8100")
    assert public_address(matching, host="127.0.0.1", port=8100) == ("http://localhost:8100", None)
    same_host = Settings(public_base_url="http://10.0.0.11:8000")
    assert public_address(same_host, host="10.0.0.11", port=8000)[0] == "http://10.0.0.11:8000"
    with pytest.raises(PublicAddressError):
        public_address(same_host, host="10.0.0.11", port=9000)
    proxied = Settings(public_base_url="http://localhost:8080", trusted_proxies="127.0.0.1")
    assert public_address(proxied, host="127.0.0.1", port=8000)[0] == "http://localhost:8080"
    public = Settings(public_base_url="https://onething.example.gov.cn")
    assert public_address(public, host="0.0.0.0", port=8000) == (
        "https://onething.example.gov.cn",
        None,
    )


def _serve(monkeypatch, tmp_path, *args: str, **env: str) -> int:
    """`onething serve` in a fresh data directory without registries (so it stops with 2
    before serving), with `env` as ONETHING_ variables; the settings it used stay readable."""
    monkeypatch.setenv("ONETHING_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ONETHING_DATABASE_URL", raising=False)
    monkeypatch.delenv("ONETHING_PUBLIC_BASE_URL", raising=False)
    monkeypatch.delenv("ONETHING_CERTIFICATE_FONT", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(f"ONETHING_{name.upper()}", value)
    get_settings.cache_clear()
    return main(["serve", *args])


@pytest.fixture
def fresh_settings():
    yield
    get_settings.cache_clear()


def test_serve_prints_the_served_address_into_certificates(
    monkeypatch, tmp_path, capsys, fresh_settings
):
    assert _serve(monkeypatch, tmp_path, "--port", "8123") == 2  # no registry: stops there
    assert get_settings().public_base_url == "http://127.0.0.1:8123"
    assert "onething serve --demo" in capsys.readouterr().out


def test_a_served_certificate_links_and_encodes_the_served_address(
    monkeypatch, tmp_path, capsys, fresh_settings, registry_path
):
    import uvicorn

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append((app, options)))
    shutil.copy(registry_path, tmp_path / "registry.sqlite")
    code = _serve(
        monkeypatch,
        tmp_path,
        *("--demo", "--port", "8123"),
        deadline_interval="0",
        maintenance_interval="0",
    )
    assert code == 0
    [(app, options)] = served
    assert options["port"] == 8123
    runtime = app.state.runtime
    try:
        assert runtime.settings.public_base_url == "http://127.0.0.1:8123"
        with TestClient(app) as api:  # a newborn case to its results, as in tests/api
            mother, case_id = _apply_newborn(api)
            _approve_everything(api)
            items = api.get(f"/api/v1/cases/{case_id}", headers=mother).json()["items"]
            certificate = next(item["certificate"] for item in items if item["certificate"])
            pdf = api.get(certificate["download_url"], headers=mother).content
    finally:
        runtime.db.dispose()
    assert "Certificates' QR codes point to: http://127.0.0.1:8123" in capsys.readouterr().out
    link = f"http://127.0.0.1:8123/verify/{certificate['public_id']}"
    assert certificate["verify_url"] == link
    assert link in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    expected = [[bool(m) for m in row] for row in qr_code(link).matrix]
    assert _qr_matrix_in(pdf) == expected


def test_serve_refuses_a_development_address_of_another_port(
    monkeypatch, tmp_path, capsys, fresh_settings
):
    code = _serve(monkeypatch, tmp_path, "--port", "8123", public_base_url="http://127.0.0.1:8000")
    assert code == 2
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0
    assert "http://127.0.0.1:8000" in out and "http://127.0.0.1:8123" in out
    assert not (tmp_path / "onething.sqlite").exists()  # refused before touching the database


def test_serve_refuses_a_malformed_public_address_in_one_line(
    monkeypatch, tmp_path, capsys, fresh_settings
):
    assert _serve(monkeypatch, tmp_path, public_base_url="onething.example.gov.cn") == 2
    out = capsys.readouterr().out.strip()
    assert out.startswith("onething: ONETHING_PUBLIC_BASE_URL must be the absolute")
    assert out.count("\n") == 0 and "Traceback" not in out


def test_serve_names_any_other_setting_it_refuses(monkeypatch, tmp_path, capsys, fresh_settings):
    assert _serve(monkeypatch, tmp_path, db_pool_size="0") == 2
    out = capsys.readouterr().out.strip()
    assert out.startswith("onething: ONETHING_DB_POOL_SIZE: ") and "1" in out
    assert out.count("\n") == 0


def test_serve_warns_that_every_interface_is_no_public_address(
    monkeypatch, tmp_path, capsys, fresh_settings
):
    assert _serve(monkeypatch, tmp_path, "--host", "0.0.0.0", "--port", "8123") == 2
    out = capsys.readouterr().out
    assert "onething: warning:" in out and "ONETHING_PUBLIC_BASE_URL" in out


def test_serve_without_the_font_says_what_to_install(monkeypatch, tmp_path, capsys, fresh_settings):
    missing = str(tmp_path / "no-such-font.ttc")
    assert _serve(monkeypatch, tmp_path, certificate_font=missing) == 2
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0
    assert missing in out and "apt-get install fonts-wqy-zenhei" in out


def test_readyz_reports_a_missing_certificate_font(app, rt, monkeypatch, tmp_path):
    with TestClient(app) as client:
        assert client.get("/readyz").json()["checks"]["certificate_font"] == "ok"
        monkeypatch.setattr(rt.settings, "certificate_font", tmp_path / "none.ttc")
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["certificate_font"] == "unavailable"
    assert str(tmp_path) not in ready.text
