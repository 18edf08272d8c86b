"""A private PostgreSQL cluster for a test: `initdb` in a temporary directory, on a free port of
127.0.0.1, its Unix socket in that directory, stopped, restarted or killed at the test's
command, and removed afterwards whatever happened.

PostgreSQL refuses to run as root: a test run as root (a container, this machine's sessions)
runs the cluster's commands as the unprivileged `postgres` account (`runuser`), which owns the
directory; a test run by an ordinary user (CI) runs them directly. The binaries are Debian's
(PG_BIN, default /usr/lib/postgresql/15/bin). Password authentication over TCP (scram), so a
test can check that the password never reaches a log; nothing is flushed to disk (fsync off),
for speed: a restart (fast or immediate) is a clean stop or a crash of the server, not of the
machine, and loses no acknowledged commit.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from tests.live import free_port

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "postgres"
START_SECONDS = 30
# Fast and disposable: no flush to disk, no full-page writes, little memory. A commit is still
# written to the log before it is acknowledged (synchronous_commit stays on): an immediate
# stop kills the server, not the machine, so what reached the kernel survives it.
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "100",
    "log_min_messages": "warning",
}


class PgCluster:
    """One cluster: `start`, `stop`, `restart`, `kill`, `url`; `remove` stops it and deletes it."""

    def __init__(self, root: Path, *, run_as: str | None) -> None:
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = free_port()
        self.password = secrets.token_urlsafe(18)
        self._run_as = run_as

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        prefix = ["runuser", "-u", self._run_as, "--"] if self._run_as else []
        return subprocess.run(
            [*prefix, *command],
            cwd=self.root,
            check=check,
            capture_output=True,
            text=True,
            timeout=START_SECONDS * 2,
        )

    def init(self) -> None:
        secret = self.root / "pwfile"
        secret.write_text(self.password + "\n")
        if self._run_as:
            shutil.chown(secret, self._run_as)
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--pwfile",
            str(secret),
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        secret.unlink()
        settings = {**SETTINGS, "port": str(self.port), "unix_socket_directories": f"'{self.root}'"}
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("".join(f"{name} = {value}\n" for name, value in settings.items()))

    def _ctl(self, action: str, *options: str) -> None:
        done = self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            str(START_SECONDS),
            *options,
            action,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl {action} failed: {done.stdout}{done.stderr}{self.tail()}")

    def start(self) -> None:
        self._ctl("start")

    def stop(self, mode: str = "fast") -> None:
        """`fast`: sessions are ended and the server stops cleanly; `immediate`: it stops at
        once, as in a crash (it recovers from its WAL at the next start)."""
        self._ctl("stop", "-m", mode)

    def restart(self, mode: str = "fast") -> None:
        self._ctl("restart", "-m", mode)

    def running(self) -> bool:
        status = self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status", check=False)
        return status.returncode == 0

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        return (
            f"{driver}://{SUPERUSER}:{quote(self.password, safe='')}"
            f"@127.0.0.1:{self.port}/{database}"
        )

    def create_database(self, name: str) -> str:
        """A new database in the cluster; returns its SQLAlchemy URL."""
        with psycopg.connect(self.url(driver="postgresql"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def tail(self) -> str:
        with suppress(OSError):
            return self.log.read_text(errors="replace")[-2000:]
        return ""

    def remove(self) -> None:
        if self.data.is_dir() and self.running():
            with suppress(RuntimeError):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def _account() -> str | None:
    """Whom to run the cluster as: None (this user) unless this is root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SUPERUSER)
    except KeyError:
        pytest.skip("running as root without a `postgres` account to run PostgreSQL as")
    return SUPERUSER


@contextmanager
def pg_cluster() -> Iterator[PgCluster]:
    """A started private cluster, removed on the way out (after a failure too)."""
    if not (PG_BIN / "initdb").is_file():
        pytest.skip(f"no PostgreSQL binaries in {PG_BIN} (set PG_BIN)")
    run_as = _account()
    # Not under pytest's tmp_path: its directories are private to this user.
    root = Path(tempfile.mkdtemp(prefix="onething-pg-"))
    if run_as:
        shutil.chown(root, run_as, run_as)
    cluster = PgCluster(root, run_as=run_as)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


def wait_for(check, seconds: float, step: float = 0.1):
    """Call `check` until it returns something true (returned) or `seconds` pass (None)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(step)
    return None
