"""Database trouble is survivable: the test's own PostgreSQL cluster is restarted under load
(a fast restart, then an immediate one: a crash), then stopped for a few seconds and started
again, while the real server (`onething serve`, one process, never restarted) takes
applications, decisions and reads over the JSON API and pages.

What must hold:
- every answer is 2xx, a refusal by design (4xx), or 503 with `Retry-After` (problem details
  `database_unavailable` for the API, the error page for a browser); never a 500, never a
  connection the server dropped;
- applicants and clerks retry a 503 with the same `Idempotency-Key`: each operation is done
  once (a mother's child is applied for once: one case per mother at most), and every
  acknowledged one is in the database, whole (instance, items, tasks agree: test_crash's
  `_check_case`);
- within a few seconds of the database's return requests succeed again and the readiness check
  says ok, with no restart of the server; its log holds no traceback and no password.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field

import httpx
from sqlmodel import Session, select

from engine.specs import SpecCache
from services.cases.models import Case, CaseItem
from services.db import make_engine
from tests.conftest import add_newborn_parents
from tests.pgcluster import pg_cluster, wait_for
from tests.web.conftest import NEWBORN_ANSWERS
from tests.web.test_crash import (
    _check_case,
    _client,
    _server,
    data_dir,  # noqa: F401 - the fixture: a data directory
)

APPLICANT_THREADS = 3
APPLICATIONS_PER_THREAD = 3  # (the test registry has 11 mothers of a newborn)
APPLICATION_PAUSE = 1.0  # seconds between a thread's applications: some meet every event
CLERKS = ("police01", "hrss01")
OUTAGE_SECONDS = 3  # the database stopped, then started again
RECOVERY_SECONDS = 10  # how soon after its return requests must succeed again
RETRY_PAUSE = 0.2  # a test client retries sooner than Retry-After says: more requests meet it
MAX_ATTEMPTS = 200  # of one operation (with one key): every loop is bounded
DEADLINE_SECONDS = 60


@dataclass
class Record:
    """Every answer the server gave, and what it acknowledged."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: list[tuple[float, str, int]] = field(default_factory=list)  # (time, kind, status)
    bad: list[str] = field(default_factory=list)  # 500s, dropped connections, bare 503s
    cases: dict[int, str] = field(default_factory=dict)  # case id -> the mother's username
    decisions: set[int] = field(default_factory=set)
    applied: list[str] = field(default_factory=list)  # done, answer lost (409 applied)
    in_flight: int = 0
    in_flight_at: dict[str, int] = field(default_factory=dict)  # event -> requests in flight

    def count(self, status: int, since: float = 0.0) -> int:
        with self.lock:
            return sum(1 for at, _, s in self.answers if s == status and at >= since)

    def first_success(self, since: float) -> float | None:
        with self.lock:
            found = [at for at, _, s in self.answers if at >= since and 200 <= s < 300]
        return min(found) if found else None


def _send(record: Record, kind: str, call: Callable[[], httpx.Response]) -> httpx.Response | None:
    """One request; None when the server dropped it (recorded as bad). A 503 must carry
    Retry-After and say why: problem details (API) or the error page (a browser)."""
    with record.lock:
        record.in_flight += 1
    try:
        response = call()
    except httpx.TransportError as exc:
        with record.lock:
            record.bad.append(f"{kind}: no answer ({type(exc).__name__})")
        return None
    finally:
        with record.lock:
            record.in_flight -= 1
    status = response.status_code
    with record.lock:
        record.answers.append((time.monotonic(), kind, status))
        if status >= 500 and not _clean_503(response):
            record.bad.append(f"{kind}: {status} {response.text[:200]}")
    return response


def _clean_503(response: httpx.Response) -> bool:
    if response.status_code != 503 or not response.headers.get("retry-after", "").isdigit():
        return False
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        return response.json().get("type") == "urn:onething:problem:database_unavailable"
    return "系统繁忙" in response.text  # the error page, for a browser


def _until_done(record: Record, kind: str, call: Callable[[], httpx.Response]):
    """Send one operation (its key fixed by `call`) until it is answered other than 503, or
    refused because its first attempt is still held (409 in use: asked again)."""
    for _ in range(MAX_ATTEMPTS):
        response = _send(record, kind, call)
        if response is None:
            return None
        in_use = response.status_code == 409 and "idempotency_key_in_use" in response.text
        if response.status_code != 503 and not in_use:
            return response
        time.sleep(RETRY_PAUSE)
    with record.lock:
        record.bad.append(f"{kind}: never answered after {MAX_ATTEMPTS} attempts")
    return None


def _applicant(base: str, record: Record, mothers: list[str]) -> None:
    body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
    for n, mother in enumerate(mothers):
        time.sleep(APPLICATION_PAUSE if n else 0)
        client = None
        for _ in range(MAX_ATTEMPTS):  # signing in may meet the outage too
            try:
                client = _client(base, mother)
                break
            except AssertionError:
                time.sleep(RETRY_PAUSE)
        if client is None:
            with record.lock:
                record.bad.append(f"{mother} could not sign in")
            continue
        key = {"Idempotency-Key": uuid.uuid4().hex}
        with closing(client):
            response = _until_done(
                record,
                "submit",
                lambda c=client, k=key: c.post("/api/v1/cases", json=body, headers=k),
            )
        if response is not None and response.status_code == 201:
            with record.lock:
                record.cases[response.json()["id"]] = mother
        elif response is not None and "idempotency_key_applied" in response.text:
            with record.lock:  # done, its answer lost: the case must be there
                record.applied.append(mother)


def _clerk(client: httpx.Client, record: Record, stop: threading.Event) -> None:
    while not stop.is_set():
        tasks = _send(record, "read", lambda: client.get("/api/v1/tasks"))
        if tasks is None or tasks.status_code != 200 or not tasks.json():
            time.sleep(0.05)
            continue
        task_id = tasks.json()[0]["id"]
        key = {"Idempotency-Key": uuid.uuid4().hex}
        response = _until_done(
            record,
            "decide",
            lambda url=f"/api/v1/tasks/{task_id}/complete", k=key: client.post(
                url, json={"decision": "approved"}, headers=k
            ),
        )
        if response is not None and response.status_code == 200:
            with record.lock:
                record.decisions.add(task_id)


def _reader(base: str, client: httpx.Client, record: Record, stop: threading.Event) -> None:
    """A clerk's reads over the API, and a browser's page."""
    with httpx.Client(base_url=base, timeout=30) as browser:
        while not stop.is_set():
            _send(record, "read", lambda: client.get("/api/v1/queue"))
            _send(record, "page", lambda: browser.get("/"))
            time.sleep(0.02)


def _ready_path(base: str) -> str:
    """The readiness check: /readyz, or /health/ready where the app still has that."""
    return (
        "/readyz"
        if httpx.get(f"{base}/readyz", timeout=5).status_code != 404
        else ("/health/ready")
    )


def _wait_for_work(record: Record, cases: int, since: float) -> None:
    found = wait_for(
        lambda: len(record.cases) >= cases and record.first_success(since) is not None,
        DEADLINE_SECONDS,
        0.01,
    )
    assert found, f"no progress: {len(record.cases)} cases, bad answers: {record.bad[:3]}"


def _restart(cluster, record: Record, mode: str, then_cases: int) -> tuple[float, float, float]:
    """Restart the cluster (`mode`), counting the requests in flight; once `then_cases` are
    acknowledged, returns when it began, when it was back, and the first success after."""
    with record.lock:
        record.in_flight_at[mode] = record.in_flight
    began = time.monotonic()
    cluster.restart(mode)
    back = time.monotonic()
    _wait_for_work(record, then_cases, back)
    return began, back, record.first_success(back) or back


def _check_database(url: str, record: Record, mothers: list[str]) -> Counter:
    db = make_engine(url)
    specs = SpecCache()
    try:
        with Session(db) as session:
            cases = session.exec(select(Case)).all()
            by_id = {case.id: case for case in cases}
            for case in cases:
                items = session.exec(select(CaseItem).where(CaseItem.case_id == case.id)).all()
                _check_case(session, specs, case, list(items))  # whole: no half-applied step
            lost = set(record.cases) - set(by_id)
            assert not lost, f"acknowledged cases lost: {lost}"
            decided = {row.id: row.status for row in session.exec(select(CaseItem)).all()}
            assert all(decided.get(item) == "approved" for item in record.decisions)
            # Each operation once: one case per mother (each applied once, retrying one key);
            # one whose answer was lost (409 applied) is there too.
            applicants = Counter(case.applicant_id_number for case in cases)
            assert max(applicants.values()) == 1, "an application was done twice"
            assert set(applicants) == set(mothers), "an application was never taken"
            assert {by_id[case_id].applicant_id_number for case_id in record.cases} | set(
                record.applied
            ) == set(mothers)
            return Counter(case.status for case in cases)
    finally:
        db.dispose()


def test_a_database_restart_under_load(data_dir, tmp_path):  # noqa: F811 - test_crash's fixture
    log = tmp_path / "server.log"
    with pg_cluster() as cluster:
        url = cluster.create_database("onething")
        settings = {"ONETHING_DEADLINE_INTERVAL": "1"}  # a background worker meets it too
        with _server(url, data_dir, log, demo=True, settings=settings) as (base, server):
            db = make_engine(url)
            mothers = add_newborn_parents(
                db, data_dir / "registry.sqlite", APPLICANT_THREADS * APPLICATIONS_PER_THREAD + 1
            )
            db.dispose()
            ready = _ready_path(base)
            assert httpx.get(f"{base}{ready}", timeout=30).status_code == 200  # (warmed up)
            record = Record()
            stop = threading.Event()
            clerks = {who: _client(base, who) for who in CLERKS}
            shares = [mothers[:-1][n::APPLICANT_THREADS] for n in range(APPLICANT_THREADS)]
            applicants = [
                threading.Thread(target=_applicant, args=(base, record, share), daemon=True)
                for share in shares
            ]
            others = [
                *(
                    threading.Thread(target=_clerk, args=(c, record, stop), daemon=True)
                    for c in clerks.values()
                ),
                threading.Thread(
                    target=_reader, args=(base, clerks["police01"], record, stop), daemon=True
                ),
            ]
            for thread in applicants + others:
                thread.start()

            # 1. A fast restart (sessions ended, the server back at once) mid-load; 2. an
            # immediate one: the server crashes (no session ends cleanly), recovers from its log.
            _wait_for_work(record, 2, 0)
            restart, restarted, after_restart = _restart(cluster, record, "fast", 4)
            crash, recovered_from_crash, after_crash = _restart(cluster, record, "immediate", 5)

            # 3. Down for a few seconds, then up again.
            with record.lock:
                record.in_flight_at["stop"] = record.in_flight
            down = time.monotonic()
            cluster.stop("fast")
            time.sleep(OUTAGE_SECONDS)
            cluster.start()
            back = time.monotonic()
            became_ready = wait_for(
                lambda: (
                    httpx.get(f"{base}{ready}", timeout=5).status_code == 200 and time.monotonic()
                ),
                RECOVERY_SECONDS,
            )
            recovered = wait_for(lambda: record.first_success(back), RECOVERY_SECONDS, 0.01)
            unavailable_at_restart = record.count(503, restart) - record.count(503, crash)
            unavailable_at_crash = record.count(503, crash) - record.count(503, down)
            unavailable_while_down = record.count(503, down) - record.count(503, back)

            for thread in applicants:
                thread.join(timeout=DEADLINE_SECONDS)
            stop.set()
            for thread in others:
                thread.join(timeout=30)
            for client in clerks.values():
                client.close()
            assert not any(t.is_alive() for t in applicants + others)
            assert server.poll() is None, "the server stopped"
            # Still working, as it was: one more application is taken.
            with closing(_client(base, mothers[-1])) as applicant:
                body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
                created = applicant.post("/api/v1/cases", json=body)
                assert created.status_code == 201, created.text
                record.cases[created.json()["id"]] = mothers[-1]

        statuses = Counter(status for _, _, status in record.answers)
        print(
            f"\nanswers {dict(sorted(statuses.items()))}; in flight at the restart "
            f"{record.in_flight_at['fast']}, at the crash {record.in_flight_at['immediate']}, "
            f"at the stop {record.in_flight_at['stop']}; 503 at the fast restart "
            f"{unavailable_at_restart}, at the crash {unavailable_at_crash}, while down "
            f"{unavailable_while_down}; first success "
            f"{after_restart - restarted:.2f} s after the fast restart, "
            f"{after_crash - recovered_from_crash:.2f} s after the "
            "crash's, "
            f"{(recovered or back) - back:.2f} s after the start; ready "
            f"{(became_ready or back) - back:.2f} s after it; {len(record.cases)} cases, "
            f"{len(record.decisions)} decisions acknowledged, {len(record.applied)} "
            "applications done with their answer lost"
        )
        assert not record.bad, record.bad[:5]
        assert statuses[503] > 0, "the outage was never met"
        assert recovered is not None, f"no success within {RECOVERY_SECONDS} s of the return"
        assert became_ready is not None, f"not ready within {RECOVERY_SECONDS} s of the return"
        _check_database(url, record, mothers)

    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[text.find("Traceback") - 500 :][:3000]
    assert cluster.password not in text
    assert "database unavailable" in text  # one line per 503 answer
