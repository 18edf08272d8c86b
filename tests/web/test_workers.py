"""`onething serve --workers 2` on one PostgreSQL: two processes take requests on one port, and
the queues stay consistent while applicants and clerks hit both at once."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from demo.seed import DEMO_PASSWORD
from services.db import make_engine
from tests.conftest import add_newborn_parents
from tests.deploy.hosts import MULTIHOST
from tests.live import free_port, wait_until_up
from tests.web.conftest import NEWBORN_ANSWERS

pytestmark = MULTIHOST  # several workers share a PostgreSQL database: no SQLite variant

APPLICATIONS = 10  # each by another mother: a child is applied for once


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.fixture
def two_workers(database_url, registry_path, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(registry_path, data_dir / "registry.sqlite")
    port = free_port()
    env = {
        **os.environ,
        "ONETHING_DATABASE_URL": database_url,
        "ONETHING_DATA_DIR": str(data_dir),
        "ONETHING_DEADLINE_INTERVAL": "0",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--demo", "--workers", "2", "--port", str(port)],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "server.log").open("wb"),
    )
    base = f"http://127.0.0.1:{port}"
    wait_until_up(server, base, tmp_path / "server.log")
    try:
        yield base, server.pid
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def _client(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    login = client.post("/api/v1/login", json={"username": username, "password": DEMO_PASSWORD})
    assert login.status_code == 200, login.text
    client.headers["Authorization"] = f"Bearer {login.json()['token']}"
    return client


def test_two_workers_share_the_port_and_keep_queues_consistent(
    two_workers, database_url, registry_path
):
    base, pid = two_workers
    assert len(_children(pid)) >= 2  # the supervisor and its two worker processes
    db = make_engine(database_url)
    mothers = add_newborn_parents(db, registry_path, APPLICATIONS)
    db.dispose()
    applicants = {who: _client(base, who) for who in mothers}

    def apply(n: int) -> int:
        who = mothers[n]
        answers = {**NEWBORN_ANSWERS, "delivery_method": "online"} if n % 2 else NEWBORN_ANSWERS
        body = {"matter": "newborn", "answers": answers, "consent": True}
        response = applicants[who].post("/api/v1/cases", json=body)
        assert response.status_code == 201, response.text[:300]
        return response.json()["id"]

    with ThreadPoolExecutor(6) as pool:
        case_ids = set(pool.map(apply, range(APPLICATIONS)))
    assert len(case_ids) == APPLICATIONS

    clerks = [_client(base, name) for name in ("police01", "police02")]
    queue = clerks[0].get("/api/v1/tasks", params={"limit": 200}).json()
    assert sorted(task["case_id"] for task in queue) == sorted(case_ids)  # each case once

    def decide(n_task: tuple[int, dict]) -> int:
        n, task = n_task
        return (
            clerks[n % 2]
            .post(f"/api/v1/tasks/{task['id']}/complete", json={"decision": "approved"})
            .status_code
        )

    with ThreadPoolExecutor(6) as pool:
        assert set(pool.map(decide, enumerate(queue))) == {200}
    for clerk in clerks:
        assert clerk.get("/api/v1/tasks").json() == []
    for case_id in case_ids:
        who = next(c for c in applicants.values() if c.get(f"/api/v1/cases/{case_id}").is_success)
        items = who.get(f"/api/v1/cases/{case_id}").json()["items"]
        police = [i for i in items if i["department"] == "police"]
        assert [i["status"] for i in police] == ["approved"]
