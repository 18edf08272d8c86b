"""Backup and restore: the whole database and the uploaded files kept outside it, in one archive.

An archive is a gzip-compressed tar of three kinds of member, named by allow-list:
`database.pgdump` (PostgreSQL: `pg_dump --format=custom`) or `database.sqlite` (SQLite: a copy
made with SQLite's online backup API, consistent while the server runs); `files/<name>`, the
uploads when the file store is a directory (in the database store they are in the dump); and
`manifest.json`, which names the format, the OneThing version, the schema's Alembic revision,
the database kind, when the backup was made and every other member with its size and SHA-256.

A restore reads and checks the whole archive before it writes anything, restores into an empty
database only (unless forced), puts the uploads back into the configured store and migrates
the schema to this version's head. The embedded demo registry is not backed up: it is
generated demo data, and in a real deployment the registries are the state's, not ours.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import MetaData, func, inspect
from sqlalchemy.engine import URL, Engine, make_url
from sqlmodel import Session, select

from services.certificates.keys import KeyRing, SigningKeyError
from services.certificates.models import SigningKey
from services.config import Settings
from services.db import alembic_config, current_revision, make_engine, migrate
from services.errors import NotFound
from services.storage import DirectoryStore, FileStore, open_store

FORMAT = "onething-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DUMP_NAMES = {"postgresql": "database.pgdump", "sqlite": "database.sqlite"}
_MEMBER = re.compile(r"manifest\.json|database\.(pgdump|sqlite)|files/[0-9a-f]{32}")
_STORED_NAME = re.compile(r"[0-9a-f]{32}")  # the names the file stores are given
_CHUNK = 1 << 20
# The archive is compressed once, fast: the dump is written uncompressed (pg_dump's own zlib
# took twice as long as gzip level 1 for a dump of 300 MB of uploads, and gzip over its output
# gained nothing), and uploads are mostly compressed formats already.
COMPRESS_LEVEL = 1
PG_BIN_DIRS = Path("/usr/lib/postgresql")  # Debian's packages: <major>/bin


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message says why and what to do."""


class DamagedArchive(BackupError):
    """The archive cannot be read, or a member differs from what its manifest records."""


class NotEmpty(BackupError):
    """The restore's target database already holds tables."""


@dataclass
class BackupReport:
    """What `create_backup` put into the archive, for the command's summary."""

    path: Path
    database: str
    revision: str
    database_bytes: int
    files: int
    file_store: str
    signing_keys: int
    keys_encrypted: bool


@dataclass
class RestoreReport:
    """What `restore_backup` did, for the command's summary."""

    database: str
    backup_revision: str
    revision: str | None
    files: int
    created_at: str
    onething_version: str
    signing_keys: int = 0
    keys_encrypted: bool = False
    notes: list[str] = field(default_factory=list)


def database_kind(url: str) -> str:
    """`postgresql` or `sqlite`; BackupError for any other database."""
    kind = make_url(url).get_backend_name()
    if kind not in DUMP_NAMES:
        raise BackupError(f"backups are made of PostgreSQL and SQLite databases, not {kind}")
    return kind


def create_backup(settings: Settings, target: Path) -> BackupReport:
    """Write the archive `target` (mode 0600; an existing file is never overwritten): the
    database first, then the uploads the store keeps in a directory, then the manifest."""
    if target.exists():
        raise BackupError(f"{target} exists already; name a new file")
    kind = database_kind(settings.db_url)
    store = open_store(settings)
    db = make_engine(settings.db_url)
    try:
        revision = current_revision(db)
        if revision is None:
            raise BackupError("the database has no OneThing schema: there is nothing to back up")
        keys, encrypted = _signing_keys(db)
    finally:
        db.dispose()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".onething-backup-") as work:
        dump = Path(work) / DUMP_NAMES[kind]
        extra: dict[str, str] = {}
        if kind == "postgresql":
            extra["pg_dump"] = _dump_postgresql(settings.db_url, dump)
        else:
            _copy_sqlite(_sqlite_path(settings.db_url), dump)
        listed: list[dict] = []
        try:
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with (
                os.fdopen(descriptor, "wb") as raw,
                tarfile.open(fileobj=raw, mode="w:gz", compresslevel=COMPRESS_LEVEL) as archive,
            ):
                listed.append(_add(archive, dump.name, dump))
                if isinstance(store, DirectoryStore):  # after the dump: it names only these
                    listed.extend(
                        _add(archive, f"files/{path.name}", path)
                        for path in _stored_files(store.directory)
                    )
                manifest = {
                    "format": FORMAT,
                    "format_version": FORMAT_VERSION,
                    "onething_version": _onething_version(),
                    "alembic_revision": revision,
                    "database": kind,
                    "file_store": store.kind,
                    "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "signing_keys": {"count": keys, "encrypted": encrypted},
                    "files": listed,
                    **extra,
                }
                body = json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8")
                info = _member(MANIFEST, len(body))
                archive.addfile(info, io.BytesIO(body))
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    return BackupReport(
        path=target,
        database=kind,
        revision=revision,
        database_bytes=listed[0]["size"],
        files=len(listed) - 1,
        file_store=store.kind,
        signing_keys=keys,
        keys_encrypted=encrypted,
    )


def restore_backup(settings: Settings, archive: Path, *, force: bool = False) -> RestoreReport:
    """Restore `archive` into the configured database and file store, then migrate the schema
    to head. Everything is checked before anything is written: the archive whole and as its
    manifest records it (DamagedArchive), the database kind and revision, the store, and that
    the target is empty (NotEmpty; `force` empties it first)."""
    kind = database_kind(settings.db_url)
    with tempfile.TemporaryDirectory(prefix="onething-restore-") as work:
        manifest = read_archive(archive, Path(work))
        _check_compatible(manifest, kind)
        store = open_store(settings)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = make_engine(settings.db_url)
        try:
            tables = _tables(db)
            if tables and not force:
                raise NotEmpty(
                    f"the target database is not empty ({len(tables)} tables); restore into a "
                    "new, empty database, or pass --force to discard what it holds"
                )
            dump = Path(work) / DUMP_NAMES[kind]
            if kind == "postgresql":
                if tables:
                    _drop_tables(db)
                _restore_postgresql(settings.db_url, dump)
            else:
                db.dispose()  # no pooled connection on the file while it is overwritten
                _restore_sqlite(dump, _sqlite_path(settings.db_url))
            files = _put_files(db, store, Path(work) / "files")
            before = migrate(db)
            keys, encrypted = _signing_keys(db)
            report = RestoreReport(
                database=kind,
                backup_revision=manifest["alembic_revision"],
                revision=current_revision(db),
                files=files,
                created_at=manifest["created_at"],
                onething_version=manifest["onething_version"],
                signing_keys=keys,
                keys_encrypted=encrypted,
            )
            if before != report.revision:
                report.notes.append(f"schema upgraded from {before} to {report.revision}")
            unusable = _key_problem(db, settings)
            if unusable:
                report.notes.append(f"warning: {unusable}; the server will not start until it is")
            return report
        finally:
            db.dispose()


def read_archive(archive: Path, into: Path) -> dict:
    """Unpack `archive` into the directory `into` and return its manifest, after checking that
    every member is one an archive may hold, and that the members are exactly those the
    manifest lists, with the sizes and SHA-256 it records. DamagedArchive otherwise."""
    digests: dict[str, tuple[int, str]] = {}
    manifest_body = b""
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar:
                if not member.isfile() or not _MEMBER.fullmatch(member.name):
                    raise DamagedArchive(f"{archive}: unexpected member {member.name!r}")
                if member.name in digests or (member.name == MANIFEST and manifest_body):
                    raise DamagedArchive(f"{archive}: {member.name} appears twice")
                source = tar.extractfile(member)
                if member.name == MANIFEST:
                    manifest_body = source.read()
                    continue
                digests[member.name] = _unpack(source, into / member.name)
    except FileNotFoundError:
        raise BackupError(f"{archive}: no such file") from None
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DamagedArchive(f"{archive} is damaged or not a OneThing backup ({exc})") from None
    manifest = _manifest(archive, manifest_body)
    listed = {entry["path"]: (entry["size"], entry["sha256"]) for entry in manifest["files"]}
    for name in sorted(listed.keys() | digests.keys()):
        if name not in digests:
            raise DamagedArchive(f"{archive}: {name} is missing")
        if name not in listed:
            raise DamagedArchive(f"{archive}: {name} is not in the manifest")
        if digests[name] != listed[name]:
            raise DamagedArchive(f"{archive}: {name} differs from the manifest (checksum)")
    if DUMP_NAMES[manifest["database"]] not in digests:
        raise DamagedArchive(f"{archive}: the database dump is missing")
    return manifest


def _manifest(archive: Path, body: bytes) -> dict:
    if not body:
        raise DamagedArchive(f"{archive}: no manifest.json (not a OneThing backup?)")
    try:
        manifest = json.loads(body)
        if manifest["format"] != FORMAT or manifest["database"] not in DUMP_NAMES:
            raise ValueError(manifest["format"])
        for entry in manifest["files"]:
            valid = isinstance(entry["size"], int) and isinstance(entry["sha256"], str)
            if not (valid and _MEMBER.fullmatch(entry["path"])):
                raise ValueError(entry["path"])
        for key in ("format_version", "alembic_revision", "created_at", "onething_version"):
            manifest[key]  # noqa: B018 - present, else KeyError
    except (ValueError, KeyError, TypeError) as exc:
        raise DamagedArchive(f"{archive}: the manifest cannot be read ({exc!r})") from None
    return manifest


def _check_compatible(manifest: dict, kind: str) -> None:
    if manifest["format_version"] > FORMAT_VERSION:
        raise BackupError(
            f"the archive's format {manifest['format_version']} is newer than this OneThing "
            f"reads ({FORMAT_VERSION}); restore it with OneThing {manifest['onething_version']}"
        )
    if manifest["database"] != kind:
        raise BackupError(
            f"the archive holds a {manifest['database']} database and the target "
            f"(ONETHING_DATABASE_URL) is {kind}: a backup restores into the same kind of "
            "database only"
        )
    scripts = ScriptDirectory.from_config(alembic_config())
    try:
        known = scripts.get_revision(manifest["alembic_revision"]) is not None
    except CommandError:
        known = False
    if not known:
        raise BackupError(
            f"the archive's schema revision {manifest['alembic_revision']} is unknown to this "
            f"OneThing: it was made by a newer version ({manifest['onething_version']}); "
            "restore it with that version or a newer one"
        )


def _add(archive: tarfile.TarFile, name: str, path: Path) -> dict:
    """The file at `path` into the archive as `name`, read once; its manifest entry."""
    with path.open("rb") as source:
        size = os.fstat(source.fileno()).st_size
        hashing = _Hashing(source)
        archive.addfile(_member(name, size), hashing)
    return {"path": name, "size": size, "sha256": hashing.digest.hexdigest()}


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    info.mtime = int(datetime.now(UTC).timestamp())
    return info


class _Hashing(io.RawIOBase):
    """A file read through, its SHA-256 taken on the way (tarfile reads it in chunks)."""

    def __init__(self, source: io.BufferedReader) -> None:
        self.source = source
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self.source.read(size)
        self.digest.update(chunk)
        return chunk


def _unpack(source, path: Path) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    with path.open("wb") as out:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return size, digest.hexdigest()


def _stored_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_file() and _STORED_NAME.fullmatch(p.name))


def _put_files(db: Engine, store: FileStore, unpacked: Path) -> int:
    """The archive's uploads into `store` (whichever kind), each committed on its own; a file
    already there is left as it is."""
    count = 0
    for path in _stored_files(unpacked):
        with Session(db) as session:
            try:
                store.get(session, path.name)
            except NotFound:
                store.put(session, path.name, path.read_bytes())
                session.commit()
        count += 1
    return count


def _signing_keys(db: Engine) -> tuple[int, bool]:
    """How many signing keys the database holds, and whether every stored private key is
    encrypted (with ONETHING_CERTIFICATE_KEY_PASSPHRASE)."""
    with Session(db) as session:
        count = session.exec(select(func.count()).select_from(SigningKey)).one()
        private = session.exec(
            select(SigningKey.private_key).where(SigningKey.private_key.is_not(None))
        ).all()
    return count, all("ENCRYPTED" in pem.split("\n", 1)[0] for pem in private)


def _key_problem(db: Engine, settings: Settings) -> str | None:
    """Why the restored active signing key cannot be used with this host's passphrase, if it
    cannot (the backup was made with another ONETHING_CERTIFICATE_KEY_PASSPHRASE, or none)."""
    ring = KeyRing(settings.certificate_key_passphrase.get_secret_value())
    with Session(db) as session:
        if not session.exec(select(SigningKey).where(SigningKey.retired_at.is_(None))).first():
            return None  # none active: the server makes one at start
        try:
            ring.signing_key(session)
        except SigningKeyError as exc:
            return str(exc)
    return None


def _tables(db: Engine) -> list[str]:
    with db.connect() as connection:
        return inspect(connection).get_table_names()


def _drop_tables(db: Engine) -> None:
    """--force on PostgreSQL: every table of the target's schema goes, in one transaction."""
    with db.begin() as connection:
        metadata = MetaData()
        metadata.reflect(connection)
        metadata.drop_all(connection)


def _onething_version() -> str:
    try:
        return version("onething")
    except PackageNotFoundError:
        return "unknown"


# SQLite


def _sqlite_path(url: str) -> Path:
    name = make_url(url).database
    if not name or name == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(name)


def _copy_sqlite(source: Path, copy: Path) -> None:
    """A consistent copy of the database file through SQLite's online backup API: the server
    may go on writing meanwhile. The copy is one file (no write-ahead log beside it)."""
    if not source.is_file():
        raise BackupError(f"the SQLite database {source} does not exist")
    destination = _sqlite_backup(sqlite3.connect(f"file:{source}?mode=ro", uri=True), copy)
    try:
        destination.execute("PRAGMA journal_mode=DELETE")
    finally:
        destination.close()


def _restore_sqlite(copy: Path, target: Path) -> None:
    """The copy into the target file, through the same API (which replaces the target's pages
    under SQLite's own locking, its write-ahead log included)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _sqlite_backup(sqlite3.connect(copy), target).close()


def _sqlite_backup(source: sqlite3.Connection, target: Path) -> sqlite3.Connection:
    """Copy `source` into the database file `target`; returns the open connection to it."""
    destination = sqlite3.connect(target)
    try:
        with source:
            source.backup(destination)
    except BaseException:
        destination.close()
        raise
    finally:
        source.close()
    return destination


# PostgreSQL


def postgresql_program(name: str) -> str:
    """`pg_dump` or `pg_restore`: the one on PATH, else the newest of Debian's
    /usr/lib/postgresql/<major>/bin; BackupError naming the package to install if neither."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        PG_BIN_DIRS.glob(f"*/bin/{name}"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    if candidates:
        return str(candidates[-1])
    raise BackupError(
        f"{name} is not installed (Debian: apt install postgresql-client); it must be of the "
        "server's major version or newer"
    )


def _connection(url: str) -> tuple[str, dict[str, str]]:
    """The database URL as a libpq connection string for pg_dump and pg_restore, and the
    environment they run in: the password goes in PGPASSWORD, never on the command line."""
    parsed: URL = make_url(url)
    words = {
        "host": parsed.host,
        "port": str(parsed.port) if parsed.port else None,
        "user": parsed.username,
        "dbname": parsed.database,
    }
    for key, value in parsed.query.items():  # libpq's own parameters (sslmode, options, ...)
        words[key] = value if isinstance(value, str) else value[-1]
    conninfo = " ".join(f"{key}={_quoted(value)}" for key, value in words.items() if value)
    environment = {**os.environ}
    if parsed.password is not None:
        environment["PGPASSWORD"] = parsed.password
    return conninfo, environment


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _run(program: str, arguments: list[str], environment: dict[str, str]) -> str:
    binary = postgresql_program(program)
    done = subprocess.run(  # noqa: S603 - our own arguments, no shell
        [binary, *arguments], env=environment, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise BackupError(f"{program} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return binary


def _dump_postgresql(url: str, dump: Path) -> str:
    """pg_dump of the whole database in its custom format (uncompressed: the archive is
    compressed); returns pg_dump's version line."""
    conninfo, environment = _connection(url)
    binary = _run(
        "pg_dump",
        ["--format=custom", "--compress=0", f"--file={dump}", "--dbname", conninfo],
        environment,
    )
    return subprocess.run(  # noqa: S603
        [binary, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()


def _restore_postgresql(url: str, dump: Path) -> None:
    """pg_restore into the (empty) target in one transaction: all of it or nothing."""
    conninfo, environment = _connection(url)
    _run(
        "pg_restore",
        [
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            "--dbname",
            conninfo,
            str(dump),
        ],
        environment,
    )


def describe_moment(value: str) -> str:
    """An ISO time from a manifest as the command prints it (UTC, to the second)."""
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S UTC")
