"""Benchmark: one newborn case's whole lifecycle, from the engine floor to the full HTTP stack.

A lifecycle: a father (five department items) submits the combined application, then each
department's clerk lists its queue and approves the case's task, until the case is completed.
A matter takes one open or granted case per subject (the newborn's birth certificate), so every
lifecycle is another father with his own child: a clone of the demo father's family (child not
named yet, wife on resident insurance) under new ID and certificate numbers, written into the
benchmark's registry file (bench/applicants.py), each with an account and a login session. At
start-up a second application for a lifecycle's child is checked to be refused (409); every
submission must answer 201 with the five items that apply (the maternity allowance does not),
and afterwards every database must hold exactly one completed case of five items per applicant
used, each with its own subject. `--max-rate` sizes the applicants for the load windows;
`--idempotency-keys` sends a new Idempotency-Key with every POST (the server's claim of the key
is then measured too; without the header it does nothing).

 (1) two engine floors, on the exact start data submit_application passes: the *server-path
     floor*, the engine calls the server makes per case and nothing else (start, each decision
     on the live workflow, `engine.cases.saving` at each save: observe, compact, the server's
     own dump; the store calls the same function, so the floor follows the server), against
     which every share is taken; and the *stock-serializer floor*, SpiffWorkflow alone as a
     naive user runs it (the state saved with SpiffWorkflow's own serializer, the whole spec in
     it, restored at every step), kept for comparison with other engines;
 (2) the full stack: a real uvicorn server (one worker, configured as `onething serve` runs it)
     on a fresh data directory, on SQLite and on a fresh PostgreSQL database, driven by a
     sequential keep-alive client (the standard library's http.client: httpx cost the benchmark
     process about 1 ms of CPU per request); the clerks' tokens are obtained once and the
     applicants' sessions are inserted before timing (argon2 logins are not part of the
     lifecycle). For reference, the same app in process (httpx.ASGITransport, the
     threadpool run inline): the difference splits the server's overhead from the app's work.
     And the framework alone: the same ten requests against an app that does no work
     (`bare_app`: the routes, request bodies and answers' shapes, one thread-pool hand-off per
     request) in a uvicorn child configured as ours; the floor plus this is the least any
     FastAPI + uvicorn stack could take per case, so floor / (floor + this) is the ceiling of a
     share. The configurations of (1) and (2) run round-robin, one case each in turn, so that they all
     see the same load on a shared machine;
 (2b) one worker under load: --clients keep-alive clients run lifecycles back to back for
     --load-seconds against each server (a sequential client leaves the worker idle while it
     works and while PostgreSQL answers); the floor runs alone in windows alternating with the
     loaded ones, and the target compares the two throughputs;
 (2c) one and two workers on PostgreSQL: the PostgreSQL server of (2) and a second server of
     two worker processes sharing one socket (as `onething serve --workers 2` runs them) on the
     same database, each under 2 x --clients lifecycle clients, in alternating windows;
 (3) a per-phase profile of the HTTP path in process on SQLite (and the phase timers on
     PostgreSQL): exclusive time per phase from timers wrapped around the project's steps, SQL
     statement counts, the database's own work (the same cases' statements replayed through the
     bare sqlite3 driver on a copy of the database: what is left of the app's SQL time is
     SQLAlchemy's), and cProfile's top functions (project and libraries).

The server runs `create_app` behind a pass-through ASGI wrapper that adds a `Server-Timing`
header (time inside the app until the response starts), so client time splits into app time
and uvicorn + TCP + client time.

It ends with one line, the shares being server-path floor / stack (medians; under load,
throughputs) as fractions:
  summary: server_floor_ms=… stock_floor_ms=… sqlite_ms=… postgres_ms=… sqlite_share=…
  postgres_share=… loaded_sqlite_share=… loaded_postgres_share=…

Run: `.venv/bin/python bench/newborn_lifecycle.py [--cases N]` (see --help).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import http.client
import json
import math
import os
import platform
import pstats
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from applicants import Applicant, ApplicantPool, clone_families
from pydantic import BaseModel
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from sqlalchemy import create_engine, event, text
from sqlalchemy.pool import NullPool

from demo.registry import generate_dataset
from demo.seed import DEMO_PASSWORD, seed_demo
from engine import cases as runner
from engine.sandbox import sandboxed_script_engine
from engine.specs import ProcessSpec
from services.config import Settings
from services.registries.embedded import EmbeddedRegistry
from services.runtime import Runtime, build_runtime

TODAY = date(2026, 11, 23)
FATHER = "310104199511020172"  # 张磊: child not named yet, wife on resident insurance
FAMILY = Applicant(FATHER, "张磊")  # the family every lifecycle's applicant is a clone of
ITEMS = 5  # the father's case: every item applies but the maternity allowance
DEPARTMENTS = ("health", "police", "medical", "hrss", "cdc")
ANSWERS = {
    "child_name": "张小满",
    "household_parent": "father",
    "applicant_phone": "13812345678",
    "delivery_method": "online",
    "bank_name": "中国工商银行",
    "bank_card_number": "6222020200112233446",
}
# `consent` authorizes the registry lookups (older versions of the API ignore the field)
CASE_BODY = {"matter": "newborn", "answers": ANSWERS, "consent": True}
APPROVE = {"decision": "approved"}
PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432"
PROJECT_DIR = Path(runner.__file__).resolve().parent.parent  # the tree actually imported
# Targets, as shares of the server-path floor (floor / stack: medians for a sequential client,
# throughputs for one worker under --clients clients)
TARGET_SHARES = {"uvicorn + SQLite": 0.50, "uvicorn + PostgreSQL": 0.40}
TARGET_LOADED_SHARE = 0.60
TARGET_SCALING = 1.6  # two workers on PostgreSQL against one
PLUMBING = 0.6  # the profile's tables skip functions that wrap more than this share of the run
CHAIN = 0.9  # ... and leave a callee taking this share of a listed caller's time to the caller
REQUEST_KINDS = ("POST /api/v1/cases", "GET /api/v1/tasks", "POST /api/v1/tasks/{id}/complete")
# --idempotency-keys: every POST carries a new Idempotency-Key, as a client that retries does
OPTIONS = SimpleNamespace(idempotency_keys=False)


# --- small helpers ---------------------------------------------------------------------------


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98] if len(samples) > 1 else samples[0]


def machine() -> str:
    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "-"

    http = "httptools" if version("httptools") != "-" else "h11"
    loop = "uvloop" if version("uvloop") != "-" else "asyncio"
    try:
        commit = subprocess.run(
            ["git", "-C", str(PROJECT_DIR), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return (
        f"machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, load average {load_average()}\n"
        f"project: {PROJECT_DIR} ({commit or 'not a git checkout'})\n"
        f"versions: SpiffWorkflow {version('SpiffWorkflow')}, FastAPI {version('fastapi')}, "
        f"Starlette {version('starlette')}, SQLAlchemy {version('SQLAlchemy')}, "
        f"pydantic {version('pydantic')}, uvicorn {version('uvicorn')} ({http}, {loop} loop), "
        f"httpx {version('httpx')}, psycopg {version('psycopg')}"
    )


def fresh_runtime(folder: Path, registry_path: Path, database_url: str | None = None) -> Runtime:
    """A runtime on a new data directory (SQLite unless `database_url`), demo accounts seeded."""
    settings = Settings(data_dir=folder, database_url=database_url)
    rt = build_runtime(settings, registry=EmbeddedRegistry(registry_path))
    seed_demo(rt)
    return rt


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used so far; 0 if it is gone."""
    fields = _proc_stat(pid)
    if not fields:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CpuProbe = Callable[[], dict[int, float]]  # CPU seconds so far, by process id


# --- (1) the engine floor --------------------------------------------------------------------


def captured_start(subject: ApiSubject) -> tuple[ProcessSpec, dict[str, Any]]:
    """The spec and exact start data the server hands the engine, spied on one API lifecycle."""
    captured: list[tuple[ProcessSpec, dict[str, Any]]] = []
    original = runner.start

    def spy(spec: ProcessSpec, data: dict[str, Any]):
        captured.append((spec, dict(data)))
        return original(spec, data)

    runner.start = spy
    try:
        subject.run(record=False)
    finally:
        runner.start = original
    if len(captured) != 1:
        raise RuntimeError(f"expected one process start per case, saw {len(captured)}")
    return captured[0]


# The floor saves and restores with SpiffWorkflow's own serializer, as SpiffWorkflow alone does
# (the whole process spec inside every state). Our engine names the spec in the state instead
# (engine.cases._WorkflowConverter): that saving belongs to the full stack, not to the floor.
_STOCK_SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
_FLOOR_SCRIPTS = sandboxed_script_engine()


def stock_dump(workflow) -> str:
    return _STOCK_SERIALIZER.serialize_json(workflow)


def stock_restore(state: str):
    workflow = _STOCK_SERIALIZER.deserialize_json(state)
    workflow.script_engine = _FLOOR_SCRIPTS
    return workflow


def floor_case(spec: ProcessSpec, data: dict[str, Any], steps: dict[str, float]) -> str:
    """Start, then complete the lanes' tasks in department order, dumping/restoring each step
    with SpiffWorkflow's own serializer."""
    clock = time.perf_counter
    t0 = clock()
    workflow = runner.start(spec, data)
    t1 = clock()
    state = stock_dump(workflow)
    t2 = clock()
    steps["start"] += t1 - t0
    steps["dump"] += t2 - t1
    order = {department: n for n, department in enumerate(DEPARTMENTS)}
    for _ in range(3 * len(DEPARTMENTS)):  # bounded: the newborn process has five human tasks
        t0 = clock()
        workflow = stock_restore(state)
        t1 = clock()
        ready = runner.ready_tasks(spec, workflow)
        if not ready:
            break
        task = min(ready, key=lambda task: order.get(task.lane or "", len(order)))
        t2 = clock()
        decision = {f"decision_{task.item}": "approved", f"comment_{task.item}": ""}
        runner.complete(workflow, task.task_id, decision)
        t3 = clock()
        state = stock_dump(workflow)
        t4 = clock()
        steps["restore"] += t1 - t0
        steps["ready_tasks"] += t2 - t1
        steps["complete"] += t3 - t2
        steps["dump"] += t4 - t3
    if not runner.is_completed(workflow):
        raise RuntimeError("the floor's workflow did not complete")
    return state


def server_floor_case(spec: ProcessSpec, data: dict[str, Any], steps: dict[str, float]) -> str:
    """The engine work the server does for one case, and nothing else: start on the exact start
    data, then each department's decision on the live workflow (the server keeps it between
    steps), saved each time through `cases.saving` (observe, compact, the server's own dump):
    the same calls the store makes, so this floor follows the server's engine path."""
    clock = time.perf_counter
    t0 = clock()
    workflow = runner.start(spec, data)
    t1 = clock()
    saved = runner.saving(spec, workflow, new=True)
    t2 = clock()
    steps["start"] += t1 - t0
    steps["save"] += t2 - t1
    order = {department: n for n, department in enumerate(DEPARTMENTS)}
    for _ in range(3 * len(DEPARTMENTS)):  # bounded: the newborn process has five human tasks
        if saved.completed or not saved.observed.ready:
            break
        task = min(saved.observed.ready, key=lambda task: order.get(task.lane or "", len(order)))
        t0 = clock()
        runner.complete(workflow, task.task_id, runner.decision_data(task.item, "approved", ""))
        t1 = clock()
        saved = runner.saving(spec, workflow)
        t2 = clock()
        steps["complete"] += t1 - t0
        steps["save"] += t2 - t1
    if not saved.completed:
        raise RuntimeError("the server-path floor's workflow did not complete")
    return saved.state


# --- the lifecycle through the JSON API ------------------------------------------------------


class Requests:
    """Client-side and server-side (Server-Timing) milliseconds per request kind."""

    def __init__(self) -> None:
        self.client: dict[str, list[float]] = defaultdict(list)
        self.server: dict[str, list[float]] = defaultdict(list)
        self.case_server: list[float] = []


def _call(client, kind: str, method: str, url: str, log: Requests | None, **kwargs):
    t0 = time.perf_counter()
    response = client.request(method, url, **kwargs)
    elapsed = (time.perf_counter() - t0) * 1000
    if log is not None:
        log.client[kind].append(elapsed)
        timing = response.headers.get("server-timing", "")
        if timing.startswith("app;dur="):
            log.server[kind].append(float(timing[8:]))
    return response


class HttpResponse:
    """What the lifecycle reads of a response (the shape of httpx's)."""

    def __init__(self, method: str, path: str, status: int, headers, body: bytes) -> None:
        self.status_code = status
        self.headers = {name.lower(): value for name, value in headers}
        self.content = body
        self.request = SimpleNamespace(method=method, url=SimpleNamespace(path=path))

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


class KeepAliveClient:
    """A sequential HTTP/1.1 client on one keep-alive connection (the standard library's
    http.client): it costs the benchmark process a fraction of httpx's CPU per request, so the
    served figures show the server rather than the client."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        url = urlsplit(base_url)
        self._connection = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)

    def request(self, method: str, url: str, *, json=None, headers=None) -> HttpResponse:
        body = None
        sent = {"Accept": "application/json", **(headers or {})}
        if json is not None:
            body = _json_bytes(json)
            sent["Content-Type"] = "application/json"
        try:
            self._connection.request(method, url, body=body, headers=sent)
            response = self._connection.getresponse()
        except (http.client.HTTPException, OSError):
            self._connection.close()  # reconnect once (the server closed an idle connection)
            self._connection.request(method, url, body=body, headers=sent)
            response = self._connection.getresponse()
        content = response.read()
        return HttpResponse(method, url, response.status, response.getheaders(), content)

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> KeepAliveClient:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def _expect(response, status: int):
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text[:500]}"
        )
    return response


def lifecycle(
    client,
    tokens: dict[str, dict[str, str]],
    citizen: dict[str, str],
    log: Requests | None = None,
) -> int:
    """One case: submit as the citizen (a father whose child has no case yet; the answer must
    list the five items), then each department lists its queue and approves."""
    served_before = sum(map(sum, log.server.values())) if log else 0.0
    response = _call(
        client,
        REQUEST_KINDS[0],
        "POST",
        "/api/v1/cases",
        log,
        json=CASE_BODY,
        headers=_post(citizen),
    )
    case = _expect(response, 201).json()
    if sum(item["status"] != "not_applicable" for item in case["items"]) != ITEMS:
        raise RuntimeError(f"case {case['id']}: not {ITEMS} items: {case['items']}")
    case_id = case["id"]
    for department in DEPARTMENTS:
        headers = tokens[department]
        queue = _expect(
            _call(client, REQUEST_KINDS[1], "GET", "/api/v1/tasks", log, headers=headers), 200
        )
        task = next((t for t in queue.json() if t["case_id"] == case_id), None)
        if task is None:  # decided without a clerk (an automatic check); verify() checks the end
            continue
        url = f"/api/v1/tasks/{task['id']}/complete"
        headers = _post(headers)
        _expect(
            _call(client, REQUEST_KINDS[2], "POST", url, log, json=APPROVE, headers=headers), 200
        )
    if log is not None and log.server:
        log.case_server.append(sum(map(sum, log.server.values())) - served_before)
    return case_id


def _post(headers: dict[str, str]) -> dict[str, str]:
    """A POST's headers: with --idempotency-keys, a new Idempotency-Key too."""
    if not OPTIONS.idempotency_keys:
        return headers
    return {**headers, "Idempotency-Key": uuid.uuid4().hex}


def login_clerks(client) -> dict[str, dict[str, str]]:
    """Each department's clerk signs in once: request headers by department."""
    tokens = {}
    for department in DEPARTMENTS:
        body = {"username": f"{department}01", "password": DEMO_PASSWORD}
        token = _expect(client.request("POST", "/api/v1/login", json=body), 200).json()["token"]
        tokens[department] = {"Authorization": f"Bearer {token}"}
    return tokens


def refuses_repeat(subject: ApiSubject) -> None:
    """One lifecycle, then a second application for its child: it must be refused (409)."""
    subject.run(record=False)
    again = subject.client.request("POST", "/api/v1/cases", json=CASE_BODY, headers=subject.citizen)
    if again.status_code != 409:
        raise RuntimeError(
            f"{subject.name}: a second application for a child answered {again.status_code}, "
            f"not 409: {again.text[:300]}"
        )


def check_cases(db, pool: ApplicantPool) -> str:
    """The database holds one completed newborn case of five items, each with a subject of its
    own, per applicant taken from the pool (raises otherwise)."""
    with db.connect() as conn:
        cases, subjects, completed = conn.execute(
            text(
                "SELECT count(*), count(DISTINCT subject_key), "
                "sum(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) "
                "FROM case_file WHERE matter = 'newborn'"
            )
        ).one()
        sizes = conn.execute(
            text(
                "SELECT n, count(*) FROM (SELECT c.id, "
                "sum(CASE WHEN i.status <> 'not_applicable' THEN 1 ELSE 0 END) AS n "
                "FROM case_file c JOIN case_item i ON i.case_id = c.id "
                "WHERE c.matter = 'newborn' GROUP BY c.id) AS per_case GROUP BY n"
            )
        ).all()
    found = (
        f"{cases} cases for {pool.taken} applicants, {subjects} distinct subjects, "
        f"{completed} completed, items per case {dict(sizes)}"
    )
    if not (cases == pool.taken == subjects == completed and dict(sizes) == {ITEMS: cases}):
        raise RuntimeError(f"database check failed: {found}")
    return found


# --- the configurations, measured round-robin ---------------------------------------------------


class Subject:
    """A configuration that runs one newborn lifecycle per `run()`."""

    name = ""

    def __init__(self) -> None:
        self.samples: list[float] = []  # ms per case
        self.thread_cpu = 0.0  # seconds of this process's main thread
        self.probes: dict[str, CpuProbe] = {}
        self.cpu: dict[str, float] = {}  # ms per case, by process group

    def run(self, record: bool) -> None:
        raise NotImplementedError

    def verify(self) -> None:
        """Check, after the timed cases, that every case really went through."""

    @property
    def throughput(self) -> float:
        """Cases per second for a sequential client: 1 / mean latency."""
        return 1000 / statistics.mean(self.samples)


class FloorSubject(Subject):
    def __init__(self, name: str, spec: ProcessSpec, data: dict[str, Any]) -> None:
        super().__init__()
        self.name = name
        self.spec = spec
        self.data = data
        self.steps: dict[str, float] = defaultdict(float)
        self.state = ""

    def run(self, record: bool) -> None:
        self.state = self.case(self.spec, self.data, self.steps if record else defaultdict(float))

    @staticmethod
    def case(spec: ProcessSpec, data: dict[str, Any], steps: dict[str, float]) -> str:
        return floor_case(spec, data, steps)


class ServerFloorSubject(FloorSubject):
    """The server-path floor: the engine calls the server makes per case (see
    `server_floor_case`); the yardstick the stack's shares are taken against."""

    @staticmethod
    def case(spec: ProcessSpec, data: dict[str, Any], steps: dict[str, float]) -> str:
        return server_floor_case(spec, data, steps)


class ApiSubject(Subject):
    """The lifecycle through the JSON API, over HTTP or in process; each lifecycle's applicant
    is the next of `pool`."""

    def __init__(
        self, name: str, client, pool: ApplicantPool, probes: dict[str, CpuProbe] | None = None
    ) -> None:
        super().__init__()
        self.name = name
        self.client = client
        self.pool = pool
        self.tokens = login_clerks(client)
        self.log = Requests()
        self.probes = probes or {}
        self.last = 0
        self.citizen: dict[str, str] = {}  # the last lifecycle's applicant

    def run(self, record: bool) -> None:
        self.citizen = take(self.pool)
        self.last = lifecycle(self.client, self.tokens, self.citizen, self.log if record else None)

    def verify(self) -> None:
        """The last case is completed and every department's queue is empty."""
        headers = self.citizen
        case = _expect(
            self.client.request("GET", f"/api/v1/cases/{self.last}", headers=headers), 200
        )
        if case.json()["status"] != "completed":
            raise RuntimeError(f"{self.name}: case {self.last} is {case.json()['status']}")
        for department in DEPARTMENTS:
            queue = self.client.request("GET", "/api/v1/tasks", headers=self.tokens[department])
            if _expect(queue, 200).json():
                raise RuntimeError(f"{self.name}: {department} has tasks left")


def take(pool: ApplicantPool) -> dict[str, str]:
    """The next applicant's request headers (a sequential run is sized never to run out)."""
    taken = pool.take()
    if taken is None:
        raise RuntimeError(f"all {len(pool)} applicants have applied: raise --max-rate")
    return taken[1]


def round_robin(subjects: list[Subject], cases: int, warmup: int) -> None:
    """Warm each subject up, then run one case of each in turn, `cases` times."""
    for subject in subjects:
        for _ in range(warmup):
            subject.run(record=False)
    before = {s.name: {n: probe() for n, probe in s.probes.items()} for s in subjects}
    clock, cpu_clock = time.perf_counter, time.thread_time
    for _ in range(cases):
        for subject in subjects:
            cpu0, t0 = cpu_clock(), clock()
            subject.run(record=True)
            subject.samples.append((clock() - t0) * 1000)
            subject.thread_cpu += cpu_clock() - cpu0
    for subject in subjects:
        subject.cpu["this process"] = subject.thread_cpu * 1000 / cases
        for name, probe in subject.probes.items():
            start, after = before[subject.name][name], probe()
            used = sum(seconds - start.get(pid, 0.0) for pid, seconds in after.items())
            subject.cpu[name] = used * 1000 / cases


# --- (2) the uvicorn server, in a child process ------------------------------------------------


class ServerTiming:
    """Pass-through ASGI wrapper adding `Server-Timing: app;dur=<ms>` (time to response start)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()

        async def timed_send(message):
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - start) * 1000
                headers = [
                    *message.get("headers", ()),
                    (b"server-timing", f"app;dur={ms:.3f}".encode()),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, timed_send)


class BareApplication(BaseModel):
    matter: str
    answers: dict[str, Any]
    consent: bool


class BareDecision(BaseModel):
    decision: Literal["approved", "rejected", "correction"]


def bare_app():
    """The least any FastAPI app served by uvicorn spends on a lifecycle's ten requests: the
    same routes, request bodies parsed into pydantic models, answers of the same shape and
    about the same size, each endpoint a sync function (one thread-pool hand-off, as ours), and
    no work at all: no database, no engine, no sign-in check, no middleware. What the stack
    costs above the server-path floor can never be less than this."""
    from fastapi import FastAPI, Header, HTTPException

    app = FastAPI()
    open_tasks: dict[str, list[dict[str, Any]]] = defaultdict(list)
    cases: dict[int, dict[str, Any]] = {}
    ids = iter(range(1, 1 << 62))

    def item(item_id: int, department: str, status: str) -> dict[str, Any]:
        return {
            "id": item_id,
            "item": f"{department}_item_code_of_about_this_length",
            "name": "出生医学证明首次签发",
            "department": department,
            "status": status,
            "status_label": "办理中",
            "due_date": "2026-12-08",
            "decided_at": None,
            "comment": None,
            "result_number": None,
            "auto": False,
            "finding": None,
            "incident": None,
            "name_en": "Birth medical certificate, first issue",
            "department_name": "卫生健康委员会",
            "status_label_en": "In progress",
            "certificate": None,
            "correction": None,
        }

    @app.post("/api/v1/login")
    def login(body: dict[str, str]) -> dict[str, str]:
        return {"token": body["username"]}

    @app.post("/api/v1/cases", status_code=201)
    def start_case(application: BareApplication) -> dict[str, Any]:
        case_id = next(ids)
        items = [item(next(ids), "medical", "approved")]
        for department in DEPARTMENTS:
            if department != "medical":
                items.append(item(next(ids), department, "processing"))
                task = {
                    "id": items[-1]["id"],
                    "case_id": case_id,
                    "case_number": f"YJS2026120700{case_id:04d}",
                    "matter": application.matter,
                    "item": items[-1]["item"],
                    "name": items[-1]["name"],
                    "applicant": "310101********9995",
                    "due_date": "2026-12-08",
                    "created_at": "2026-12-07T05:41:23.646394Z",
                    "corrected": False,
                }
                open_tasks[department].append(task)
        items.append(item(next(ids), "hrss", "not_applicable"))
        case = {"id": case_id, "number": f"YJS2026120700{case_id:04d}", "matter": "newborn"}
        cases[case_id] = {**case, "status": "processing", "items": items, "open": ITEMS - 1}
        return cases[case_id]

    @app.get("/api/v1/tasks")
    def department_tasks(authorization: str = Header("")) -> list[dict[str, Any]]:
        return open_tasks[authorization.removeprefix("Bearer ")[: -len("01")]]

    @app.post("/api/v1/tasks/{task_id}/complete")
    def complete_task(task_id: int, decision: BareDecision) -> dict[str, Any]:
        for tasks in open_tasks.values():
            for task in tasks:
                if task["id"] == task_id:
                    tasks.remove(task)
                    case = cases[task["case_id"]]
                    case["open"] -= 1
                    if case["open"] == 0:
                        case["status"] = "completed"
                    return item(task_id, "health", decision.decision)
        raise HTTPException(404)

    @app.get("/api/v1/cases/{case_id}")
    def case(case_id: int) -> dict[str, Any]:
        return cases[case_id]

    return app


def serve_child(args: argparse.Namespace) -> None:
    """The child process: what `onething serve` runs (uvicorn, log_level info), on our socket."""
    import uvicorn

    if args.serve_bare:  # the least a FastAPI app served by uvicorn costs (bare_app)
        config = uvicorn.Config(ServerTiming(bare_app()), log_level="info", access_log=False)
        uvicorn.Server(config).run(sockets=[socket.socket(fileno=args.serve_fd)])
        return
    from web.app import create_app
    from web.observe import log_config

    settings = Settings(data_dir=Path(args.serve_data_dir), database_url=args.serve_db)
    rt = build_runtime(settings, registry=EmbeddedRegistry(Path(args.serve_registry)))
    app = create_app(rt, served=True)  # as onething serve builds it
    # onething serve's logging: one JSON line per request (web/observe.py), no access log
    config = uvicorn.Config(ServerTiming(app), log_level="info", log_config=log_config())
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=args.serve_fd)])


@contextmanager
def uvicorn_server(
    folder: Path,
    registry_path: Path,
    database_url: str,
    workers: int = 1,
    bare: bool = False,
) -> Iterator[tuple[str, list[int]]]:
    """`workers` uvicorn child processes accepting on one free 127.0.0.1 port, as the workers of
    `onething serve --workers N` share their socket; yields the base URL and the process ids.
    `bare`: the children serve `bare_app()` instead of ours."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    listener.set_inheritable(True)
    port = listener.getsockname()[1]
    log_path = folder / f"uvicorn-{port}.log"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--serve-fd",
        str(listener.fileno()),
        "--serve-data-dir",
        str(folder),
        "--serve-db",
        database_url,
        "--serve-registry",
        str(registry_path),
        *(["--serve-bare", "1"] if bare else []),
    ]
    children = []
    with open(log_path, "ab") as log:
        for _ in range(workers):
            children.append(
                subprocess.Popen(
                    command, pass_fds=(listener.fileno(),), stdout=log, stderr=subprocess.STDOUT
                )
            )
    listener.close()
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # up to ~30 s for the children to import and build their runtimes
            if any(child.poll() is not None for child in children):
                raise RuntimeError(f"uvicorn exited early:\n{log_path.read_text()[-2000:]}")
            started = log_path.read_text(errors="replace").count("Application startup complete")
            if started >= workers:
                try:
                    httpx.get(f"{base}/api/v1/tasks", timeout=1.0, trust_env=False)
                    break
                except httpx.TransportError:
                    pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"uvicorn did not answer:\n{log_path.read_text()[-2000:]}")
        yield base, [child.pid for child in children]
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=5)


def postgres_cpu(database_url: str) -> CpuProbe:
    """A probe of the CPU used by the PostgreSQL server: every process of the server (backends,
    WAL writer, checkpointer, autovacuum), and the processes that exited since it started
    (connections a pool closed), which the kernel adds to the postmaster's children's time when
    it reaps them. One figure under the postmaster's id: a backend's CPU moves from its own entry
    to the postmaster's when it exits, so only the sum is meaningful. The server must run on
    this machine (it does for the local PostgreSQL); anything else on it is counted too."""
    base, _name = database_url.rsplit("/", 1)
    admin = create_engine(f"{base}/postgres", poolclass=NullPool)
    with admin.connect() as conn:
        backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        postmaster = int(_proc_stat(backend)[1])  # the backend's parent
    admin.dispose()
    ticks = os.sysconf("SC_CLK_TCK")

    def probe() -> dict[int, float]:
        fields = _proc_stat(postmaster)
        total = sum(int(f) for f in fields[11:15])  # its own time and its reaped children's
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                child = _proc_stat(int(entry))
                if child and int(child[1]) == postmaster:
                    total += int(child[11]) + int(child[12])
        return {postmaster: total / ticks}

    return probe


def _proc_stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (fields[1] is the parent's id)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


@contextmanager
def postgres_database(base: str) -> Iterator[str | None]:
    """A fresh database on the local PostgreSQL, dropped afterwards; None if it is unreachable."""
    name = f"onething_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(
        f"{base}/postgres", isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server, no rights: report and skip
        print(f"  PostgreSQL at {base} is not usable ({type(exc).__name__}): skipped")
        admin.dispose()
        yield None
        return
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --- in process ---------------------------------------------------------------------------------


class AsgiClient:
    """A synchronous facade over httpx.AsyncClient + ASGITransport, on this thread's loop."""

    def __init__(self, app) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench"
        )

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        return self.loop.run_until_complete(self.client.request(method, url, **kwargs))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


@contextmanager
def inline_threadpool(hops: list[int]) -> Iterator[None]:
    """Run FastAPI's sync endpoints and dependencies on the event loop's thread (profilable).

    `hops[0]` counts the calls that would have gone to a worker thread.
    """
    import anyio.to_thread

    original = anyio.to_thread.run_sync

    async def run_inline(func, *args, **_options):
        hops[0] += 1
        return func(*args)

    anyio.to_thread.run_sync = run_inline
    try:
        yield
    finally:
        anyio.to_thread.run_sync = original


# --- (3) the profile ---------------------------------------------------------------------------


class PhaseTimer:
    """Exclusive wall time per phase path; phases are entered and left by wrapped functions."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.totals: dict[tuple[str, ...], float] = defaultdict(float)
        self.statements: dict[str, int] = defaultdict(int)  # SQL statements by request kind
        # ... and by request kind and the innermost timed step that is not SQL plumbing
        self.statements_by_step: dict[tuple[str, str], int] = defaultdict(int)
        self.sql: dict[tuple[str, str, str], int] = defaultdict(int)  # ... and the SQL's start
        self.requests: dict[str, int] = defaultdict(int)  # requests by kind
        self.commits: dict[str, int] = defaultdict(int)  # transactions committed, by kind
        self.mark = time.perf_counter()

    def _switch(self) -> None:
        now = time.perf_counter()
        if self.stack:
            path: list[str] = []
            for label in self.stack:
                if not path or path[-1] != label:
                    path.append(label)
            self.totals[tuple(path)] += now - self.mark
        self.mark = now

    def enter(self, label: str) -> None:
        self._switch()
        self.stack.append(label)

    def leave(self) -> None:
        self._switch()
        self.stack.pop()


class PhaseApp:
    """ASGI wrapper naming the request's phase by method and route."""

    def __init__(self, app, timer: PhaseTimer) -> None:
        self.app = app
        self.timer = timer

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        kind = path
        if path.startswith("/api/v1/tasks/"):
            kind = "/api/v1/tasks/{id}/complete"
        elif path.startswith("/api/v1/cases/"):
            kind = "/api/v1/cases/{id}"
        self.timer.requests[f"{scope.get('method', '')} {kind}"] += 1
        self.timer.enter(f"{scope.get('method', '')} {kind}")
        try:
            await self.app(scope, receive, send)
        finally:
            self.timer.leave()


def _timed(timer: PhaseTimer, label: str, func: Callable) -> Callable:
    if asyncio.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args, **kwargs):
            timer.enter(label)
            try:
                return await func(*args, **kwargs)
            finally:
                timer.leave()

        return async_wrapper

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        timer.enter(label)
        try:
            return func(*args, **kwargs)
        finally:
            timer.leave()

    return wrapper


def phase_targets() -> list[tuple[object, str, str]]:
    """(owner, attribute, label): the steps timed by the phase profile."""
    import fastapi.routing
    import pydantic
    import sqlalchemy.engine
    import sqlalchemy.orm
    import starlette.responses

    import engine.store
    import services.accounts.service
    import services.cases.access
    import services.cases.decisions
    import services.cases.routing
    import services.cases.submission
    import services.cases.workbench
    import services.registries.service
    import web.api.cases

    sa_session = sqlalchemy.orm.Session
    core = sqlalchemy.engine.Connection
    return [
        (fastapi.routing, "solve_dependencies", "FastAPI dependencies (body, DB session, auth)"),
        (fastapi.routing, "serialize_response", "response model validate + serialize (pydantic)"),
        (starlette.responses.JSONResponse, "render", "JSON encode response"),
        (pydantic.TypeAdapter, "validate_python", "response model validate (TypeAdapter)"),
        (pydantic.TypeAdapter, "dump_json", "JSON encode response (TypeAdapter)"),
        (services.accounts.service, "session_user", "auth: bearer token -> session, user"),
        (services.cases.submission, "submit_application", "submit_application"),
        (services.cases.workbench, "search_queue", "department queue"),
        (services.cases.decisions, "decide", "decide"),
        (web.api.cases, "_case_public", "case view for the response (item_views)"),
        (services.cases.submission, "prefill_for_application", "registry prefill"),
        (services.cases.submission, "grant_consent", "consent recorded with the submission"),
        (services.cases.submission, "_refuse_repeat", "one case per subject: the repeat check"),
        (services.cases.submission, "attach_reads_to_case", "registry reads stamped with case"),
        (services.cases.submission, "log_reads", "registry access log"),
        (services.registries.service, "prefill", "registry reads (embedded SQLite registry)"),
        (services.cases.submission, "compile_form", "form compile + validation"),
        (services.cases.routing, "apply_changes", "open items (rows, due dates, events)"),
        (services.cases.routing, "add_working_days", "working-day calendar"),
        (engine.store, "_sync_tasks", "human-task read model sync"),
        (runner, "start", "SpiffWorkflow start/complete"),
        (runner, "complete", "SpiffWorkflow start/complete"),
        (runner, "ready_tasks", "SpiffWorkflow ready_tasks"),
        (runner, "observe", "engine: read model walk (observe)"),
        (runner, "compact", "engine: history compaction"),
        (services.cases.access, "log_case_view", "case view access log"),
        (runner, "dump", "state dump (SpiffWorkflow serializer + JSON)"),
        (runner, "restore", "state restore (SpiffWorkflow serializer + JSON)"),
        (core, "execute", "SQL statement (Core)"),
        (sa_session, "execute", "SQL query (ORM)"),
        (sa_session, "get", "SQL query (ORM)"),
        (sa_session, "flush", "ORM flush / commit"),
        (sa_session, "commit", "ORM flush / commit"),
        (sa_session, "close", "DB session close (rollback, return connection)"),
    ]


@contextmanager
def timed_phases(timer: PhaseTimer, db) -> Iterator[None]:
    originals = []
    missing = []
    for owner, attribute, label in phase_targets():
        found = owner.__dict__ if isinstance(owner, type) else vars(owner)
        if attribute not in found:  # renamed or gone (or not yet there): time the rest
            missing.append(f"{getattr(owner, '__name__', owner)}.{attribute}")
            continue
        original = found[attribute]
        originals.append((owner, attribute, original))
        setattr(owner, attribute, _timed(timer, label, original))
    if missing:
        print(f"  (phase profile: not in this tree: {', '.join(missing)})")

    def before(_conn, _cursor, statement, *_args):
        kind = timer.stack[0] if timer.stack else "-"
        timer.statements[kind] += 1
        step = next((label for label in reversed(timer.stack) if label not in SQL_PHASES), kind)
        timer.statements_by_step[kind, step] += 1
        timer.sql[kind, step, " ".join(statement.split())[:SQL_WIDTH]] += 1
        timer.enter("DB driver (cursor.execute)")

    def after(*_args):
        timer.leave()

    def committed(_conn):
        timer.commits[timer.stack[0] if timer.stack else "-"] += 1

    db.connect = _timed(timer, "DB connection checkout (pool, pre-ping)", db.connect)
    event.listen(db, "before_cursor_execute", before)
    event.listen(db, "after_cursor_execute", after)
    event.listen(db, "commit", committed)
    try:
        yield
    finally:
        event.remove(db, "before_cursor_execute", before)
        event.remove(db, "after_cursor_execute", after)
        event.remove(db, "commit", committed)
        del db.connect
        for owner, attribute, original in reversed(originals):
            setattr(owner, attribute, original)


SQL_PHASES = {
    "SQL statement (Core)",
    "SQL query (ORM)",
    "ORM flush / commit",
    "DB session close (rollback, return connection)",
    "DB connection checkout (pool, pre-ping)",
}


SQL_WIDTH = 110  # characters of each statement listed by --sql


def print_phases(
    timer: PhaseTimer, cases: int, case_ms: float, tree: bool = True, sql: bool = False
) -> None:
    inclusive: dict[tuple[str, ...], float] = defaultdict(float)
    by_label: dict[str, float] = defaultdict(float)
    for path, seconds in timer.totals.items():
        for depth in range(1, len(path) + 1):
            inclusive[path[:depth]] += seconds
        by_label[path[-1]] += seconds
    total = sum(timer.totals.values()) * 1000 / cases
    print(
        f"  of the {case_ms:.1f} ms in-process case, {case_ms - total:.1f} ms is the httpx client"
        " and the ASGI transport, outside the app"
    )
    if tree:
        print("  phase tree (inclusive ms per case, share of the case):")

    def walk(prefix: tuple[str, ...]) -> None:
        children = [p for p in inclusive if len(p) == len(prefix) + 1 and p[:-1] == prefix]
        for path in sorted(children, key=inclusive.get, reverse=True):
            ms = inclusive[path] * 1000 / cases
            if ms < 0.1:
                continue
            label = "  " * len(prefix) + path[-1]
            print(f"    {label:66} {ms:7.2f} ms  {ms / case_ms:5.1%}")
            walk(path)

    if tree:
        walk(())
    counts = ", ".join(f"{kind} {n / cases:.0f}" for kind, n in timer.statements.items())
    statements = sum(timer.statements.values()) / cases
    print(
        f"  SQL statements per case (cursor executes; COMMITs not counted): {statements:.0f}"
        f" ({counts})"
    )
    print("  SQL statements per case by request and the step that sent them:")
    for (kind, step), n in sorted(timer.statements_by_step.items()):
        print(f"    {kind:32} {step:56} {n / cases:5.1f}")
        if sql:
            for (k, s, statement), count in sorted(timer.sql.items()):
                if (k, s) == (kind, step):
                    print(f"      {count / cases:4.1f}  {statement}")
    print("  exclusive time by phase, all requests together (where the time goes):")
    for label, seconds in sorted(by_label.items(), key=lambda kv: kv[1], reverse=True):
        ms = seconds * 1000 / cases
        if ms >= 0.05:
            print(f"    {label:66} {ms:7.2f} ms  {ms / case_ms:5.1%}")


# The per-request table's columns: each timed phase's exclusive time goes to one of them; a
# request's own frame (the route's code, the middleware) and anything not timed is "other app".
CATEGORIES = {
    "engine": {
        "SpiffWorkflow start/complete",
        "SpiffWorkflow ready_tasks",
        "state dump (SpiffWorkflow serializer + JSON)",
        "state restore (SpiffWorkflow serializer + JSON)",
        "engine: read model walk (observe)",
        "engine: history compaction",
    },
    "SQL": SQL_PHASES | {"DB driver (cursor.execute)"},
    "auth": {"auth: bearer token -> session, user"},
    "registry": {"registry reads (embedded SQLite registry)", "registry prefill"},
    "access log": {
        "registry access log",
        "registry reads stamped with case",
        "case view access log",
    },
    "render/JSON": {
        "response model validate + serialize (pydantic)",
        "JSON encode response",
        "response model validate (TypeAdapter)",
        "JSON encode response (TypeAdapter)",
        "case view for the response (item_views)",
    },
    "framework": {"FastAPI dependencies (body, DB session, auth)"},
}
# Around the app (from the served run, per request kind): uvicorn, TCP and the client
AROUND: dict[str, float] = {}


def print_request_table(timer: PhaseTimer, cases: int) -> None:
    """Per request of a lifecycle: where its milliseconds go, by category (exclusive times of
    the timed phases), its SQL statements and transactions, and the time around the app."""
    columns = [*CATEGORIES, "other app"]
    of_label = {label: name for name, labels in CATEGORIES.items() for label in labels}
    rows: dict[str, dict[str, float]] = {kind: defaultdict(float) for kind in timer.requests}
    for path, seconds in timer.totals.items():
        if path[0] in rows:
            rows[path[0]][of_label.get(path[-1], "other app")] += seconds
    print(
        "  per request (ms each; exclusive time of the timed phases, in process, threadpool "
        "inline; 'around' = uvicorn, TCP and the client, from the served run):"
    )
    header = "".join(f"{name:>12}" for name in [*columns, "app", "around", "statements", "commits"])
    print(f"    {'request':34} {'x/case':>6}{header}")
    for kind, row in sorted(rows.items(), key=lambda kv: -sum(kv[1].values())):
        n = timer.requests[kind]
        per = {name: row[name] * 1000 / n for name in columns}
        cells = "".join(f"{per[name]:12.2f}" for name in columns)
        around = AROUND.get(kind)
        print(
            f"    {kind:34} {n / cases:6.1f}{cells}{sum(per.values()):12.2f}"
            f"{around if around is not None else float('nan'):12.2f}"
            f"{timer.statements[kind] / n:12.1f}{timer.commits[kind] / n:12.1f}"
        )


def _package(filename: str) -> str:
    if filename == "~":
        return "~"
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if not filename.startswith("/"):
        return "builtins" if filename.startswith("<") else filename
    path = Path(filename)
    if path.name == Path(__file__).name:
        return "bench (this script's wrappers)"
    try:
        relative = path.resolve().relative_to(PROJECT_DIR)
        return f"project {relative.parts[0]}/"
    except ValueError:
        pass
    if "/lib/python3" in filename:
        tail = filename.split("/lib/python3", 1)[1].split("/", 2)
        return f"stdlib {tail[1].removesuffix('.py')}" if len(tail) > 1 else "stdlib"
    return filename


def _builtin_package(name: str) -> str | None:
    for marker, package in (
        ("sqlite3", "sqlite3 (C driver)"),
        ("psycopg", "psycopg"),
        ("_json", "stdlib json"),
        ("pydantic_core", "pydantic_core"),
        ("argon2", "argon2"),
        ("lxml", "lxml"),
    ):
        if marker in name:
            return package
    return None


def print_profile(profile: cProfile.Profile, cases: int, top: int) -> None:
    stats = pstats.Stats(profile).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    total = sum(entry[2] for entry in stats.values())
    # Self time by package; C built-ins count for the package that called them.
    by_package: dict[str, float] = defaultdict(float)
    for (filename, _line, name), (_cc, _nc, tt, _ct, callers) in stats.items():
        if filename != "~":
            by_package[_package(filename)] += tt
            continue
        package = _builtin_package(name)
        if package or not callers:
            by_package[package or "builtins"] += tt
            continue
        for caller, (_ccc, _cnc, caller_tt, _cct) in callers.items():
            by_package[_package(caller[0])] += caller_tt
    print(f"  self time by package under cProfile ({total * 1000 / cases:.1f} ms per case):")
    shown = sorted(by_package.items(), key=lambda kv: kv[1], reverse=True)
    for package, seconds in shown[:16]:
        print(f"    {package:40} {seconds * 1000 / cases:7.2f} ms  {seconds / total:5.1%}")

    def table(title: str, keep: Callable[[str], bool]) -> None:
        rows = [
            (key, entry)
            for key, entry in stats.items()
            if keep(key[0]) and entry[3] < PLUMBING * total and key[2] != "<module>"
        ]
        rows.sort(key=lambda row: row[1][3], reverse=True)
        print(
            f"  {title} (cumulative; request plumbing over {PLUMBING:.0%} of the run left out; "
            f"a function spending {CHAIN:.0%}+ of a listed caller's time is left to its caller):"
        )
        print(f"    {'ms/case':>8} {'share':>6} {'calls/case':>10} {'self ms':>8}  function")
        represented: set[tuple] = set()
        shown = 0
        for key, (_cc, nc, tt, ct, callers) in rows:
            chained = any(
                caller in represented and via[3] >= CHAIN * stats[caller][3]
                for caller, via in callers.items()
            )
            represented.add(key)
            if chained:
                continue
            filename, line, name = key
            print(
                f"    {ct * 1000 / cases:8.2f} {ct / total:6.1%} {nc / cases:10.1f} "
                f"{tt * 1000 / cases:8.2f}  {_location(filename)}:{line}({name})"
            )
            shown += 1
            if shown == top:
                break

    def is_project(filename: str) -> bool:
        return _package(filename).startswith("project ")

    table(f"top {top} project functions", is_project)
    table(
        f"top {top} library functions",
        lambda f: f != "~" and not is_project(f) and not _package(f).startswith("bench"),
    )


def _location(filename: str) -> str:
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1]
    try:
        return str(Path(filename).resolve().relative_to(PROJECT_DIR))
    except ValueError:
        return filename.split("/lib/python3.11/", 1)[-1]


def bench_profile(
    folder: Path,
    registry_path: Path,
    clones: list[Applicant],
    cases: int,
    warmup: int,
    top: int,
    database_url: str | None = None,
    sql: bool = False,
) -> None:
    """In process, threadpool inline: phase timers, then (SQLite only) the same cases' SQL
    replayed through the bare driver and cProfile; with `sql`, the statements each step
    sends."""
    from web.app import create_app

    full = database_url is None
    rt = fresh_runtime(folder, registry_path, database_url)
    pool = ApplicantPool.signed_in(rt, clones[: warmup + cases * (3 if full else 1)])
    timer = PhaseTimer()
    client = AsgiClient(PhaseApp(create_app(rt), timer))
    try:
        with inline_threadpool([0]):
            subject = ApiSubject("profile", client, pool)
            for _ in range(warmup):
                subject.run(record=False)
            timer.totals.clear()
            timer.requests.clear()
            with timed_phases(timer, rt.db):
                for _ in range(cases):
                    t0 = time.perf_counter()
                    subject.run(record=False)
                    subject.samples.append((time.perf_counter() - t0) * 1000)
            print_phases(timer, cases, statistics.mean(subject.samples), tree=full, sql=sql)
            print_request_table(timer, cases)
            if full:
                in_app = sum(
                    seconds
                    for path, seconds in timer.totals.items()
                    if path[-1] in CATEGORIES["SQL"]
                )
                print_replay(sql_replay(rt, subject, cases, folder), in_app * 1000 / cases)
                profile = cProfile.Profile()
                start = time.perf_counter()
                profile.enable()
                for _ in range(cases):
                    subject.run(record=False)
                profile.disable()
                elapsed = (time.perf_counter() - start) * 1000 / cases
                print(
                    f"  under cProfile: {elapsed:.1f} ms per case (profiling inflates call-heavy "
                    "code such as the ORM and SpiffWorkflow: compare shares, not times)"
                )
                print_profile(profile, cases, top)
            subject.verify()
            check_cases(rt.db, pool)
    finally:
        client.close()
        rt.db.dispose()


@dataclass
class Replay:
    """The SQL of some lifecycles, replayed through the bare driver (`sql_replay`)."""

    ms_per_case: list[float]
    statements: int
    transactions: int
    cases: int


def sql_replay(rt: Runtime, subject: ApiSubject, cases: int, folder: Path) -> Replay:
    """What the database itself costs per case: `cases` lifecycles run in process on SQLite
    while every statement (with its parameters, as the driver got them) and every transaction's
    end is captured; then the same statements are replayed through the standard library's
    sqlite3 module on copies of the database taken before those lifecycles (so every row, id and
    constraint is as it was), each transaction in BEGIN ... COMMIT, with the server's pragmas.
    The app's SQL time minus this is SQLAlchemy's (Core and ORM) and the driver's Python."""
    import shutil
    import sqlite3

    path = Path(rt.db.url.database)
    with rt.db.connect() as connection:  # the copy holds every committed row
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    before = folder / "replay-base.sqlite"
    shutil.copy(path, before)
    transactions: list[list[tuple[str, Any, bool]]] = []
    current: list[tuple[str, Any, bool]] = []

    def sent(_conn, _cursor, statement, parameters, _context, executemany):
        current.append((statement, parameters, executemany))

    def ended(_conn):
        if current:
            transactions.append(list(current))
            current.clear()

    listeners = [("before_cursor_execute", sent), ("commit", ended), ("rollback", ended)]
    for name, listener in listeners:
        event.listen(rt.db, name, listener)
    try:
        for _ in range(cases):
            subject.run(record=False)
    finally:
        for name, listener in listeners:
            event.remove(rt.db, name, listener)
    ended(None)
    timings = []
    for attempt in range(3):
        copy = folder / f"replay-{attempt}.sqlite"
        shutil.copy(before, copy)
        connection = sqlite3.connect(copy, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            connection.execute(f"PRAGMA {pragma}")
        start = time.perf_counter()
        for transaction in transactions:
            connection.execute("BEGIN")
            for statement, parameters, many in transaction:
                if many and parameters and isinstance(parameters[0], (list, tuple)):
                    connection.executemany(statement, [tuple(p) for p in parameters])
                else:
                    connection.execute(statement, tuple(parameters)).fetchall()
            connection.execute("COMMIT")
        timings.append((time.perf_counter() - start) * 1000 / cases)
        connection.close()
    return Replay(timings, sum(map(len, transactions)), len(transactions), cases)


def print_replay(replay: Replay, in_app_ms: float) -> None:
    database = statistics.median(replay.ms_per_case)
    print(
        f"  the database's own work: the SQL of {replay.cases} more cases "
        f"({replay.statements / replay.cases:.0f} statements in "
        f"{replay.transactions / replay.cases:.0f} transactions per case), replayed through the "
        "bare sqlite3 driver on a copy of the database taken before them:"
    )
    print(
        f"    {database:.2f} ms per case (median of 3 replays); the app's SQL phases above: "
        f"{in_app_ms:.2f} ms per case, so {in_app_ms - database:.2f} ms is SQLAlchemy's (Core "
        "and ORM) and the driver's Python, not the database's"
    )


# --- reporting ---------------------------------------------------------------------------------


def describe(samples: list[float]) -> str:
    return (
        f"median {statistics.median(samples):6.2f} ms  mean {statistics.mean(samples):6.2f} ms"
        f"  p99 {p99(samples):6.2f} ms"
    )


def print_floor(subject: FloorSubject, cases: int) -> None:
    steps = "  ".join(f"{k} {v * 1000 / cases:.2f}" for k, v in subject.steps.items())
    print(
        f"  {subject.name:36} {describe(subject.samples)}  {subject.throughput:5.1f} cases/s"
        f"  CPU {subject.cpu['this process']:5.1f} ms"
    )
    print(
        f"  {'':36} final state {len(subject.state.encode()) / 1024:.0f} KiB; ms per case: {steps}"
    )


def app_ms(subject: ApiSubject) -> float:
    """Median time per case inside the ASGI app (sum of its requests' Server-Timing)."""
    return statistics.median(subject.log.case_server)


def print_api(subject: ApiSubject, floor: FloorSubject) -> None:
    ms = statistics.median(subject.samples)
    print(f"  {subject.name:36} {describe(subject.samples)}  {subject.throughput:5.1f} cases/s")
    print(
        f"  {'':36} floor/full stack: {statistics.median(floor.samples) / ms:.0%} by median; "
        f"throughput {subject.throughput / floor.throughput:.0%} of the floor's "
        f"{floor.throughput:.1f} cases/s"
    )
    app = app_ms(subject)
    print(
        f"  {'':36} per case {app:6.2f} ms inside the app, {ms - app:6.2f} ms around it "
        f"(server, transport, client)"
    )
    cpu = ", ".join(f"{name} {value:.1f} ms" for name, value in subject.cpu.items())
    print(f"  {'':36} CPU per case: {cpu}")
    if "uvicorn" in subject.cpu:
        print(
            f"  {'':36} one worker's CPU-bound ceiling, whatever the client: "
            f"{1000 / subject.cpu['uvicorn']:.1f} cases/s"
        )
    for kind in REQUEST_KINDS:
        client = subject.log.client[kind]
        server = subject.log.server[kind]
        print(
            f"  {'':38}{kind:29} x{len(client) // len(subject.samples)}/case  "
            f"median {statistics.median(client):6.2f} ms  p99 {p99(client):6.2f} ms  "
            f"(app {statistics.median(server):6.2f} ms)"
        )


def bare_subject(stack: ExitStack, folder: Path, registry_path: Path, cases: int) -> ApiSubject:
    """The lifecycle against `bare_app()` in a uvicorn child configured as ours."""
    folder.mkdir()
    base, pids = stack.enter_context(uvicorn_server(folder, registry_path, "", bare=True))
    client = stack.enter_context(KeepAliveClient(base))
    pool = ApplicantPool([FAMILY] * cases, ["citizen"] * cases)
    probes = {"uvicorn": lambda: {pid: proc_cpu(pid) for pid in pids}}
    return ApiSubject("bare FastAPI + uvicorn, no work", client, pool, probes)


def print_bare(bare: ApiSubject, floor: FloorSubject, servers: list[ApiSubject]) -> None:
    """The framework's own minimum and the most a share could be above it."""
    ms = statistics.median(bare.samples)
    floor_ms = statistics.median(floor.samples)
    print(
        "  the least the framework costs: the same ten requests against an app that does no work "
        "(bare_app: the routes, bodies and answers' shapes, a thread-pool hand-off each)"
    )
    print(f"  {bare.name:36} {describe(bare.samples)}  {bare.throughput:5.1f} cases/s")
    cpu = ", ".join(f"{name} {value:.1f} ms" for name, value in bare.cpu.items())
    print(f"  {'':36} CPU per case: {cpu}; app {app_ms(bare):.2f} ms per case")
    print(
        f"  {'':36} a stack doing the floor's engine work and nothing else above this: "
        f"{floor_ms + ms:.1f} ms per case, share {floor_ms / (floor_ms + ms):.2f} at most"
    )
    for subject in servers:
        ours = statistics.median(subject.samples) - floor_ms - ms
        print(
            f"  {'':36} {subject.name}: {ours:.1f} ms per case above the floor and the bare "
            f"framework (SQL, ORM, sign-in, middleware, the app's own code)"
        )


def print_split(floor: FloorSubject, inline: ApiSubject, served: ApiSubject, hops: float) -> None:
    """Where the served SQLite case's time goes, from the round-robin medians."""
    floor_ms = statistics.median(floor.samples)
    inline_app, served_app = app_ms(inline), app_ms(served)
    served_ms = statistics.median(served.samples)
    print(f"  split of the served SQLite case ({served_ms:.1f} ms, medians):")
    client_cpu = served.cpu["this process"]
    rows = [
        ("server-path floor (the server's engine calls, no SQL, no HTTP)", floor_ms),
        ("rest of the app's work in process (SQL, ORM, auth, framework)", inline_app - floor_ms),
        (f"threadpool hand-offs in the server ({hops:.0f} per case)", served_app - inline_app),
        (
            "uvicorn (HTTP parser, event loop, access log) and TCP",
            served_ms - served_app - client_cpu,
        ),
        ("the benchmark's client (its CPU time)", client_cpu),
    ]
    for label, value in rows:
        print(f"    {label:66} {value:7.2f} ms  {value / served_ms:5.1%}")
    print(
        f"    (in process the httpx client + ASGITransport cost "
        f"{statistics.median(inline.samples) - inline_app:.2f} ms per case)"
    )


@dataclass
class Loaded:
    """One worker kept busy: `clients` keep-alive clients running lifecycles back to back."""

    clients: int
    cases: int
    seconds: float
    floor_rate: float  # the floor's cases/s in the alternating windows
    cpu: dict[str, float]  # ms per case under load, by process group

    @property
    def rate(self) -> float:
        return self.cases / self.seconds

    @property
    def share(self) -> float:
        return self.rate / self.floor_rate


def loaded_throughput(
    subject: ApiSubject,
    base: str,
    floor: FloorSubject,
    clients: int,
    seconds: float,
    windows: int = 4,
) -> Loaded:
    """Throughput of one worker under load: `clients` threads, each on its own connection,
    run lifecycles back to back (a sequential client leaves the worker idle while the client
    works and while PostgreSQL answers). The floor runs alone in windows of the same length
    alternating with the loaded ones, so that both see the same machine load on average."""
    window = seconds / windows
    cpu_ms: dict[str, float] = {}
    floor_cases = loaded_cases = 0
    floor_time = loaded_time = 0.0
    for _ in range(windows):
        started = time.perf_counter()
        while time.perf_counter() - started < window:
            floor.run(record=False)
            floor_cases += 1
        floor_time += time.perf_counter() - started
        cases, elapsed, used = load_window(
            base, subject.tokens, subject.pool, clients, window, subject.probes
        )
        loaded_time += elapsed
        loaded_cases += cases
        for name, ms in used.items():
            cpu_ms[name] = cpu_ms.get(name, 0.0) + ms
    per_case = {name: ms / max(loaded_cases, 1) for name, ms in cpu_ms.items()}
    return Loaded(clients, loaded_cases, loaded_time, floor_cases / floor_time, per_case)


def load_window(
    base: str,
    tokens: dict[str, dict[str, str]],
    pool: ApplicantPool,
    clients: int,
    seconds: float,
    probes: dict[str, CpuProbe],
) -> tuple[int, float, dict[str, float]]:
    """`clients` threads, each on its own keep-alive connection, run lifecycles (each with the
    pool's next applicant) back to back for `seconds`: (cases completed, seconds taken, ms of CPU
    used by each probed process group). A client stops early if the pool runs out."""
    done = [0] * clients
    deadline = time.perf_counter() + seconds

    def client_loop(n: int) -> None:
        with KeepAliveClient(base) as client:
            while time.perf_counter() < deadline:
                taken = pool.take()
                if taken is None:
                    break
                lifecycle(client, tokens, taken[1])
                done[n] += 1

    started = time.perf_counter()
    before = {name: probe() for name, probe in probes.items()}
    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    used = {}
    for name, probe in probes.items():
        after = probe()
        used[name] = 1000 * sum(cpu - before[name].get(pid, 0.0) for pid, cpu in after.items())
    return sum(done), elapsed, used


@dataclass
class WorkersRun:
    """One server configuration's share of the worker-scaling comparison."""

    workers: int
    cases: int = 0
    seconds: float = 0.0
    cpu_ms: dict[str, float] = field(default_factory=dict)  # total, by process group

    @property
    def rate(self) -> float:
        return self.cases / self.seconds


def compare_workers(
    tokens: dict[str, dict[str, str]],
    pool: ApplicantPool,
    servers: list[tuple[int, str, dict[str, CpuProbe]]],
    clients: int,
    seconds: float,
    windows: int = 4,
) -> list[WorkersRun]:
    """Throughput of servers with different worker counts on one database, under the same load
    (`clients` lifecycle clients), in windows alternating between them: (workers, base, probes)
    each."""
    runs = [WorkersRun(workers) for workers, _base, _probes in servers]
    for _ in range(windows):
        for run, (_workers, base, probes) in zip(runs, servers, strict=True):
            cases, elapsed, used = load_window(
                base, tokens, pool, clients, seconds / windows, probes
            )
            run.cases += cases
            run.seconds += elapsed
            for name, ms in used.items():
                run.cpu_ms[name] = run.cpu_ms.get(name, 0.0) + ms
    return runs


def print_workers(name: str, clients: int, runs: list[WorkersRun]) -> None:
    one = runs[0]
    for run in runs:
        cpu = ", ".join(f"{k} {ms / max(run.cases, 1):.1f} ms" for k, ms in run.cpu_ms.items())
        print(
            f"  {name}, {run.workers} worker{'s' if run.workers > 1 else ' '}  {clients} clients, "
            f"{run.cases} cases in {run.seconds:.1f} s: {run.rate:5.1f} cases/s "
            f"({run.rate / one.rate:.2f}x one worker); CPU per case: {cpu}"
        )


def print_loaded(subject: ApiSubject, loaded: Loaded) -> None:
    print(
        f"  {subject.name:36} {loaded.clients} clients, {loaded.cases} cases in "
        f"{loaded.seconds:.1f} s: {loaded.rate:5.1f} cases/s = {loaded.share:.0%} of the floor's "
        f"{loaded.floor_rate:.1f} cases/s (in alternating windows)"
    )
    cpu = ", ".join(f"{name} {ms:.1f} ms" for name, ms in loaded.cpu.items())
    print(f"  {'':36} CPU per case under load: {cpu}")
    if subject.pool.ran_out:
        print(
            f"  {'':36} the {len(subject.pool)} applicants ran out: clients stopped early "
            f"(raise --max-rate)"
        )


def summary(
    floor: FloorSubject,
    stock: FloorSubject,
    served: list[ApiSubject],
    loaded: dict[str, Loaded],
    scaling: list[WorkersRun],
) -> None:
    """The targets against the server-path floor, then the one summary line."""
    floor_ms = statistics.median(floor.samples)
    print(
        f"\nthe targets, against the server-path floor ({floor_ms:.1f} ms per case, "
        f"{floor.throughput:.1f} cases/s in the round-robin; the stock-serializer floor "
        f"{statistics.median(stock.samples):.1f} ms): share = floor / stack"
    )
    figures = {
        "server_floor_ms": f"{floor_ms:.1f}",
        "stock_floor_ms": f"{statistics.median(stock.samples):.1f}",
    }
    for subject in served:
        ms = statistics.median(subject.samples)
        share = floor_ms / ms
        target = TARGET_SHARES.get(subject.name, 0.0)
        verdict = "meets" if share >= target else "misses"
        print(
            f"  {subject.name:24} sequential client: {ms:6.1f} ms per case, share {share:.2f} "
            f"by median, {subject.throughput / floor.throughput:.2f} by throughput "
            f"(target >= {target:.2f}): {verdict} the target; server side only (without the "
            f"client's CPU) {ms - subject.cpu['this process']:.1f} ms per case"
        )
        kind = "sqlite" if "SQLite" in subject.name else "postgres"
        figures[f"{kind}_ms"] = f"{ms:.1f}"
        figures[f"{kind}_share"] = f"{share:.2f}"
        if subject.name in loaded:
            run = loaded[subject.name]
            verdict = "meets" if run.share >= TARGET_LOADED_SHARE else "misses"
            print(
                f"  {subject.name:24} {run.clients} clients, throughput {run.rate:5.1f} cases/s "
                f"= {run.share:.2f} of the floor's (target >= {TARGET_LOADED_SHARE:.2f}): "
                f"{verdict} the target"
            )
            figures[f"loaded_{kind}_share"] = f"{run.share:.2f}"
    if len(scaling) == 2:
        one, two = scaling
        ratio = two.rate / one.rate
        verdict = "meets" if ratio >= TARGET_SCALING else "misses"
        print(
            f"  uvicorn + PostgreSQL     2 workers: {two.rate:5.1f} cases/s against "
            f"{one.rate:5.1f} with 1 = {ratio:.2f}x (target >= {TARGET_SCALING}x): {verdict} "
            f"the target"
        )
    order = (
        "server_floor_ms",
        "stock_floor_ms",
        "sqlite_ms",
        "postgres_ms",
        "sqlite_share",
        "postgres_share",
        "loaded_sqlite_share",
        "loaded_postgres_share",
    )
    print("summary: " + " ".join(f"{key}={figures.get(key, 'n/a')}" for key in order))


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=100, help="timed cases per configuration")
    parser.add_argument("--warmup", type=int, default=5, help="untimed cases first, each")
    parser.add_argument("--profile-cases", type=int, default=50, help="cases per profile run")
    parser.add_argument("--people", type=int, default=2000, help="size of the demo registry")
    parser.add_argument("--pg-url", default=PG_BASE, help="PostgreSQL server, without database")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--top", type=int, default=15, help="rows in the cProfile tables")
    parser.add_argument(
        "--sql", action="store_true", help="the profile lists the SQL statements of each step"
    )
    parser.add_argument(
        "--idempotency-keys",
        action="store_true",
        help="every POST carries a new Idempotency-Key (what a client that retries sends)",
    )
    parser.add_argument(
        "--clients", type=int, default=4, help="clients keeping one worker busy (0: skip)"
    )
    parser.add_argument(
        "--load-seconds", type=float, default=20.0, help="seconds of load per configuration"
    )
    parser.add_argument(
        "--max-rate",
        type=float,
        default=150.0,
        help="lifecycles per second a server could reach under load: sizes the applicants",
    )
    child = (
        "--serve-fd",
        "--serve-data-dir",
        "--serve-db",
        "--serve-registry",
        "--serve-bare",
    )
    for hidden in child:  # the uvicorn child's options
        parser.add_argument(hidden, help=argparse.SUPPRESS, type=int if "fd" in hidden else str)
    args = parser.parse_args()
    if args.serve_fd is not None:
        serve_child(args)
        return
    if args.cases < 2 or args.profile_cases < 2:
        parser.error("--cases and --profile-cases must be at least 2")

    from web.app import create_app

    OPTIONS.idempotency_keys = args.idempotency_keys
    print(machine())
    if args.idempotency_keys:
        print("every POST carries a new Idempotency-Key")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="onething-bench-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        registry_path = root / "registry.sqlite"
        generate_dataset(registry_path, people=args.people, today=TODAY)
        # One applicant per lifecycle and database: the round-robin's cases and the repeat
        # check; under load as many as --max-rate lifecycles per second could take (SQLite: the
        # windows of (2b); PostgreSQL: (2b), then (2c)'s two servers on the same database).
        sequential = args.warmup + args.cases + 2
        under_load = math.ceil(args.max_rate * args.load_seconds) if args.clients > 0 else 0
        need = {"SQLite": sequential + under_load, "PostgreSQL": sequential + 3 * under_load}
        profiled = 2 + 3 * args.profile_cases if not args.no_profile else 0
        t0 = time.perf_counter()
        clones = clone_families(registry_path, [FAMILY], max(*need.values(), profiled))
        print(
            f"applicants: {len(clones)} clones of {FAMILY.name}'s family ({FATHER}: five items, "
            f"child not named, wife on resident insurance), each with a child of his own, "
            f"written into the registry in {time.perf_counter() - t0:.1f} s"
        )

        inline_rt = fresh_runtime(root / "in-process", registry_path)
        stack.callback(inline_rt.db.dispose)
        asgi = AsgiClient(ServerTiming(create_app(inline_rt)))
        stack.callback(asgi.close)
        hops = [0]
        stack.enter_context(inline_threadpool(hops))
        inline_pool = ApplicantPool.signed_in(inline_rt, clones[:sequential])
        inline = ApiSubject("in process, SQLite (reference)", asgi, inline_pool)
        refuses_repeat(inline)

        spec, data = captured_start(inline)
        floor = ServerFloorSubject(f"server path ({len(data)} start-data keys)", spec, data)
        stock = FloorSubject("stock serializer, restored each step", spec, data)

        bases: dict[str, str] = {}
        places: dict[str, tuple[Path, str]] = {}  # data directory and database URL

        def served(name: str, folder: Path, database_url: str | None) -> ApiSubject:
            server_rt = fresh_runtime(folder, registry_path, database_url)
            kind = "SQLite" if database_url is None else "PostgreSQL"
            pool = ApplicantPool.signed_in(server_rt, clones[: need[kind]])
            url = server_rt.settings.db_url
            server_rt.db.dispose()
            base, pids = stack.enter_context(uvicorn_server(folder, registry_path, url))
            bases[name] = base
            places[name] = (folder, url)
            client = stack.enter_context(KeepAliveClient(base))
            probes = {"uvicorn": lambda: {pid: proc_cpu(pid) for pid in pids}}
            if database_url is not None:
                probes["PostgreSQL"] = postgres_cpu(database_url)
            subject = ApiSubject(name, client, pool, probes)
            refuses_repeat(subject)
            return subject

        subjects: list[Subject] = [floor, stock, inline]
        servers = [served("uvicorn + SQLite", root / "sqlite", None)]
        if not args.no_postgres:
            url = stack.enter_context(postgres_database(args.pg_url))
            if url is not None:
                servers.append(served("uvicorn + PostgreSQL", root / "postgresql", url))
        bare = bare_subject(stack, root / "bare", registry_path, sequential)
        subjects += [*servers, bare]
        print(
            "repeat check: a second application for a lifecycle's child is refused (409) on "
            + ", ".join(s.name.split(" (")[0] for s in [inline, *servers])
        )
        names = ", ".join(s.name.split(" (")[0] for s in subjects)
        print(
            f"\nround-robin: {args.cases} cases of each configuration in turn ({names}), "
            f"after {args.warmup} warm-up cases each; load average before {load_average()}"
        )
        hops[0] = 0
        round_robin(subjects, args.cases, args.warmup)
        hops_per_case = hops[0] / (args.cases + args.warmup)
        for subject in subjects:
            subject.verify()
        print(f"load average after: {load_average()}")

        print(
            "\n(1) engine floors, in process, newborn lifecycle: the server path (what the server's "
            "engine does: live workflow, observe, compact, its own dump at each save) and the stock "
            "serializer (SpiffWorkflow alone, the whole spec in every state, restored each step)"
        )
        print_floor(floor, args.cases)
        print_floor(stock, args.cases)

        print("\n(2) full stack: uvicorn, one worker, a sequential keep-alive client (http.client)")
        for subject in servers:
            print_api(subject, floor)
        print_api(inline, floor)
        print_split(floor, inline, servers[0], hops_per_case)
        print_bare(bare, floor, servers)
        for kind in REQUEST_KINDS:  # for the per-request table of (3)
            AROUND[kind] = statistics.median(servers[0].log.client[kind]) - statistics.median(
                servers[0].log.server[kind]
            )
        loaded: dict[str, Loaded] = {}
        if args.clients > 0:
            print(
                f"\n(2b) one worker under load: {args.clients} keep-alive clients, "
                f"{args.load_seconds:.0f} s each configuration"
            )
            for subject in servers:
                run = loaded_throughput(
                    subject, bases[subject.name], floor, args.clients, args.load_seconds
                )
                loaded[subject.name] = run
                print_loaded(subject, run)
        scaling: list[WorkersRun] = []
        postgres = [subject for subject in servers if "PostgreSQL" in subject.name]
        if args.clients > 0 and postgres:
            subject = postgres[0]
            clients = 2 * args.clients
            print(
                f"\n(2c) one and two workers on PostgreSQL (one database), {clients} keep-alive "
                f"clients, {args.load_seconds:.0f} s each, in alternating windows"
            )
            folder, url = places[subject.name]
            base2, pids2 = stack.enter_context(
                uvicorn_server(folder, registry_path, url, workers=2)
            )
            probes2 = {
                "uvicorn": lambda: {pid: proc_cpu(pid) for pid in pids2},
                "PostgreSQL": subject.probes["PostgreSQL"],
            }
            scaling = compare_workers(
                subject.tokens,
                subject.pool,
                [(1, bases[subject.name], subject.probes), (2, base2, probes2)],
                clients,
                args.load_seconds,
            )
            print_workers("uvicorn + PostgreSQL", clients, scaling)
        print("\ndatabase check: one completed case of five items per applicant and child")
        for subject in [inline, *servers]:
            url = inline_rt.settings.db_url if subject is inline else places[subject.name][1]
            db = create_engine(url, poolclass=NullPool)
            try:
                print(f"  {subject.name:36} ok: {check_cases(db, subject.pool)}")
            finally:
                db.dispose()
        stack.close()

        if not args.no_profile:
            print(
                f"\n(3) per-phase profile of the HTTP path, in process (httpx.ASGITransport, "
                f"threadpool inline), SQLite, {args.profile_cases} cases per run"
            )
            bench_profile(
                root / "profile",
                registry_path,
                clones,
                args.profile_cases,
                2,
                args.top,
                sql=args.sql,
            )
            if len(servers) > 1:
                with postgres_database(args.pg_url) as url:
                    if url is not None:
                        pg_cases = max(2, args.profile_cases // 2)  # keeps the run ~2 min
                        print(f"\n(3b) the phase timers on PostgreSQL, {pg_cases} cases")
                        bench_profile(
                            root / "profile-pg",
                            registry_path,
                            clones,
                            pg_cases,
                            2,
                            0,
                            url,
                            sql=args.sql,
                        )
        summary(floor, stock, servers, loaded, scaling)
    print(f"total bench time {time.perf_counter() - started:.0f} s, load average {load_average()}")


if __name__ == "__main__":
    main()
