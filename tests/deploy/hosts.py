"""Application hosts as an operator runs them: separate `onething serve` processes, each with its
own data directory, sharing one PostgreSQL database (the test's). Used by the tests that need
several hosts (tests/web/test_timers_across_hosts.py, tests/deploy/test_proxy.py)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import httpx
import pytest

from demo.seed import DEMO_PASSWORD
from tests.conftest import BACKENDS
from tests.live import free_port, wait_until_up

PROJECT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 60

# The marks of a test that starts hosts: selectable with `-m multihost`, and on PostgreSQL only
# (the hosts share it; no SQLite variant to skip), unless PostgreSQL is not tested at all.
MULTIHOST = [
    pytest.mark.multihost,
    pytest.mark.skipif("postgresql" not in BACKENDS, reason="several hosts share PostgreSQL"),
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]


# What every host of a deployment is given alike: the address citizens reach (docs/deployment.md),
# printed in each host's answers and certificates. Unset, each host would print its own.
SHARED_SETTINGS = {"ONETHING_PUBLIC_BASE_URL": "https://onething.example.gov.cn"}


class Host:
    """One `onething serve` process group (a host), its port and its log."""

    def __init__(
        self, name: str, *, workers: int, env: dict[str, str], registry: Path, tmp_path: Path
    ) -> None:
        self.name = name
        self.workers = workers
        data_dir = tmp_path / name  # a host's own data directory, with the registry in it
        data_dir.mkdir()
        shutil.copy(registry, data_dir / "registry.sqlite")
        self.log = tmp_path / f"{name}.log"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "web.cli", "serve", "--port", str(self.port)]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, "--workers", str(workers)],
                env={**SHARED_SETTINGS, **env, "ONETHING_DATA_DIR": str(data_dir)},
                cwd=PROJECT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: paused and stopped as a whole
            )

    def wait_started(self) -> None:
        """Until it answers and every worker has started (its deadline loop runs)."""
        wait_until_up(self.process, self.base, self.log)
        deadline = time.monotonic() + WAIT_SECONDS
        while self.log.read_text().count("Application startup complete") < self.workers:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start: {self.tail()}")
            time.sleep(0.1)

    def _members(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[2]) == self.process.pid:  # the process group
                    found.append(int(entry.name))
        return found

    def _states(self) -> set[str]:
        states = set()
        for pid in self._members():
            try:
                states.add((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1][1])
            except OSError:
                continue
        return states

    def owners(self) -> set[str]:
        """The lock owner names its processes give timer jobs (`deadlines.owner_name`)."""
        return {f"{socket.gethostname()}:{pid}" for pid in self._members()}

    def pause(self) -> None:
        """Stop every process of the host (its scheduler threads included) until `resume`."""
        assert len(self._members()) >= self.workers
        os.killpg(self.process.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while self._states() != {"T"}:
            assert time.monotonic() < deadline, f"{self.name} did not stop: {self._states()}"
            time.sleep(0.01)

    def resume(self) -> None:
        os.killpg(self.process.pid, signal.SIGCONT)

    def waiting(self) -> int:
        """Connections to the host with bytes it has not read (a request sent to it that it has
        not taken up, e.g. while it is paused), from the kernel's socket tables."""
        count = 0
        for table in ("tcp", "tcp6"):
            try:
                lines = Path("/proc/net", table).read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                receive_queue = int(fields[4].split(":")[1], 16)
                if local_port == self.port and fields[3] == "01" and receive_queue:
                    count += 1  # established, with unread bytes
        return count

    def kill(self) -> None:
        """SIGKILL to every process of the host at once, as when its machine dies: nothing is
        finished, closed or rolled back by the host itself."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while self._members():  # its workers, reaped by init
            assert time.monotonic() < deadline, f"{self.name} still runs: {self._members()}"
            time.sleep(0.01)

    def stop(self) -> None:
        """SIGINT (resumed first if paused), then whatever is left of the group is killed."""
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGCONT)
            self.process.send_signal(signal.SIGINT)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]

    def logged(self, text: str, timeout: float = 10) -> str:
        """The host's log once `text` is in it (or as it is after `timeout` seconds). A request's
        line is written after its answer has gone out, so a caller that just had the answer
        may read the log before the line is there."""
        deadline = time.monotonic() + timeout
        while text not in (found := self.log.read_text(errors="replace")):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        return found

    def client(self, username: str) -> httpx.Client:
        client = httpx.Client(base_url=self.base, timeout=30)
        body = {"username": username, "password": DEMO_PASSWORD}
        login = client.post("/api/v1/login", json=body)
        assert login.status_code == 200, login.text
        client.headers["Authorization"] = f"Bearer {login.json()['token']}"
        return client
