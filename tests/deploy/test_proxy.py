"""Two application hosts behind nginx, as docs/deployment.md sets them up: the shipped
deploy/nginx/onething.conf (tests/deploy/proxy.py renders it with this test's ports) in front
of host A and host B, separate `onething serve` process groups with their own data
directories, one PostgreSQL database (the test's) holding files and signing keys too, and
ONETHING_TRUSTED_PROXIES=127.0.0.1 (nginx's address as the hosts see it).

What goes where is said at each step: "through nginx" is the proxy's HTTPS address, "through
A" or "through B" that host's own address, as if the proxy had sent the request there.

1. A newborn case across both hosts: submitted through A, decided through B, each certificate
   downloaded through A and verified through B as genuine, and the other way round, and
   through nginx.
2. While clients submit through nginx (each POST with an Idempotency-Key, retried with it on a
   502/503/504 or a lost connection, as a real client does) and read their cases, host A
   freezes with requests in hand and its whole process group is killed (SIGKILL): every
   acknowledged case is in the database with its items, none twice, every submission gets
   through, the clients never see an answer of the application's but success (no 500), the
   reads never fail (nginx passes them to B), and every request sent after the kill is
   answered by B.
3. The client's address comes from X-Forwarded-For only when nginx is a trusted proxy: the
   sign-in throttle's rows record it.

Clients that are not the proxy connect from 127.0.0.5 (still loopback), so that the address the
application records tells them apart from nginx's 127.0.0.1.
"""

from __future__ import annotations

import math
import os
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from sqlmodel import Session, col, select

from demo.seed import DEMO_PASSWORD
from examples.onething_client import OneThingClient
from forms.catalog import default_catalog
from services.accounts.models import LoginAttempt
from services.cases.models import Case, CaseItem
from services.config import Settings
from tests.deploy.hosts import MULTIHOST, Host
from tests.deploy.proxy import SHIPPED, Nginx
from tests.live import free_port
from tests.web.conftest import MOTHER, NEWBORN_ANSWERS
from web.limits import material_forms

CLIENT = "127.0.0.5"  # where the test's clients connect from (not a trusted proxy)
PROXY = "127.0.0.1"  # where nginx connects to the hosts from (the trusted proxy)
FORGED = "203.0.113.9"  # what a client claims in X-Forwarded-For


def _marked(test):
    """A test that starts hosts (`MULTIHOST`)."""
    for mark in reversed(MULTIHOST):
        test = mark(test)
    return test


@dataclass
class Deployment:
    a: Host
    b: Host
    nginx: Nginx
    untrusting: str  # a test-only server of nginx in front of host C, which trusts no proxy
    c: Host | None = None

    def nginx_client(self, **kwargs) -> httpx.Client:
        return self.nginx.client(transport=self._from_client(verify=self.nginx.trust()), **kwargs)

    @staticmethod
    def _from_client(**kwargs) -> httpx.HTTPTransport:
        return httpx.HTTPTransport(local_address=CLIENT, **kwargs)

    def direct(self, base: str, **kwargs) -> httpx.Client:
        """A client of one host (or of the untrusting proxy), not through nginx."""
        return httpx.Client(base_url=base, transport=self._from_client(), timeout=30, **kwargs)


@pytest.fixture
def deploy(rt, database_url, registry_path, tmp_path):
    """`deploy(untrusting=False)`: hosts A and B and nginx in front of them, on the database of
    `rt` (seeded with the demo accounts). With `untrusting`, also host C, started without
    ONETHING_TRUSTED_PROXIES, behind a test-only server of the same nginx that sets the same
    X-Forwarded-For header. One worker process per host: quicker to start on a busy machine
    (tests/web/test_timers_across_hosts.py runs a host of two)."""
    env = {**os.environ, "ONETHING_DATABASE_URL": database_url}
    env.pop("ONETHING_TRUSTED_PROXIES", None)
    started: list[Host] = []
    proxies: list[Nginx] = []

    def start(*, untrusting: bool = False) -> Deployment:
        trusting = {**env, "ONETHING_TRUSTED_PROXIES": PROXY}
        for name in ("host-a", "host-b"):
            started.append(
                Host(name, workers=1, env=trusting, registry=registry_path, tmp_path=tmp_path)
            )
        if untrusting:
            started.append(
                Host("host-c", workers=1, env=env, registry=registry_path, tmp_path=tmp_path)
            )
        for host in started:
            host.wait_started()
        port = free_port()
        extra = ""
        if untrusting:
            extra = (
                f"    server {{\n        listen 127.0.0.1:{port};\n"
                f"        location / {{\n            proxy_pass {started[2].base};\n"
                "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
                "        }\n    }"
            )
        upstreams = [host.base.removeprefix("http://") for host in started[:2]]
        proxies.append(Nginx(tmp_path / "nginx", upstreams, extra))
        return Deployment(
            *started[:2],
            nginx=proxies[0],
            untrusting=f"http://127.0.0.1:{port}",
            c=started[2] if untrusting else None,
        )

    try:
        yield start
    finally:
        for nginx in proxies:
            nginx.stop()
        for host in started:
            host.stop()


def _sign_in(http: httpx.Client, username: str) -> str:
    response = http.post("/api/v1/login", json={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.text[:300]
    return response.json()["token"]


@_marked
def test_a_newborn_case_submitted_through_one_host_is_decided_and_verified_through_the_other(
    deploy,
):
    d = deploy()
    with (
        d.nginx_client() as through_nginx,
        d.direct(d.a.base) as via_a,
        d.direct(d.b.base) as via_b,
    ):
        token = _sign_in(through_nginx, MOTHER)  # a session signed in through nginx
        citizen_a = OneThingClient(via_a, token=token)
        citizen_b = OneThingClient(via_b, token=token)
        citizen = OneThingClient(through_nginx, token=token)

        case = citizen_a.submit("newborn", NEWBORN_ANSWERS, consent=True)  # through A
        departments = {item["department"] for item in citizen_b.case(case["id"])["items"]}
        for department in sorted(departments):
            clerk = OneThingClient(via_b, token=_sign_in(through_nginx, f"{department}01"))
            for task in clerk.tasks():  # through B
                if task["case_id"] == case["id"]:
                    clerk.claim(task["id"])
                    clerk.complete(task["id"], "approved")

        seen = {host: c.case(case["id"]) for host, c in (("a", citizen_a), ("b", citizen_b))}
        seen["nginx"] = citizen.case(case["id"])
        assert seen["a"] == seen["b"] == seen["nginx"]  # one case, whoever asks
        items = [item for item in seen["nginx"]["items"] if item["certificate"]]
        assert items, seen["nginx"]
        for item in items:
            pdf_a = citizen_a.certificate(case["id"], item["id"])
            pdf_b = citizen_b.certificate(case["id"], item["id"])
            assert pdf_a == pdf_b == citizen.certificate(case["id"], item["id"])
            # signed once (on whichever host approved it), genuine on every host
            assert citizen_b.verify(pdf_a)["verdict"] == "genuine"
            assert citizen_a.verify(pdf_b)["verdict"] == "genuine"
            assert citizen.verify(pdf_a)["verdict"] == "genuine"
        forged = bytearray(pdf_a)
        forged[len(forged) // 2] ^= 1
        assert citizen.verify(bytes(forged))["verdict"] != "genuine"

        # The request id: the client's own is passed on, and logged with the host that answered.
        headers = {"Authorization": f"Bearer {token}", "X-Request-Id": "trip-0001-of-the-case"}
        assert through_nginx.get("/api/v1/cases", headers=headers).status_code == 200
    logged = {entry.request_id: entry for entry in d.nginx.logged({"trip-0001-of-the-case"})}
    entry = logged["trip-0001-of-the-case"]
    assert entry.status == 200 and entry.upstream[-1] in (d.a.base[7:], d.b.base[7:])
    answering = d.a if entry.upstream[-1] == d.a.base[7:] else d.b
    # the host logs the same id (its line is written once the answer has gone out)
    assert '"trip-0001-of-the-case"' in answering.logged('"trip-0001-of-the-case"')


@dataclass
class Attempt:
    """One request a load client sent: when (the epoch, as nginx logs it), its request id and
    what came back (a status, or the transport error's name)."""

    sent: float
    request_id: str
    outcome: int | str
    answered: float = 0.0


@dataclass
class Submission:
    """One citizen's application under load, until it is known to be in."""

    citizen: str
    attempts: list[Attempt] = field(default_factory=list)
    case_id: int | None = None
    how: str = ""  # "answered", "replayed" (a retry answered from its key), "looked up"
    keys: int = 0  # Idempotency-Keys used (a new one only when the first's outcome was unknown)
    unexpected: list[str] = field(default_factory=list)


LOAD = ("load-", "read-")  # the load's request ids
RETRIED = {502, 503, 504}  # what a client retries, with the same key, besides a lost connection
# A key held by a request whose host died mid-way: its outcome is unknown (in use), or it was
# carried out but its answer not stored (applied).
KEY_UNANSWERED = {"idempotency_key_in_use", "idempotency_key_applied"}


def _apply(http: httpx.Client, token: str, sub: Submission, deadline: float) -> None:
    """Submit the citizen's newborn case until it is in, as a careful client does: the same
    Idempotency-Key on every retry after a lost connection or a proxy's 5xx; when the key is
    held by a request whose host died mid-way (409), look at the citizen's cases, and submit
    afresh with a new key only if the case is not there and the key's request is not said to
    have been carried out."""
    body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
    auth = {"Authorization": f"Bearer {token}"}
    key = None
    while time.monotonic() < deadline:
        if key is None:
            key, sub.keys = uuid.uuid4().hex, sub.keys + 1
        request_id = f"load-{sub.citizen}-{len(sub.attempts)}"
        headers = {**auth, "Idempotency-Key": key, "X-Request-Id": request_id}
        attempt = Attempt(time.time(), request_id, "")
        sub.attempts.append(attempt)
        try:
            response = http.post("/api/v1/cases", json=body, headers=headers)
        except httpx.TransportError as exc:
            attempt.outcome, attempt.answered = type(exc).__name__, time.time()
            time.sleep(0.1)
            continue
        attempt.outcome, attempt.answered = response.status_code, time.time()
        if response.status_code == 201:
            sub.case_id = response.json()["id"]
            sub.how = "replayed" if response.headers.get("idempotent-replayed") else "answered"
            return
        if response.status_code in RETRIED:
            time.sleep(0.1)
            continue
        code = response.json().get("code") if response.status_code == 409 else None
        if code in KEY_UNANSWERED:
            mine = _my_newborn_cases(http, auth, deadline)
            if mine:
                sub.case_id, sub.how = mine[0], "looked up"
                return
            if code == "idempotency_key_applied":
                sub.unexpected.append("carried out, but the case is not there")
                return
            key = None  # not carried out: the same request again, under a new key
            continue
        sub.unexpected.append(f"{response.status_code} {response.text[:200]}")
        return
    sub.unexpected.append("no answer in time")


def _read(http: httpx.Client, token: str, case_id: int, request_id: str, log: list) -> None:
    """Read a case as the citizen's app does: no retry here (nginx passes a GET that failed on
    one host to the other)."""
    attempt = Attempt(time.time(), request_id, "")
    log.append(attempt)
    headers = {"Authorization": f"Bearer {token}", "X-Request-Id": request_id}
    try:
        attempt.outcome = http.get(f"/api/v1/cases/{case_id}", headers=headers).status_code
    except httpx.TransportError as exc:
        attempt.outcome = type(exc).__name__
    attempt.answered = time.time()


def _my_newborn_cases(http: httpx.Client, auth: dict, deadline: float) -> list[int]:
    while time.monotonic() < deadline:
        try:
            response = http.get("/api/v1/cases", headers=auth)
        except httpx.TransportError:
            continue
        if response.status_code == 200:
            return [case["id"] for case in response.json() if case["matter"] == "newborn"]
        time.sleep(0.1)
    return []


CITIZENS = 10  # the test registry's married mothers with a newborn, besides the demo's
CLIENTS = 5  # submitting; one more client reads the cases submitted so far meanwhile
KILL_AFTER = 3  # acknowledged submissions before host A dies
IN_FLIGHT = 2  # requests stuck in host A before it is killed (waited for at most 3 s)
STUCK = 0.5  # seconds without an answer: stuck in host A (B answers in less under this load)


def _stuck(submissions: list[Submission], reads: list[Attempt]) -> list[Attempt]:
    """The requests unanswered for STUCK seconds (list(): the clients append meanwhile)."""
    sent = [a for s in submissions for a in list(s.attempts)] + list(reads)
    return [a for a in sent if not a.answered and a.sent < time.time() - STUCK]


@_marked
def test_killing_a_host_mid_load_keeps_every_acknowledged_request(deploy, newborn_parents, rt):
    d = deploy()
    citizens = newborn_parents(CITIZENS)
    with d.nginx_client() as http:
        tokens = {citizen: _sign_in(http, citizen) for citizen in citizens}
    submissions = [Submission(citizen) for citizen in citizens]
    queue = list(submissions)
    lock = threading.Lock()
    acknowledged = threading.Semaphore(0)
    done = threading.Event()
    reads: list[Attempt] = []
    deadline = time.monotonic() + 60

    def submitter() -> None:
        with d.nginx_client() as http:
            while True:
                with lock:
                    if not queue:
                        return
                    sub = queue.pop(0)
                _apply(http, tokens[sub.citizen], sub, deadline)
                acknowledged.release()

    def reader() -> None:
        with d.nginx_client() as http:
            while not done.is_set():
                known = [s for s in submissions if s.case_id]
                for sub in known:
                    request_id = f"read-{sub.citizen}-{len(reads)}"
                    _read(http, tokens[sub.citizen], sub.case_id, request_id, reads)
                if not known:
                    time.sleep(0.05)

    threads = [threading.Thread(target=submitter, daemon=True) for _ in range(CLIENTS)]
    watcher = threading.Thread(target=reader, daemon=True)
    started = time.time()
    for thread in [*threads, watcher]:
        thread.start()
    for _ in range(KILL_AFTER):
        assert acknowledged.acquire(timeout=60), "the load did not get going"
    # Host A freezes (SIGSTOP), so the requests it is answering stay unanswered, and dies
    # (SIGKILL to its process group) once some are (while B answers the others).
    d.a.pause()
    paused = time.time()
    while time.time() < paused + 3 and (
        time.time() < paused + STUCK or len(_stuck(submissions, reads)) < IN_FLIGHT
    ):
        time.sleep(0.01)
    killed = time.time()
    d.a.kill()
    for thread in threads:
        thread.join(timeout=max(1, deadline - time.monotonic()))
    done.set()
    watcher.join(timeout=30)
    finished = time.time()
    assert not any(thread.is_alive() for thread in [*threads, watcher])
    with d.nginx_client() as http:  # and each citizen reads her case once more
        for sub in submissions:
            _read(http, tokens[sub.citizen], sub.case_id, f"read-{sub.citizen}", reads)

    # Every submission got in, and the clients saw nothing from the application but success.
    assert [s.unexpected for s in submissions if s.unexpected] == []
    assert all(s.case_id for s in submissions)
    outcomes = Counter(a.outcome for s in submissions for a in s.attempts)
    failures = {outcome: n for outcome, n in outcomes.items() if outcome != 201}
    assert set(failures) <= RETRIED | {409, "RemoteProtocolError", "ReadError"}, failures
    read_outcomes = Counter(a.outcome for a in reads)
    assert set(read_outcomes) == {200}, read_outcomes  # nginx retried them: never a failure

    # Every acknowledged case is kept with its items, one case per citizen (and child).
    with Session(rt.db) as session:
        cases = session.exec(
            select(Case).where(
                col(Case.applicant_id_number).in_(citizens), Case.matter == "newborn"
            )
        ).all()
        items = Counter(
            session.exec(
                select(CaseItem.case_id).where(col(CaseItem.case_id).in_([c.id for c in cases]))
            ).all()
        )
    assert sorted(c.applicant_id_number for c in cases) == sorted(citizens)
    assert {s.citizen: s.case_id for s in submissions} == {
        c.applicant_id_number: c.id for c in cases
    }
    assert all(c.number for c in cases)
    assert len({c.subject_key for c in cases}) == len(cases)
    assert all(items[c.id] >= 5 for c in cases), items

    # Who answered, by nginx's log: both hosts had requests before the kill; after it, B alone.
    host_a, host_b = d.a.base[7:], d.b.base[7:]
    attempts = [a for s in submissions for a in s.attempts] + reads
    entries = d.nginx.logged({a.request_id for a in attempts})
    logged = {e.request_id: e for e in entries if e.request_id.startswith(LOAD)}
    assert {a.request_id for a in attempts} == set(logged)
    before = [logged[a.request_id] for a in attempts if a.sent < paused]
    after = [logged[a.request_id] for a in attempts if a.sent > killed]
    assert {e.upstream[0] for e in before} == {host_a, host_b}  # nginx sent to both
    assert after and all(e.upstream[-1] == host_b for e in after)
    tried_a_after = [e for e in after if host_a in e.upstream]
    assert all(e.upstream_status[0] == "502" for e in tried_a_after)  # refused, passed on
    # The requests host A had when it died: a POST's failure is the client's to retry; a GET
    # nginx sent to B itself.
    in_flight = [
        e
        for e in logged.values()
        if e.upstream[0] == host_a and e.msec >= killed and e not in after
    ]
    assert in_flight, "host A had no request in flight when it was killed"
    assert all(e.upstream_status[0] == "502" for e in in_flight)
    assert all(e.status == 502 for e in in_flight if e.method == "POST")
    assert all(
        e.status == 200 and e.upstream[1:] == [host_b] for e in in_flight if e.method == "GET"
    )
    # What the hosts answered: success, or a key's 409; "502" is nginx noting a lost host.
    answers = {status for e in logged.values() for status in e.upstream_status}
    assert answers <= {"200", "201", "409", "502"}, answers
    failed = [a for a in attempts if a.outcome not in (200, 201)]
    assert all(a.sent < killed for a in failed if a.outcome != 409)  # only those sent to A
    print(
        f"\nproxy failover: {len(submissions)} submissions by {CLIENTS} clients in "
        f"{finished - started:.1f} s; host A paused {paused - started:.1f} s in, after "
        f"{KILL_AFTER} acknowledged, killed {killed - paused:.2f} s later with "
        f"{Counter(e.method for e in in_flight)} requests in flight; submission attempts {sum(outcomes.values())}: "
        f"{dict(outcomes)}; reads {dict(read_outcomes)}; "
        f"answered {sum(s.how == 'answered' for s in submissions)}, replayed "
        f"{sum(s.how == 'replayed' for s in submissions)}, looked up "
        f"{sum(s.how == 'looked up' for s in submissions)}, new keys "
        f"{sum(s.keys - 1 for s in submissions)}; requests after the kill {len(after)}, of "
        f"which nginx first tried A {len(tried_a_after)}; last client-visible failure "
        f"{max((a.answered for a in failed), default=killed) - killed:.2f} s after the kill; "
        f"longest attempt {max(a.answered - a.sent for a in attempts if a.answered):.2f} s"
    )


def _last_attempt_address(rt) -> str:
    with Session(rt.db) as session:
        row = session.exec(select(LoginAttempt).order_by(col(LoginAttempt.id).desc())).first()
    return row.address


def _failed_sign_in(http: httpx.Client, probe: str, **headers: str) -> None:
    body = {"username": f"probe-{probe}", "password": "not the password"}
    response = http.post("/api/v1/login", json=body, headers=headers)
    assert response.status_code == 403, response.text[:300]  # wrong password


@_marked
def test_the_client_address_comes_from_the_proxy_only_when_it_is_trusted(deploy, rt):
    d = deploy(untrusting=True)
    with d.nginx_client() as through_nginx:
        _failed_sign_in(through_nginx, "plain")
        assert _last_attempt_address(rt) == CLIENT  # nginx's X-Forwarded-For, believed
        _failed_sign_in(through_nginx, "forged", **{"X-Forwarded-For": FORGED})
        assert _last_attempt_address(rt) == CLIENT  # what the client wrote is left of nginx's
    for host in (d.a, d.b):
        with d.direct(host.base) as direct:  # straight to a host, from an untrusted address
            _failed_sign_in(direct, f"direct-{host.name}", **{"X-Forwarded-For": FORGED})
            assert _last_attempt_address(rt) == CLIENT
    with d.direct(d.untrusting) as through_proxy:  # a proxy the host was not told to trust
        _failed_sign_in(through_proxy, "untrusted")
        assert _last_attempt_address(rt) == PROXY  # every client counts as the proxy
    assert "X-Forwarded-For from 127.0.0.1 ignored" in d.c.log.read_text()  # and it says why


def test_the_proxy_takes_the_largest_body_the_application_takes():
    """nginx's client_max_body_size is the largest request body a route takes (an application
    with every material at the upload limit), rounded up to a megabyte: bodies no route takes
    stop at the proxy, and every one some route takes gets through to it."""
    runtime = SimpleNamespace(settings=Settings(), catalog=default_catalog())
    largest = material_forms(runtime)
    lines = [line.split() for line in SHIPPED.read_text().splitlines()]
    sizes = [words[1] for words in lines if words[:1] == ["client_max_body_size"]]
    assert sizes == [f"{math.ceil(largest / 2**20)}m;"]


def test_the_shipped_configuration_is_valid_nginx(tmp_path):
    """`nginx -t` accepts the shipped file as rendered (no hosts need to run for that)."""
    nginx = Nginx(tmp_path / "nginx", ["127.0.0.1:9", "127.0.0.1:10"])
    try:
        with nginx.client() as client:
            assert client.get("/metrics").status_code == 404  # never through the proxy
        redirect = httpx.get(
            f"http://127.0.0.1:{nginx.http_port}/login?next=/", headers={"Host": "localhost"}
        )
        assert redirect.status_code == 308
        assert redirect.headers["location"] == "https://localhost/login?next=/"
    finally:
        nginx.stop()
    assert Path(nginx.access_log).exists()
