"""Backup and restore from the command line (`onething backup|restore`, services/backup.py): a
system with open newborn cases, an upload and an issued certificate is backed up, restored into
a fresh database and data directory, and its open cases then run to the end there; a damaged
archive, a non-empty target and a different kind of database are refused before anything is
written; a backup made at an older schema revision is migrated to head on restore."""

from __future__ import annotations

import gzip
import io
import json
import stat
import tarfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from demo.seed import seed_demo
from services import backup
from services.backup import BackupError, postgresql_program
from services.cases.models import Case, Upload
from services.certificates.models import Certificate, SigningKey
from services.config import Settings, get_settings
from services.db import alembic_config, head_revision, make_engine, migrate
from services.registries.embedded import EmbeddedRegistry
from services.runtime import Runtime, build_runtime
from services.storage import DatabaseStore, DirectoryStore
from tests.conftest import BACKENDS, PG_URL, add_newborn_parents
from tests.web import test_shared_state
from tests.web.conftest import FATHER, MOTHER, NEWBORN_DEPARTMENTS
from tests.web.test_shared_state import _apply, _certificate, _verified
from web.cli import main

sign_in = test_shared_state.sign_in  # the fixture: `sign_in(rt, username)`, a signed-in browser
PASSWORD = "backup-secret-7"
PDF = b"%PDF-1.4 the applicant's own copy of the marriage certificate"


class Places:
    """Fresh databases, each with its own data directory: SQLite files, or PostgreSQL databases
    made for the test and dropped after it (a backup holds a whole database, not a schema)."""

    def __init__(self, backend: str, tmp_path: Path) -> None:
        self.backend = backend
        self.tmp_path = tmp_path
        self.databases: list[str] = []
        self.admin = None

    def new(self, name: str) -> tuple[str, Path]:
        data_dir = self.tmp_path / name
        if self.backend == "sqlite":
            return f"sqlite:///{data_dir / 'onething.sqlite'}", data_dir
        base = PG_URL.rsplit("/", 1)[0]
        if self.admin is None:
            self.admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        database = f"onething_backup_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{database}"'))
        self.databases.append(database)
        url = make_url(f"{base}/{database}")  # with a password (trust ignores it): never shown
        url = url if url.password else url.set(password=PASSWORD)
        return url.render_as_string(hide_password=False), data_dir

    def close(self) -> None:
        if self.admin is None:
            return
        with self.admin.connect() as connection:
            for database in self.databases:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(params=BACKENDS)
def places(request, tmp_path) -> Iterator[Places]:
    made = Places(request.param, tmp_path)
    yield made
    made.close()


@pytest.fixture
def host(registry_path) -> Iterator:
    """`host(url, data_dir, **settings)`: a runtime on that database, with the test's demo
    registry."""
    built: list[Runtime] = []

    def build(url: str, data_dir: Path, **more) -> Runtime:
        settings = Settings(data_dir=data_dir, database_url=url, deadline_interval=0, **more)
        registry = EmbeddedRegistry(
            registry_path, clock=lambda: datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
        )
        built.append(build_runtime(settings, registry=registry))
        return built[-1]

    yield build
    for rt in built:
        rt.db.dispose()


@pytest.fixture
def onething(monkeypatch, capsys):
    """`onething(url, data_dir, *arguments, passphrase="")`: the command run with those
    settings, as (exit status, output)."""

    def run(url: str, data_dir: Path, *arguments: str, passphrase: str = "") -> tuple[int, str]:
        monkeypatch.setenv("ONETHING_DATABASE_URL", url)
        monkeypatch.setenv("ONETHING_DATA_DIR", str(data_dir))
        monkeypatch.setenv("ONETHING_CERTIFICATE_KEY_PASSPHRASE", passphrase)
        get_settings.cache_clear()
        try:
            status = main(list(arguments))
        finally:
            get_settings.cache_clear()
        out = capsys.readouterr()
        assert PASSWORD not in out.out + out.err  # the database's password is never printed
        return status, out.out

    return run


def _approve_all(rt: Runtime, sign_in) -> int:
    """Every department approves every task in its queue, until no queue has one left (an
    approval may route the next item); returns how many tasks were approved."""
    approved = 0
    while True:
        before = approved
        for department in NEWBORN_DEPARTMENTS:
            clerk = sign_in(rt, f"{department}01")
            for task in clerk.client.get("/api/v1/tasks").json():
                clerk.get(f"/clerk/items/{task['id']}")
                done = clerk.post(
                    f"/clerk/items/{task['id']}/decision", data={"decision": "approved"}
                )
                assert done.status_code == 303, done.text[:500]
                approved += 1
        if approved == before:
            return approved


def _statuses(rt: Runtime) -> dict[int, str]:
    with Session(rt.db) as session:
        return dict(session.exec(select(Case.id, Case.status)).all())


def _tables(url: str) -> list[str]:
    db = create_engine(url)
    try:
        with db.connect() as connection:
            return inspect(connection).get_table_names()
    finally:
        db.dispose()


def _key_ids(url: str) -> set[str]:
    db = make_engine(url)
    try:
        with Session(db) as session:
            return set(session.exec(select(SigningKey.key_id)).all())
    finally:
        db.dispose()


def _seeded(host, places: Places, name: str) -> tuple[str, Path]:
    url, data_dir = places.new(name)
    seed_demo(host(url, data_dir))
    return url, data_dir


def test_a_restored_backup_runs_its_open_cases_to_the_end_and_verifies_old_certificates(
    places, host, sign_in, onething, registry_path, tmp_path
):
    url, data_dir = places.new("source")
    source = host(url, data_dir)
    seed_demo(source)
    # One case run to the end and its certificate issued; one with an upload and one of its
    # items approved; two more just submitted.
    father = sign_in(source, FATHER)
    done_case = _apply(father)
    _approve_all(source, sign_in)
    issued = _certificate(source, father, done_case)
    mother = sign_in(source, MOTHER)
    uploaded_case = _apply(mother, files=[("material_marriage_certificate", ("copy.pdf", PDF))])
    police = sign_in(source, "police01")
    [task] = police.client.get("/api/v1/tasks").json()
    police.get(f"/clerk/items/{task['id']}")
    police.post(f"/clerk/items/{task['id']}/decision", data={"decision": "approved"})
    for parent in add_newborn_parents(source.db, registry_path, 2):
        _apply(sign_in(source, parent))
    with Session(source.db) as session:
        [upload] = session.exec(select(Upload).where(Upload.case_id == uploaded_case)).all()
        key_id = session.exec(select(SigningKey.key_id)).one()
        issued_before = session.exec(select(Certificate.public_id)).all()
    before = _statuses(source)
    assert before[done_case] == "completed"
    assert sorted(before.values()).count("processing") == 3
    assert isinstance(source.files, DirectoryStore if places.backend == "sqlite" else DatabaseStore)

    archive = tmp_path / "backups" / "onething.tar.gz"
    status, out = onething(url, data_dir, "backup", str(archive))
    assert status == 0, out
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert "signing keys: 1, private keys NOT encrypted" in out and "warning:" in out
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest["database"] == places.backend
    assert manifest["alembic_revision"] == head_revision()
    assert {entry["path"] for entry in manifest["files"]} == names - {"manifest.json"}
    if places.backend == "sqlite":  # the directory store's files travel beside the database
        assert f"files/{upload.stored_name}" in names
    else:  # the database store's are in the dump
        assert names == {"manifest.json", "database.pgdump"}

    target_url, target_dir = places.new("restored")
    status, out = onething(target_url, target_dir, "restore", str(archive))
    assert status == 0, out
    assert f"now at schema revision {head_revision()}" in out
    restored = host(target_url, target_dir)
    assert _statuses(restored) == before
    with Session(restored.db) as session:
        assert session.exec(select(SigningKey.key_id)).one() == key_id
    # the upload reads back, for the applicant and for the clerk
    assert sign_in(restored, MOTHER).get(f"/uploads/{upload.id}").content == PDF
    assert sign_in(restored, "police01").get(f"/uploads/{upload.id}").content == PDF
    # the certificate issued before the backup downloads again (the same one) and is genuine
    again = _certificate(restored, sign_in(restored, FATHER), done_case)
    assert again.public_id == issued.public_id
    found = _verified(restored, issued.public_id)
    assert found["valid"] and found["key_id"] == key_id
    assert len(issued_before) > 1
    assert all(_verified(restored, public_id)["valid"] for public_id in issued_before)
    # every open case runs to the end on the restored system, and its certificates verify
    assert _approve_all(restored, sign_in) > 0
    assert set(_statuses(restored).values()) == {"completed"}
    mother = sign_in(restored, MOTHER)
    after = _certificate(restored, mother, uploaded_case)
    assert after.key_id == key_id and _verified(restored, after.public_id)["valid"]
    assert after.public_id not in issued_before


def test_a_damaged_archive_is_refused_and_nothing_is_written(places, host, onething, tmp_path):
    url, data_dir = _seeded(host, places, "source")
    archive = tmp_path / "onething.tar.gz"
    assert onething(url, data_dir, "backup", str(archive))[0] == 0
    good = archive.read_bytes()

    # a byte changed in the middle of the compressed stream
    broken = bytearray(good)
    broken[len(broken) // 2] ^= 0xFF
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(bytes(broken))
    # whole and readable, but the dump differs from what the manifest records
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(fileobj=io.BytesIO(good)) as tar, tarfile.open(tampered, "w:gz") as out:
        for member in tar:
            content = tar.extractfile(member).read()
            if member.name.startswith("database."):
                content = content[:-1] + bytes([content[-1] ^ 1])
            out.addfile(member, io.BytesIO(content))
    # a member an archive never holds
    foreign = tmp_path / "foreign.tar.gz"
    with tarfile.open(fileobj=io.BytesIO(good)) as tar, tarfile.open(foreign, "w:gz") as out:
        for member in tar:
            out.addfile(member, tar.extractfile(member))
        evil = tarfile.TarInfo("../escaped")
        evil.size = 1
        out.addfile(evil, io.BytesIO(b"x"))
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(good[: len(good) // 3])

    target_url, target_dir = places.new("restored")
    for bad, said in [
        (damaged, "damaged"),
        (tampered, "differs from the manifest (checksum)"),
        (foreign, "unexpected member '../escaped'"),
        (truncated, "damaged"),
    ]:
        status, out = onething(target_url, target_dir, "restore", str(bad))
        assert status == 2, out
        assert said in out and "Traceback" not in out
    assert not (tmp_path / "escaped").exists()
    assert not target_dir.exists()  # no data directory, no uploads, no SQLite file
    if places.backend == "postgresql":
        assert _tables(target_url) == []
    # the good archive restores into the same target
    assert gzip.decompress(good)  # (it was whole all along)
    assert onething(target_url, target_dir, "restore", str(archive))[0] == 0


def test_a_non_empty_target_is_refused_unless_forced(places, host, onething, tmp_path):
    url, data_dir = _seeded(host, places, "source")
    archive = tmp_path / "onething.tar.gz"
    assert onething(url, data_dir, "backup", str(archive))[0] == 0
    target_url, target_dir = _seeded(host, places, "busy")
    keys = _key_ids(target_url)
    status, out = onething(target_url, target_dir, "restore", str(archive))
    assert status == 2 and "the target database is not empty" in out and "--force" in out
    assert _key_ids(target_url) == keys  # untouched
    status, out = onething(target_url, target_dir, "restore", "--force", str(archive))
    assert status == 0, out
    assert _key_ids(target_url) == _key_ids(url) != keys
    # and a backup file is never overwritten
    status, out = onething(url, data_dir, "backup", str(archive))
    assert status == 2 and "exists already" in out


def test_a_backup_of_an_older_schema_is_migrated_to_head_on_restore(places, onething, tmp_path):
    url, data_dir = places.new("source")
    data_dir.mkdir(parents=True)
    older = make_engine(url)
    previous = ScriptDirectory.from_config(alembic_config()).get_revision(head_revision())
    migrate(older, previous.down_revision)  # as an earlier version left it
    older.dispose()
    archive = tmp_path / "onething.tar.gz"
    status, out = onething(url, data_dir, "backup", str(archive))
    assert status == 0 and f"schema revision {previous.down_revision}," in out, out
    target_url, target_dir = places.new("restored")
    status, out = onething(target_url, target_dir, "restore", str(archive))
    assert status == 0, out
    assert f"schema upgraded from {previous.down_revision} to {head_revision()}" in out


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="PostgreSQL is not tested here")
def test_a_backup_restores_into_the_same_kind_of_database_only(host, onething, tmp_path):
    sqlite_places, pg_places = Places("sqlite", tmp_path), Places("postgresql", tmp_path)
    try:
        url, data_dir = _seeded(host, sqlite_places, "source")
        archive = tmp_path / "onething.tar.gz"
        assert onething(url, data_dir, "backup", str(archive))[0] == 0
        target_url, target_dir = pg_places.new("restored")
        status, out = onething(target_url, target_dir, "restore", str(archive))
        assert status == 2 and "the same kind of database only" in out
        assert _tables(target_url) == []
    finally:
        pg_places.close()


def test_encrypted_signing_keys_are_said_and_a_missing_passphrase_warned_of(
    places, host, onething, tmp_path
):
    url, data_dir = places.new("source")
    seed_demo(host(url, data_dir, certificate_key_passphrase="correct horse"))
    archive = tmp_path / "onething.tar.gz"
    status, out = onething(url, data_dir, "backup", str(archive), passphrase="correct horse")
    assert status == 0 and "private keys encrypted with ONETHING_CERTIFICATE_KEY_PASSPHRASE" in out
    with tarfile.open(archive) as tar:
        assert json.load(tar.extractfile("manifest.json"))["signing_keys"]["encrypted"]
    target_url, target_dir = places.new("restored")
    status, out = onething(target_url, target_dir, "restore", str(archive))
    assert status == 0, out
    assert "warning: the certificate signing key is encrypted" in out
    assert "set ONETHING_CERTIFICATE_KEY_PASSPHRASE to the backed-up system's passphrase" in out
    again_url, again_dir = places.new("restored-again")
    status, out = onething(
        again_url, again_dir, "restore", str(archive), passphrase="correct horse"
    )
    assert status == 0 and "warning" not in out


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="PostgreSQL is not tested here")
def test_an_unreachable_database_is_said_without_its_password(onething, tmp_path):
    url = make_url(PG_URL).set(password=PASSWORD, database="onething_backup_missing")
    url = url.render_as_string(hide_password=False)
    status, out = onething(url, tmp_path / "data", "backup", str(tmp_path / "x.tar.gz"))
    assert status == 2 and "cannot reach the database" in out, out
    assert not (tmp_path / "x.tar.gz").exists()


def test_the_postgresql_programs_are_found_on_the_path_else_in_debians_directories(
    monkeypatch, tmp_path
):
    assert Path(postgresql_program("pg_dump")).name == "pg_dump"
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(backup, "PG_BIN_DIRS", tmp_path / "postgresql")
    with pytest.raises(BackupError, match="pg_restore is not installed.*postgresql-client"):
        postgresql_program("pg_restore")
    for major in ("9", "13", "15"):
        program = tmp_path / "postgresql" / major / "bin" / "pg_restore"
        program.parent.mkdir(parents=True)
        program.write_text("#!/bin/sh\n")
        program.chmod(0o755)
    assert postgresql_program("pg_restore") == str(tmp_path / "postgresql/15/bin/pg_restore")
