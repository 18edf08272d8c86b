"""Where stored files (uploaded materials) live: one small interface, two stores.

Every host must reach every file, so a file lives either in the database (the default with
PostgreSQL: a row in the caller's transaction) or in a directory: the one the operator declares
shared by every host (`ONETHING_SHARED_DIR`), or with SQLite, which is one host only, the data
directory's `uploads`. A PostgreSQL deployment with a host-local directory is refused at start.

Either way a file belongs to the transaction that stores it: a row is rolled back with it, and a
file written to a directory is removed again unless that transaction commits, so a refused or
failed submission leaves no file behind. A file deleted in a transaction goes once it commits.
"""

from __future__ import annotations

import contextlib
import re
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

from sqlalchemy import Column, LargeBinary, delete, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Field, Session, SQLModel, col, select

from engine.clock import utcnow
from services.config import Settings
from services.errors import NotFound

_WRITTEN = "onething.written_files"  # session.info: files written in this transaction
_DELETED = "onething.deleted_files"  # session.info: files to remove once it commits
_GONE = ("材料文件已不存在", "The material's file is gone")


class StoredFile(SQLModel, table=True):
    """A file kept in the database (the database store), under the name its owner records."""

    __tablename__ = "stored_file"
    name: str = Field(primary_key=True, max_length=64)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    stored_at: datetime = Field(default_factory=utcnow)


class FileStore(Protocol):
    """Files by name, in the transaction of `session`. Names are the caller's (random, safe)."""

    kind: Literal["database", "directory"]

    def put(self, session: Session, name: str, content: bytes) -> None: ...

    def get(self, session: Session, name: str) -> bytes:
        """The file's bytes; NotFound if there is none."""
        ...

    def delete(self, session: Session, name: str) -> None: ...


class DatabaseStore:
    """Files as rows of `stored_file`: every host reads them, and the transaction decides."""

    kind: Literal["database"] = "database"

    def put(self, session: Session, name: str, content: bytes) -> None:
        session.add(StoredFile(name=name, content=content))

    def get(self, session: Session, name: str) -> bytes:
        found = session.exec(select(StoredFile.content).where(StoredFile.name == name)).first()
        if found is None:
            raise NotFound(*_GONE)
        return found

    def delete(self, session: Session, name: str) -> None:
        session.execute(delete(StoredFile).where(col(StoredFile.name) == name))


class DirectoryStore:
    """Files in `directory`; `shared` says the operator declared it reachable from every host."""

    kind: Literal["directory"] = "directory"

    def __init__(self, directory: Path, *, shared: bool) -> None:
        self.directory = directory
        self.shared = shared

    def put(self, session: Session, name: str, content: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / name
        _note(session, _WRITTEN, path)
        path.write_bytes(content)

    def get(self, session: Session, name: str) -> bytes:
        path = self.directory / name
        if not path.is_file():
            raise NotFound(*_GONE)
        return path.read_bytes()

    def delete(self, session: Session, name: str) -> None:
        _note(session, _DELETED, self.directory / name)


def _note(session: Session, key: str, path: Path) -> None:
    """Note a file written or deleted in the session's transaction (begun if need be: the
    file's fate follows the transaction's)."""
    if not session.in_transaction():
        session.begin()
    session.info.setdefault(key, []).append(path)


@event.listens_for(OrmSession, "after_commit")
def _settle_files(session: OrmSession) -> None:
    """Committed: the files written stay, the files deleted go."""
    session.info.pop(_WRITTEN, None)
    for path in session.info.pop(_DELETED, []):
        path.unlink(missing_ok=True)


@event.listens_for(OrmSession, "after_transaction_end")
def _discard_files(session: OrmSession, transaction) -> None:
    """A transaction ended without committing (rolled back, or its session closed): the files
    it wrote are removed, the files it deleted stay."""
    if transaction.parent is not None:  # a savepoint: its outer transaction decides
        return
    session.info.pop(_DELETED, None)
    for path in session.info.pop(_WRITTEN, []):
        path.unlink(missing_ok=True)


class StorageSettingsError(ValueError):
    """The settings name a file store other hosts cannot reach; said at start, in English."""


def open_store(settings: Settings) -> FileStore:
    """The store the settings name (`file_store`, `shared_dir`), or by default: the database
    with PostgreSQL, a declared shared directory if one is set, else (SQLite, one host) the data
    directory's `uploads`. StorageSettingsError for PostgreSQL with a host-local directory."""
    kind = settings.file_store
    if kind is None:
        if settings.shared_dir is not None:
            kind = "directory"
        else:
            kind = "directory" if _single_host(settings.db_url) else "database"
    if kind == "database":
        return DatabaseStore()
    if settings.shared_dir is not None:
        return DirectoryStore(settings.shared_dir, shared=True)
    if not _single_host(settings.db_url):
        raise StorageSettingsError(
            "ONETHING_FILE_STORE=directory with a PostgreSQL database needs ONETHING_SHARED_DIR: "
            "a directory every host mounts (uploads must be readable from every host). Or leave "
            "ONETHING_FILE_STORE unset (or set it to 'database') to keep the files in PostgreSQL."
        )
    return DirectoryStore(settings.upload_dir, shared=False)


def _single_host(url: str) -> bool:
    """Whether the database can serve one host only (SQLite: a file on this host)."""
    return make_url(url).get_backend_name() == "sqlite"


_STORED_NAME = re.compile(r"[0-9a-f]{32}")  # the names stores are given (random hex)


def adopt_directory(db: Engine, store: FileStore, directory: Path) -> int:
    """Upgrade: the files an earlier version kept in this host's `directory` (the data
    directory's uploads) move into `store` (each committed on its own; one already there is left
    as it is), then the directory is renamed `<name>.imported-<time>`, so the next start finds
    nothing to do. Returns how many files were imported; 0 without such a directory, or when it
    is the store's own."""
    own = isinstance(store, DirectoryStore) and store.directory.resolve() == directory.resolve()
    if own or not directory.is_dir():
        return 0
    imported = 0
    for path in sorted(directory.iterdir()):
        if not path.is_file() or not _STORED_NAME.fullmatch(path.name):
            continue
        with Session(db) as session:
            try:
                store.get(session, path.name)
            except NotFound:
                store.put(session, path.name, path.read_bytes())
                try:
                    session.commit()
                except IntegrityError:  # another process of this host imported it meanwhile
                    continue
                imported += 1
    stamp = utcnow().strftime("%Y%m%d%H%M%S")
    with contextlib.suppress(FileNotFoundError):  # (or renamed it meanwhile)
        directory.rename(directory.with_name(f"{directory.name}.imported-{stamp}"))
    return imported


def describe_store(store: FileStore) -> str:
    """One line for the start-up message: where the files are."""
    if isinstance(store, DirectoryStore):
        reach = "shared by every host" if store.shared else "this host only (SQLite)"
        return f"files in {store.directory} ({reach})"
    return "files in the database"
