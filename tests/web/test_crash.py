"""Crash safety: the real server is killed (SIGKILL) while citizens submit applications and
clerks and department systems complete tasks over the JSON API; restarted on the same database,
it has lost nothing it acknowledged and holds nothing half-applied.

The moment of the kill varies from run to run; the invariants checked hold whatever it is:
- every acknowledged submission exists, with its process instance and its routed items;
- every acknowledged completion is recorded: the item decided, its task completed;
- for every case, acknowledged or not: the instance's ready tasks (restored through the engine
  from its serialized state) are exactly the open tasks of the read model and the items still
  in progress, and every decided item's task is completed in the workflow;
- nothing appears that was not asked for: cases and decisions beyond the acknowledged ones are
  at most the requests that were in flight at the kill;
- the restarted server works on: it completes a remaining task and takes a new application.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from SpiffWorkflow.util.task import TaskState
from sqlmodel import Session, select

from demo.seed import DEMO_PASSWORD
from engine import cases as runner
from engine.specs import SpecCache
from engine.store import HumanTask, load_workflow
from services.cases.models import Case, CaseItem
from services.db import make_engine
from tests.conftest import add_newborn_parents
from tests.live import free_port, wait_until_up
from tests.web.conftest import NEWBORN_ANSWERS

APPLICANT_THREADS = 2
APPLICATIONS_PER_THREAD = 4  # each by another mother: a child is applied for once
CLERKS = ("police01", "hrss01")  # decide through /api/v1/tasks
SYSTEMS = ("health-system", "cdc-system")  # decide through fetch-and-lock
# Kill once this much was acknowledged (and some requests are in flight)
KILL_AFTER_CASES = 6
KILL_AFTER_DECISIONS = 4
MAX_REQUESTS_PER_THREAD = 200  # every loop is bounded, in count and time
DEADLINE_SECONDS = 40


@dataclass
class Ledger:
    """What the server acknowledged, and how many requests got no answer (in flight at the kill)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    cases: dict[int, dict] = field(default_factory=dict)  # case id -> its 201 response
    decisions: dict[int, str] = field(default_factory=dict)  # item id -> decision, from a 200
    unanswered: dict[str, int] = field(default_factory=dict)  # kind -> requests without answer
    in_flight: int = 0
    server_errors: list[str] = field(default_factory=list)

    def unanswered_count(self, kind: str) -> int:
        return self.unanswered.get(kind, 0)


class ServerGone(Exception):
    """The server stopped answering (it was killed)."""


@contextmanager
def _server(
    database_url: str, data_dir: Path, log: Path, *, demo: bool, settings: dict | None = None
) -> Iterator[tuple]:
    """`onething serve` in its own process on a free port (with more ONETHING_* `settings`);
    yields (base URL, process)."""
    port = free_port()
    env = {
        **os.environ,
        "ONETHING_DATABASE_URL": database_url,
        "ONETHING_DATA_DIR": str(data_dir),
        "ONETHING_DEADLINE_INTERVAL": "0",
        **(settings or {}),
    }
    command = [sys.executable, "-m", "web.cli", "serve", "--port", str(port)]
    server = subprocess.Popen(
        command + (["--demo"] if demo else []),
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(server, base, log)
        yield base, server
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _client(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30)
    login = client.post("/api/v1/login", json={"username": username, "password": DEMO_PASSWORD})
    assert login.status_code == 200, login.text
    client.headers["Authorization"] = f"Bearer {login.json()['token']}"
    return client


def _request(ledger: Ledger, kind: str, call: Callable[[], httpx.Response]) -> httpx.Response:
    """Send one request, counting it in flight; a request the server never answered is counted
    as unanswered (it may or may not have been applied) and ends the caller's loop."""
    with ledger.lock:
        ledger.in_flight += 1
    try:
        response = call()
    except httpx.TransportError as exc:
        with ledger.lock:
            ledger.unanswered[kind] = ledger.unanswered.get(kind, 0) + 1
        raise ServerGone from exc
    finally:
        with ledger.lock:
            ledger.in_flight -= 1
    if response.status_code >= 500:
        with ledger.lock:
            ledger.server_errors.append(f"{kind}: {response.status_code} {response.text[:200]}")
    return response


def _applicant(base: str, ledger: Ledger, stop: threading.Event, mothers: list[str]) -> None:
    """Each mother applies for her newborn once (with alternating delivery choices)."""
    for n, mother in enumerate(mothers):
        if stop.is_set():
            return
        answers = {**NEWBORN_ANSWERS, "delivery_method": "online"} if n % 2 else NEWBORN_ANSWERS
        body = {"matter": "newborn", "answers": answers, "consent": True}
        with closing(_client(base, mother)) as client:
            response = _request(
                ledger, "submit", lambda c=client, b=body: c.post("/api/v1/cases", json=b)
            )
        if response.status_code == 201:
            with ledger.lock:
                ledger.cases[response.json()["id"]] = response.json()


def _clerk(client: httpx.Client, ledger: Ledger, stop: threading.Event) -> None:
    for _ in range(MAX_REQUESTS_PER_THREAD):
        if stop.is_set():
            return
        tasks = _request(ledger, "read", lambda: client.get("/api/v1/tasks"))
        if tasks.status_code != 200 or not tasks.json():
            time.sleep(0.05)
            continue
        task_id = tasks.json()[0]["id"]
        url = f"/api/v1/tasks/{task_id}/complete"
        response = _request(
            ledger, "decide", lambda url=url: client.post(url, json={"decision": "approved"})
        )
        if response.status_code == 200:
            with ledger.lock:
                ledger.decisions[task_id] = "approved"


def _system(client: httpx.Client, ledger: Ledger, stop: threading.Event, worker: str) -> None:
    fetch = {"worker_id": worker, "max_tasks": 2, "lock_seconds": 600}
    for _ in range(MAX_REQUESTS_PER_THREAD):
        if stop.is_set():
            return
        locked = _request(
            ledger,
            "fetch",
            lambda: client.post("/api/v1/external-tasks/fetch-and-lock", json=fetch),
        )
        if locked.status_code != 200 or not locked.json():
            time.sleep(0.05)
            continue
        for task in locked.json():
            body = {"worker_id": worker, "decision": "approved", "result": {"checked": True}}
            response = _request(
                ledger,
                "decide",
                lambda task=task, body=body: client.post(
                    f"/api/v1/external-tasks/{task['id']}/complete", json=body
                ),
            )
            if response.status_code == 200:
                with ledger.lock:
                    ledger.decisions[task["id"]] = "approved"


def _run_until_killed(
    base: str, server: subprocess.Popen, mothers: list[str]
) -> tuple[Ledger, int]:
    """Applicants, clerks and department systems work at once; the server is killed with
    SIGKILL once enough was acknowledged, while requests are in flight. Returns the ledger and
    how many requests were in flight at the kill."""
    ledger = Ledger()
    stop = threading.Event()
    clients = {who: _client(base, who) for who in CLERKS + SYSTEMS}
    shares = [mothers[n::APPLICANT_THREADS] for n in range(APPLICANT_THREADS)]
    workers = [
        *(lambda share=share: _applicant(base, ledger, stop, share) for share in shares),
        *(lambda who=who: _clerk(clients[who], ledger, stop) for who in CLERKS),
        *(lambda who=who: _system(clients[who], ledger, stop, f"{who}-1") for who in SYSTEMS),
    ]

    def run(work: Callable[[], None]) -> None:
        with suppress(ServerGone):
            work()

    threads = [threading.Thread(target=run, args=(work,), daemon=True) for work in workers]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        with ledger.lock:
            enough = (
                len(ledger.cases) >= KILL_AFTER_CASES
                and len(ledger.decisions) >= KILL_AFTER_DECISIONS
            )
            busy = ledger.in_flight >= 2
        if enough and busy:
            break
        if time.monotonic() > deadline:
            stop.set()
            raise AssertionError(
                f"not enough work acknowledged in {DEADLINE_SECONDS} s: "
                f"{len(ledger.cases)} cases, {len(ledger.decisions)} decisions, "
                f"server errors: {ledger.server_errors[:3]}"
            )
        time.sleep(0.005)
    with ledger.lock:
        in_flight = ledger.in_flight
    os.kill(server.pid, signal.SIGKILL)
    server.wait(timeout=10)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    for client in clients.values():
        client.close()
    assert not any(thread.is_alive() for thread in threads)
    return ledger, in_flight


def _check_consistency(database_url: str, ledger: Ledger) -> dict[int, list[CaseItem]]:
    """Check the invariants on the database directly; returns every case's items."""
    db = make_engine(database_url)
    specs = SpecCache()
    items_of: dict[int, list[CaseItem]] = {}
    try:
        with Session(db) as session:
            cases = session.exec(select(Case)).all()
            for case in cases:
                items = session.exec(select(CaseItem).where(CaseItem.case_id == case.id)).all()
                items_of[case.id] = list(items)
                _check_case(session, specs, case, items)
            # Acknowledged submissions are all there, with the items they were answered with.
            by_id = {case.id: case for case in cases}
            for case_id, answered in ledger.cases.items():
                assert case_id in by_id, f"acknowledged case {case_id} is lost"
                routed = {(i["id"], i["item"]) for i in answered["items"] if i["id"] is not None}
                stored = {(row.id, row.item_code) for row in items_of[case_id]}
                assert routed <= stored, f"case {case_id}: items lost: {routed - stored}"
                assert by_id[case_id].number == answered["number"]
            # Acknowledged decisions are all recorded.
            decided = {row.id: row for rows in items_of.values() for row in rows}
            for item_id, decision in ledger.decisions.items():
                row = decided.get(item_id)
                assert row is not None, f"decided item {item_id} is lost"
                assert row.status == decision and row.decided_at is not None, (item_id, row)
            # Nothing that was not asked for: beyond the acknowledged, at most what was in flight.
            extra_cases = set(by_id) - set(ledger.cases)
            assert len(extra_cases) <= ledger.unanswered_count("submit"), extra_cases
            extra_decisions = {
                row.id
                for row in decided.values()
                if row.status != "processing" and not row.auto and row.id not in ledger.decisions
            }
            assert len(extra_decisions) <= ledger.unanswered_count("decide"), extra_decisions
    finally:
        db.dispose()
    return items_of


def _check_case(session: Session, specs: SpecCache, case: Case, items: list[CaseItem]) -> None:
    """One case is whole: number, instance, items routed, and the read model agrees with the
    workflow restored from its serialized state."""
    assert case.number is not None and case.instance_id is not None, case
    instance, spec, workflow = load_workflow(session, specs, case.instance_id)
    ready = {task.task_id for task in runner.ready_tasks(spec, workflow)}
    open_tasks = session.exec(
        select(HumanTask.id).where(HumanTask.instance_id == instance.id, HumanTask.state == "ready")
    ).all()
    assert set(open_tasks) == ready, f"case {case.id}: read model and workflow disagree"
    assert instance.completed == runner.is_completed(workflow), case.id
    assert items, f"case {case.id} has no items"
    in_progress = {row.engine_task_id for row in items if row.status == "processing"}
    assert in_progress == ready, f"case {case.id}: items in progress and ready tasks differ"
    for row in items:
        if row.status == "processing":
            assert row.decided_at is None, row
            continue
        assert row.decided_at is not None, row
        if row.engine_task_id is None:  # decided by its automatic check: no human task
            assert row.auto, row
            continue
        key = f"decision_{row.item_code}"
        task = workflow.tasks.get(UUID(row.engine_task_id))
        if task is not None:
            assert task.state == TaskState.COMPLETED, f"item {row.id} decided, task {task.state}"
            data = task.data.get(key)
        else:  # compacted away (engine.cases.compact): the decision lives on in the data
            found = {t.data.get(key) for t in workflow.tasks.values()} | {workflow.data.get(key)}
            data = row.status if row.status in found else sorted(map(str, found - {None}))
        assert data == row.status, f"item {row.id}: workflow says {data}, item {row.status}"
        stored = session.get(HumanTask, row.engine_task_id)
        assert stored is not None and stored.state == "completed", row
    if runner.is_completed(workflow):
        assert case.status == "completed" and case.completed_at is not None, case
    else:
        assert case.status == "processing" and case.completed_at is None, case


def _keeps_working(
    base: str, ledger: Ledger, items_of: dict[int, list[CaseItem]], mothers: list[str]
) -> None:
    """After the restart: the acknowledged cases are visible (to the police, who have an item in
    each), a remaining task can be completed, and new applications are taken (from `mothers`,
    who had not applied)."""
    clerk = _client(base, "police01")
    body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
    try:
        for case_id in ledger.cases:
            seen = clerk.get(f"/api/v1/cases/{case_id}").status_code
            assert seen == 200, (case_id, seen)
        remaining = [
            row
            for rows in items_of.values()
            for row in rows
            if row.department == "police" and row.status == "processing"
        ]
        if not remaining:  # every police task was done before the kill: one more application
            with closing(_client(base, mothers[0])) as applicant:
                assert applicant.post("/api/v1/cases", json=body).status_code == 201
        task_id = clerk.get("/api/v1/tasks").json()[0]["id"]
        done = clerk.post(f"/api/v1/tasks/{task_id}/complete", json={"decision": "approved"})
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "approved"
        ledger.decisions[task_id] = "approved"
        with closing(_client(base, mothers[1])) as applicant:
            created = applicant.post("/api/v1/cases", json=body)
        assert created.status_code == 201, created.text
        ledger.cases[created.json()["id"]] = created.json()
    finally:
        clerk.close()


@pytest.fixture
def data_dir(registry_path, tmp_path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    shutil.copy(registry_path, path / "registry.sqlite")
    return path


def test_sigkill_mid_stream_loses_nothing_acknowledged(database_url, data_dir, tmp_path):
    log = tmp_path / "server.log"
    with _server(database_url, data_dir, log, demo=True) as (base, server):
        db = make_engine(database_url)
        mothers = add_newborn_parents(
            db, data_dir / "registry.sqlite", APPLICANT_THREADS * APPLICATIONS_PER_THREAD + 2
        )
        db.dispose()
        ledger, in_flight = _run_until_killed(base, server, mothers[:-2])
    assert not ledger.server_errors, ledger.server_errors
    print(
        f"killed with {in_flight} request(s) in flight; acknowledged {len(ledger.cases)} "
        f"cases and {len(ledger.decisions)} decisions; unanswered: {ledger.unanswered}"
    )
    # Restarted on the same database (no demo seeding this time: it all exists).
    with _server(database_url, data_dir, log, demo=False) as (base, _server_process):
        items_of = _check_consistency(database_url, ledger)
        _keeps_working(base, ledger, items_of, mothers[-2:])
        _check_consistency(database_url, ledger)
