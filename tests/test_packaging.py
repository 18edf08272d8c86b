"""OneThing as a package: a wheel built from a clean copy of the sources carries everything the
server reads at run time (templates, static files, the catalog, the BPMN and DMN files, the
migrations, the editor's bpmn-js built in from node_modules), so that installed where there
is no repository it serves the editor, a matter's form, and says it is ready. The demo-data
generator's Faker is the `demo` extra's: without it `onething serve --demo` says what to
install."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import pytest

import demo
from demo.seed import DEMO_PASSWORD
from tests.live import free_port, signed_in, stop, wait_until_up
from web.cli import main

ROOT = Path(__file__).resolve().parents[1]
MODELER = "bpmn-modeler.production.min.js"
DMN_MODELER = "dmn-modeler.production.min.js"
# What the running server needs from the wheel, besides the Python modules.
EXPECTED = [
    "web/templates/base.html",
    "web/templates/admin/editor.html",
    "web/static/app.css",
    "web/static/editor/editor.js",
    f"web/static/vendor/bpmn-js/{MODELER}",
    "web/static/vendor/bpmn-js/assets/bpmn-js.css",
    "web/static/vendor/bpmn-js/assets/diagram-js.css",
    "web/static/vendor/bpmn-js/assets/bpmn-font/css/bpmn-embedded.css",
    "web/templates/admin/decision.html",
    "web/static/decisions/decisions.js",
    f"web/static/vendor/dmn-js/{DMN_MODELER}",
    "web/static/vendor/dmn-js/assets/dmn-js-shared.css",
    "web/static/vendor/dmn-js/assets/dmn-js-decision-table.css",
    "web/static/vendor/dmn-js/assets/dmn-js-decision-table-controls.css",
    "web/static/vendor/dmn-js/assets/dmn-font/css/dmn-embedded.css",
    "forms/catalog/dictionary.toml",
    "forms/catalog/matters/newborn.toml",
    "services/bpmn/newborn.bpmn",
    "services/bpmn/newborn.dmn",
    "services/bpmn/newborn.dmn.tests.toml",
    "services/migrations/env.py",
    "services/migrations/script.py.mako",
]


def _sources(target: Path) -> None:
    """A copy of the sources as a fresh clone has them (tracked and new files, nothing that git
    ignores: no build/, no egg-info), with the checkout's node_modules beside it."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (entry.decode() for entry in listed)):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    if (ROOT / "node_modules").is_dir():  # else the build runs `npm ci` itself
        (target / "node_modules").symlink_to(ROOT / "node_modules")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("packaging")
    sources = base / "sources"
    _sources(sources)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(base), str(sources)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (found,) = base.glob("onething-*.whl")
    assert not (sources / "web" / "static" / "vendor").exists()  # copied into the build only
    return found


def test_the_wheel_carries_what_the_server_reads(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in EXPECTED if name not in names]
    assert not missing, f"not in the wheel: {missing}"
    definitions = {
        p.name
        for p in (ROOT / "bpmn").iterdir()
        if p.suffix in (".bpmn", ".dmn") or p.name.endswith(".dmn.tests.toml")
    }
    assert {n.removeprefix("services/bpmn/") for n in names if n.startswith("services/bpmn/")} == (
        definitions
    )
    migrations = {p.name for p in (ROOT / "services" / "migrations" / "versions").glob("*.py")}
    assert {f"services/migrations/versions/{name}" for name in migrations} <= names
    assert not any(name.startswith(("tests/", "bench/", "node_modules/")) for name in names)


def test_installed_without_the_repository_it_serves_the_editor(wheel, tmp_path):
    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), wheel],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"  # the working directory: no repository to import from
    elsewhere.mkdir()
    # The installed packages, and this environment's dependencies (the demo extra's included).
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ONETHING_")},
        "PYTHONPATH": str(site),
        "ONETHING_DATA_DIR": str(tmp_path / "data"),
        "ONETHING_REGISTRY_PEOPLE": "300",
        "ONETHING_DEADLINE_INTERVAL": "0",
    }
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            "import services.config as c, web; print(web.__file__, c.Settings().bpmn_dir)",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert Path(where[0]).is_relative_to(site) and Path(where[1]).is_relative_to(site), where

    port = free_port()
    log = tmp_path / "server.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--demo", "--port", str(port)],
        cwd=elsewhere,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(server, base, log)
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 200, ready.text
        assert set(ready.json()["checks"]) >= {"database", "migrations", "editor_assets"}
        admin = signed_in(base, "admin", DEMO_PASSWORD)
        mother = signed_in(base, "31010519940908028X", DEMO_PASSWORD)
        editor = admin.get("/admin/processes/newborn")
        assert editor.status_code == 200 and f"/vendor/bpmn-js/{MODELER}" in editor.text
        assert "npm ci" not in editor.text  # the page's "assets not installed" notice
        for asset in (MODELER, "assets/bpmn-font/css/bpmn-embedded.css"):
            answer = httpx.get(f"{base}/vendor/bpmn-js/{asset}")
            assert answer.status_code == 200 and len(answer.content) > 1000, asset
        table = admin.get("/admin/processes/newborn/decisions/newborn_medical_enrollment_check")
        assert table.status_code == 200 and f"/vendor/dmn-js/{DMN_MODELER}" in table.text
        assert "证照已核验、随母落户：秒批" in table.text  # the seeded test cases
        for asset in (DMN_MODELER, "assets/dmn-font/css/dmn-embedded.css"):
            answer = httpx.get(f"{base}/vendor/dmn-js/{asset}")
            assert answer.status_code == 200 and len(answer.content) > 1000, asset
        diagram = admin.get("/api/v1/admin/processes/newborn/bpmn")
        assert diagram.status_code == 200 and "bpmn:definitions" in diagram.text
        form = mother.get("/matters/newborn/apply", params={"manual": 1})
        assert form.status_code == 200 and "<form" in form.text
    finally:
        stop(server)
    assert (tmp_path / "data" / "onething.sqlite").is_file()
    assert not (site / "data").exists()


def test_serving_demo_data_without_the_demo_extra_says_what_to_install(
    monkeypatch, tmp_path, capsys
):
    # As if Faker were not installed: importing it fails, and the generator is not loaded yet.
    monkeypatch.setitem(sys.modules, "faker", None)
    for module in ("demo.seed", "demo.registry"):
        monkeypatch.delitem(sys.modules, module, raising=False)
        monkeypatch.delattr(demo, module.split(".")[1], raising=False)
    monkeypatch.setenv("ONETHING_DATA_DIR", str(tmp_path))
    assert main(["serve", "--demo", "--port", "1"]) == 2
    assert main(["demo"]) == 2
    assert "pip install 'onething[demo]'" in capsys.readouterr().err
    assert not (tmp_path / "registry.sqlite").exists()
