"""Shared state across hosts: two runtimes ("hosts", each with its own data directory) on one
database read each other's uploads and verify each other's certificates, before and after a
key rotation from the command line; a rolled-back submission leaves no stored file; a
PostgreSQL deployment with a host-local file directory is refused at start."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from demo.seed import seed_demo
from services.cases.models import Upload
from services.certificates.models import Certificate, SigningKey
from services.config import Settings, get_settings
from services.registries.embedded import EmbeddedRegistry
from services.runtime import Runtime, build_runtime
from services.storage import (
    DatabaseStore,
    DirectoryStore,
    StorageSettingsError,
    StoredFile,
    open_store,
)
from tests.web.conftest import (
    MOTHER,
    NEWBORN_ANSWERS,
    NEWBORN_DEPARTMENTS,
    Browser,
    signed_in,
)
from web.app import create_app
from web.cli import main

PDF = b"%PDF-1.4 the applicant's own copy of the marriage certificate"
FATHER_2 = "310104199511020172"  # the demo father: another newborn, another certificate
PG_URL = "postgresql+psycopg://someone@db.example/onething"


def _host(name: str, *, database_url: str, registry_path: Path, tmp_path: Path, **settings):
    settings.setdefault("shared_dir", tmp_path / "shared" if _sqlite(database_url) else None)
    config = Settings(
        data_dir=tmp_path / name, database_url=database_url, deadline_interval=0, **settings
    )
    registry = EmbeddedRegistry(
        registry_path, clock=lambda: datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    )
    return build_runtime(config, registry=registry)


def _sqlite(url: str) -> bool:
    return url.startswith("sqlite")


@pytest.fixture
def hosts(database_url, registry_path, tmp_path) -> Iterator[tuple[Runtime, Runtime]]:
    """Host A and host B: one database; with SQLite (one machine) a declared shared directory
    for the files, with PostgreSQL the default (the database)."""
    a = _host("host-a", database_url=database_url, registry_path=registry_path, tmp_path=tmp_path)
    seed_demo(a)
    b = _host("host-b", database_url=database_url, registry_path=registry_path, tmp_path=tmp_path)
    yield a, b
    a.db.dispose()
    b.db.dispose()


@pytest.fixture
def sign_in() -> Iterator:
    """`sign_in(rt, username)`: a signed-in browser on that host."""
    opened: list[TestClient] = []
    apps: dict[int, object] = {}
    yield lambda rt, username: signed_in(apps.setdefault(id(rt), create_app(rt)), username, opened)
    for client in opened:
        client.close()


@pytest.fixture
def database_host(database_url, registry_path, tmp_path) -> Iterator:
    """`database_host()`: one host keeping its files in the database, whatever the database."""
    built: list[Runtime] = []

    def build() -> Runtime:
        built.append(
            _host(
                "host",
                database_url=database_url,
                registry_path=registry_path,
                tmp_path=tmp_path,
                file_store="database",
            )
        )
        return built[-1]

    yield build
    for rt in built:
        rt.db.dispose()


def _apply(citizen: Browser, *, consent: bool = True, **kwargs) -> int:
    if consent:
        citizen.consent("newborn")
    citizen.get("/matters/newborn/apply")
    response = citizen.post("/matters/newborn/apply", data=NEWBORN_ANSWERS, **kwargs)
    assert response.status_code == 303, response.text[:500]
    return int(response.headers["location"].rsplit("/", 1)[1])


def _complete(rt: Runtime, sign_in, applicant: str) -> tuple[Browser, int]:
    citizen = sign_in(rt, applicant)
    case_id = _apply(citizen)
    for department in NEWBORN_DEPARTMENTS:
        clerk = sign_in(rt, f"{department}01")
        for task in clerk.client.get("/api/v1/tasks").json():
            clerk.get(f"/clerk/items/{task['id']}")
            clerk.post(f"/clerk/items/{task['id']}/decision", data={"decision": "approved"})
    return citizen, case_id


def _certificate(rt: Runtime, citizen: Browser, case_id: int) -> Certificate:
    """Download the case's first result through `rt` (issuing it there), and its row."""
    page = citizen.get(f"/cases/{case_id}").text
    link = re.search(r'href="(/cases/\d+/items/(\d+)/result)"', page)
    assert citizen.get(link.group(1)).content.startswith(b"%PDF")
    with Session(rt.db) as session:
        found = session.exec(
            select(Certificate).where(Certificate.case_item_id == int(link.group(2)))
        ).one()
        session.expunge(found)
        return found


def _verified(rt: Runtime, public_id: str) -> dict:
    with TestClient(create_app(rt)) as anyone:
        return anyone.get(f"/api/v1/certificates/{public_id}/verification").json()


def _active_key(rt: Runtime) -> str:
    with Session(rt.db) as session:
        return session.exec(select(SigningKey.key_id).where(SigningKey.retired_at.is_(None))).one()


def test_an_upload_stored_through_one_host_is_read_through_the_other(hosts, sign_in, tmp_path):
    a, b = hosts
    case_id = _apply(
        sign_in(a, MOTHER), files=[("material_marriage_certificate", ("copy.pdf", PDF))]
    )
    with Session(a.db) as session:
        [upload] = session.exec(select(Upload).where(Upload.case_id == case_id)).all()
    shown = sign_in(b, MOTHER).get(f"/uploads/{upload.id}")
    assert shown.status_code == 200 and shown.content == PDF
    assert sign_in(b, "police01").get(f"/uploads/{upload.id}").content == PDF
    # nothing in either host's own data directory: the files are where every host reads them
    for host in (a, b):
        assert not host.settings.upload_dir.exists()
    if isinstance(a.files, DirectoryStore):
        assert a.files.shared and (tmp_path / "shared" / upload.stored_name).read_bytes() == PDF
    else:
        with Session(b.db) as session:
            assert session.get(StoredFile, upload.stored_name).content == PDF


def test_certificates_verify_on_every_host_before_and_after_a_key_rotation(
    hosts, sign_in, monkeypatch, capsys
):
    a, b = hosts
    citizen, case_id = _complete(a, sign_in, MOTHER)
    before = _certificate(a, citizen, case_id)
    assert before.key_id == _active_key(a) == _active_key(b)  # both hosts have one key
    assert _verified(b, before.public_id)["valid"]

    monkeypatch.setenv("ONETHING_DATA_DIR", str(b.settings.data_dir))
    monkeypatch.setenv("ONETHING_DATABASE_URL", b.settings.db_url)
    get_settings.cache_clear()
    try:
        assert main(["keys", "rotate"]) == 0  # on host B
        rotated = capsys.readouterr().out
        assert f"retired {before.key_id}" in rotated
        new_key = _active_key(b)
        assert new_key != before.key_id and f"new active key {new_key}" in rotated
        for host in (a, b):
            found = _verified(host, before.public_id)
            assert found["valid"] and found["key_id"] == before.key_id

        citizen, case_id = _complete(a, sign_in, FATHER_2)
        after = _certificate(a, citizen, case_id)  # issued on host A, after B's rotation
        assert after.key_id == new_key
        for host in (a, b):
            assert _verified(host, after.public_id)["valid"]

        assert main(["keys", "list"]) == 0
        listed = capsys.readouterr().out.splitlines()
    finally:
        get_settings.cache_clear()
    rows = {line.split()[0]: line.split() for line in listed[1:]}
    assert rows[new_key][1] == "active" and rows[before.key_id][1] == "retired"
    with Session(a.db) as session:
        retired = session.get(SigningKey, before.key_id)
        assert retired.private_key is None  # a retired key signs nothing again
        signed = session.exec(
            select(func.count()).select_from(Certificate).where(Certificate.key_id == new_key)
        ).one()
    assert rows[new_key][-1] == str(signed)


def test_a_rolled_back_submission_leaves_no_file_in_the_database_store(
    database_host, sign_in, monkeypatch
):
    rt = database_host()
    seed_demo(rt)
    assert isinstance(rt.files, DatabaseStore)
    from services.cases import submission

    def fail(*_args, **_kwargs):
        raise RuntimeError("the routing step failed")

    citizen = sign_in(rt, MOTHER)
    monkeypatch.setattr(submission, "apply_changes", fail)
    with pytest.raises(RuntimeError):
        _apply(citizen, files=[("material_marriage_certificate", ("copy.pdf", PDF))])
    with Session(rt.db) as session:
        for model in (Upload, StoredFile):
            assert session.exec(select(func.count()).select_from(model)).one() == 0
    monkeypatch.undo()
    _apply(citizen, consent=False, files=[("material_marriage_certificate", ("copy.pdf", PDF))])
    with Session(rt.db) as session:
        assert session.exec(select(func.count()).select_from(StoredFile)).one() == 1


def test_files_an_earlier_version_kept_on_this_host_move_into_the_database_at_start(
    database_host, tmp_path
):
    kept = tmp_path / "host" / "uploads"
    kept.mkdir(parents=True)
    name = "0123456789abcdef0123456789abcdef"
    (kept / name).write_bytes(PDF)
    rt = database_host()
    with Session(rt.db) as session:
        assert rt.files.get(session, name) == PDF
    assert not kept.exists()  # renamed: the next start has nothing to import
    assert [p.name.startswith("uploads.imported-") for p in kept.parent.iterdir()].count(True) == 1


def test_postgresql_keeps_files_in_the_database_by_default(tmp_path):
    assert isinstance(open_store(Settings(data_dir=tmp_path, database_url=PG_URL)), DatabaseStore)


def test_postgresql_with_a_host_local_directory_is_refused_at_start(tmp_path):
    settings = Settings(data_dir=tmp_path, database_url=PG_URL, file_store="directory")
    with pytest.raises(StorageSettingsError, match="ONETHING_SHARED_DIR"):
        build_runtime(settings)


def test_serve_says_why_it_refuses_a_host_local_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ONETHING_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ONETHING_DATABASE_URL", PG_URL)
    monkeypatch.setenv("ONETHING_FILE_STORE", "directory")
    get_settings.cache_clear()
    try:
        assert main(["serve", "--port", "1"]) == 2
    finally:
        get_settings.cache_clear()
    said = capsys.readouterr().out
    assert "ONETHING_SHARED_DIR" in said and "every host" in said
    assert "someone@db.example" not in said  # no database address (nor password) printed


def test_a_declared_shared_directory_is_accepted_with_postgresql(tmp_path):
    settings = Settings(data_dir=tmp_path, database_url=PG_URL, shared_dir=tmp_path / "nfs")
    store = open_store(settings)
    assert isinstance(store, DirectoryStore) and store.shared
    assert store.directory == tmp_path / "nfs"
