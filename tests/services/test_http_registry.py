"""The HTTP registry connector against a live demo exchange platform (uvicorn on loopback).

A fault-injecting ASGI wrapper in front of the exchange app counts the requests that reach the
platform and answers chosen statuses, slow answers or held answers; the connector's clock and
sleep are replaced, so breakers and backoff are checked without waiting.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import uvicorn

from demo.exchange_server import create_exchange_app, parse_clients
from demo.people import DEMO_COMPANIES, DEMO_PEOPLE
from services.registries.embedded import EmbeddedRegistry
from services.registries.http import (
    CLIENT_ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    HttpRegistry,
    RegistryUnavailable,
    sign,
)

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
CLIENT_ID, SECRET = "onething", "s3cret-for-tests"
WANG_FANG = "31010519940908028X"  # the newborn's mother: person, marriage, births, insurance
UNKNOWN_ID = "110101190001010000"
Reply = tuple[int, bytes]


def error(status: int) -> Reply:
    return status, json.dumps({"error": "injected", "message": f"injected {status}"}).encode()


class Faults:
    """ASGI wrapper over the exchange app: counts /v1 requests and injects failures.

    `replies` answer the next requests one each; then `always` (if set) answers every request
    whose path starts with `only`. `delay` slows every answer; while `hold` is set to an unset
    event, requests wait for it (and `arrived` tells the test a request is waiting).
    """

    def __init__(self, app) -> None:
        self.app = app
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.headers: list[dict[str, str]] = []
        self.replies: list[Reply] = []
        self.always: Reply | None = None
        self.only = "/v1/"
        self.delay = 0.0
        self.hold: threading.Event | None = None
        self.arrived = threading.Event()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        self.requests += 1
        self.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        # decide on arrival: a slow request finishing later must not take the next test's reply
        reply = self.replies.pop(0) if self.replies else None
        if reply is None and scope["path"].startswith(self.only):
            reply = self.always
        if self.delay:
            await asyncio.sleep(self.delay)
        hold = self.hold
        if hold is not None:
            self.arrived.set()
            while not hold.is_set():
                await asyncio.sleep(0.005)
        if reply is None:
            await self.app(scope, receive, send)
            return
        status, body = reply
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@dataclass
class Platform:
    url: str
    faults: Faults
    embedded: EmbeddedRegistry


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def platform(registry_path: Path) -> Iterator[Platform]:
    embedded = EmbeddedRegistry(registry_path, clock=lambda: NOW)
    faults = Faults(create_exchange_app(embedded, clients={CLIENT_ID: SECRET, "other": "x"}))
    port = _free_port()
    config = uvicorn.Config(faults, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the exchange platform did not start")
        time.sleep(0.01)
    yield Platform(f"http://127.0.0.1:{port}", faults, embedded)
    server.should_exit = True
    thread.join(timeout=5)
    embedded.close()


@pytest.fixture(autouse=True)
def _fresh_faults(platform: Platform) -> Iterator[None]:
    platform.faults.reset()
    yield
    hold = platform.faults.hold
    if hold is not None:
        hold.set()  # never leave a request waiting for the next test


@pytest.fixture
def slept() -> list[float]:
    """The backoff delays the connector asked for (it never really sleeps here)."""
    return []


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def connect(platform: Platform, slept: list[float], clock: Clock) -> Iterator[Callable]:
    """Make an HttpRegistry to the platform; test options override the defaults here."""
    made: list[HttpRegistry] = []

    def make(**options) -> HttpRegistry:
        settings = {
            "client_id": CLIENT_ID,
            "client_secret": SECRET,
            "timeout": 1.0,
            "retries": 2,
            "backoff": 0.2,
            "breaker_threshold": 3,
            "breaker_reset": 30.0,
            "clock": clock,
            "sleep": slept.append,
            "now": lambda: NOW,
        }
        settings.update(options)
        registry = HttpRegistry(settings.pop("base_url", platform.url), **settings)
        made.append(registry)
        return registry

    yield make
    for registry in made:
        registry.close()


def _sample_ids(registry_path: Path) -> list[str]:
    """The demo people, plus one person from each table the demo cast leaves empty."""
    ids = [person.id_number for person in DEMO_PEOPLE]
    with sqlite3.connect(registry_path) as db:
        for table in ("student", "veteran", "death"):
            ids.append(db.execute(f"SELECT id_number FROM {table} LIMIT 1").fetchone()[0])
    return ids


PER_PERSON = (
    "person",
    "marriage_of",
    "births_to",
    "death_of",
    "medical_insurance",
    "social_insurance",
    "housing_fund",
    "real_estate_of",
    "legal_persons_of",
    "student",
    "veteran",
    "certificates_of",
)


# --- same answers as the embedded registry --------------------------------------------------


def test_every_method_returns_the_embedded_registrys_records(
    connect, platform: Platform, registry_path: Path
) -> None:
    remote, local = connect(), platform.embedded
    found = dict.fromkeys((*PER_PERSON, "household", "legal_person", "certificates_of_kind"), 0)
    for id_number in _sample_ids(registry_path):
        for method in PER_PERSON:
            expected = getattr(local, method)(id_number)
            assert getattr(remote, method)(id_number) == expected, (method, id_number)
            found[method] += bool(expected)
        person = local.person(id_number)
        if person is not None:
            assert remote.household(person.household_id) == local.household(person.household_id)
            found["household"] += 1
        for certificate in local.certificates_of(id_number)[:1]:
            expected = local.certificates_of(id_number, kind=certificate.kind)
            assert remote.certificates_of(id_number, kind=certificate.kind) == expected
            found["certificates_of_kind"] += 1
    for company in DEMO_COMPANIES:
        assert remote.legal_person(company.uscc) == local.legal_person(company.uscc)
        found["legal_person"] += 1
    assert all(found.values()), found  # every method was compared on a real record


def test_unknown_ids_give_none_or_empty_lists(connect) -> None:
    remote = connect()
    for method in PER_PERSON:
        assert getattr(remote, method)(UNKNOWN_ID) in (None, []), method
    assert remote.household("999999999999") is None
    assert remote.legal_person("91310000000000000X") is None
    assert remote.certificates_of(WANG_FANG, kind="no_such_kind") == []


def test_records_are_stamped_with_their_registry_and_the_time_of_retrieval(
    connect, platform: Platform
) -> None:
    remote = connect(now=lambda: datetime.now(UTC))
    before = datetime.now(UTC)
    person, marriage = remote.person(WANG_FANG), remote.marriage_of(WANG_FANG)
    assert person is not None and marriage is not None
    assert person.source.registry == "population" and person.source.record_id == WANG_FANG
    assert marriage.source.registry == "marriage"
    assert before <= person.source.retrieved_at <= datetime.now(UTC)
    assert person.source.retrieved_at.tzinfo is UTC


def test_concurrent_lookups_from_many_threads_all_get_their_own_records(
    connect, platform: Platform
) -> None:
    remote = connect()
    ids = [person.id_number for person in DEMO_PEOPLE] * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(remote.person, ids))
    assert results == [platform.embedded.person(id_number) for id_number in ids]


# --- credentials -----------------------------------------------------------------------------


def test_requests_carry_a_signature_and_never_the_secret(connect, platform: Platform) -> None:
    connect().person(WANG_FANG)
    (headers,) = platform.faults.headers
    assert headers[CLIENT_ID_HEADER.lower()] == CLIENT_ID
    assert headers[SIGNATURE_HEADER.lower()] and headers[TIMESTAMP_HEADER.lower()]
    assert not any(SECRET in value for value in headers.values())


@pytest.mark.parametrize(
    ("client_id", "secret"), [(CLIENT_ID, "wrong-secret"), ("stranger", SECRET)]
)
def test_bad_credentials_are_a_configuration_error_and_are_not_retried(
    connect, platform: Platform, slept: list[float], client_id: str, secret: str
) -> None:
    remote = connect(client_id=client_id, client_secret=secret)
    with pytest.raises(RegistryUnavailable) as raised:
        remote.person(WANG_FANG)
    assert raised.value.registry == "population"
    assert raised.value.reason == "configuration"
    assert "configuration" in raised.value.message_en
    assert "配置" in raised.value.message and "手动填写" in raised.value.message
    assert "ONETHING_EXCHANGE_CLIENT_SECRET" in raised.value.detail
    assert platform.faults.requests == 1 and slept == []
    assert remote.breaker_state("population") == "closed"  # the platform did answer


def test_a_wrong_base_url_is_a_configuration_error_not_an_empty_answer(
    connect, platform: Platform
) -> None:
    remote = connect(base_url=f"{platform.url}/wrong-prefix")
    with pytest.raises(RegistryUnavailable) as raised:
        remote.births_to(WANG_FANG)
    assert raised.value.reason == "configuration"
    assert "ONETHING_EXCHANGE_URL" in raised.value.detail


def _signed_get(url: str, target: str, *, timestamp: int, secret: str = SECRET) -> httpx.Response:
    headers = {
        CLIENT_ID_HEADER: CLIENT_ID,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, "GET", target, str(timestamp)),
    }
    return httpx.get(f"{url}{target}", headers=headers)


def test_platform_refuses_unsigned_stale_or_tampered_requests(platform: Platform) -> None:
    target = f"/v1/population/persons/{WANG_FANG}"
    now = int(time.time())
    assert _signed_get(platform.url, target, timestamp=now).status_code == 200
    assert httpx.get(f"{platform.url}{target}").status_code == 401
    assert _signed_get(platform.url, target, timestamp=now - 3600).status_code == 401
    signed_for_other = _signed_get(platform.url, target, timestamp=now).request.headers
    tampered = httpx.get(
        f"{platform.url}/v1/population/persons/310104199205160353", headers=signed_for_other
    )
    assert tampered.status_code == 401
    assert tampered.json()["error"] == "unauthorized"


# --- retries ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_platform_failing_twice_then_answering_succeeds_within_the_retries(
    connect, platform: Platform, slept: list[float], status: int
) -> None:
    platform.faults.replies = [error(status), error(status)]
    assert connect().person(WANG_FANG) == platform.embedded.person(WANG_FANG)
    assert platform.faults.requests == 3
    assert slept == [0.2, 0.4]  # exponential backoff, no jitter


def test_a_failing_platform_is_retried_then_reported_unavailable(
    connect, platform: Platform, slept: list[float]
) -> None:
    platform.faults.always = error(503)
    with pytest.raises(RegistryUnavailable) as raised:
        connect().social_insurance(WANG_FANG)
    assert raised.value.registry == "social_insurance" and raised.value.reason == "unreachable"
    assert raised.value.message == "社会保险信息库（人社）暂时无法访问，请手动填写相关信息。"
    assert raised.value.status == 503
    assert platform.faults.requests == 3 and slept == [0.2, 0.4]


def test_slow_answers_time_out_are_retried_then_reported_unavailable(
    connect, platform: Platform, slept: list[float]
) -> None:
    platform.faults.delay = 0.3
    started = time.monotonic()
    with pytest.raises(RegistryUnavailable) as raised:
        connect(timeout=0.1).person(WANG_FANG)
    assert time.monotonic() - started < 1.0
    assert raised.value.reason == "unreachable" and "Timeout" in raised.value.detail
    assert platform.faults.requests == 3 and slept == [0.2, 0.4]


def test_an_unreachable_platform_is_retried_then_reported_unavailable(
    connect, slept: list[float]
) -> None:
    remote = connect(base_url=f"http://127.0.0.1:{_free_port()}")  # nobody listens there
    with pytest.raises(RegistryUnavailable) as raised:
        remote.person(WANG_FANG)
    assert raised.value.reason == "unreachable" and "ConnectError" in raised.value.detail
    assert slept == [0.2, 0.4]


def test_other_client_errors_are_not_retried(
    connect, platform: Platform, slept: list[float]
) -> None:
    platform.faults.replies = [error(400)]
    with pytest.raises(RegistryUnavailable) as raised:
        connect().person(WANG_FANG)
    assert raised.value.reason == "rejected"
    assert platform.faults.requests == 1 and slept == []


def test_an_unreadable_answer_is_reported_and_counts_as_a_failure(
    connect, platform: Platform
) -> None:
    platform.faults.replies = [(200, b'{"id_number": 42}')]
    remote = connect(breaker_threshold=1)
    with pytest.raises(RegistryUnavailable) as raised:
        remote.person(WANG_FANG)
    assert raised.value.reason == "bad_response"
    assert remote.breaker_state("population") == "open"


# --- the circuit breaker ---------------------------------------------------------------------


def _trip(remote: HttpRegistry, platform: Platform, times: int) -> None:
    platform.faults.always = error(503)
    platform.faults.only = "/v1/population/"
    for _ in range(times):
        with pytest.raises(RegistryUnavailable):
            remote.person(WANG_FANG)


def test_breaker_opens_after_consecutive_failures_and_then_fails_fast(
    connect, platform: Platform, slept: list[float]
) -> None:
    remote = connect(retries=0)
    _trip(remote, platform, 2)
    assert remote.breaker_state("population") == "closed"
    _trip(remote, platform, 1)
    assert remote.breaker_state("population") == "open"
    assert platform.faults.requests == 3
    with pytest.raises(RegistryUnavailable) as raised:
        remote.household("310104900001")
    assert raised.value.reason == "circuit_open"
    assert "人口库" in raised.value.message
    assert platform.faults.requests == 3  # nothing reached the platform
    assert slept == []


def test_a_success_resets_the_count_of_consecutive_failures(connect, platform: Platform) -> None:
    remote = connect(retries=0)
    _trip(remote, platform, 2)
    platform.faults.always = None
    assert remote.person(WANG_FANG) is not None
    _trip(remote, platform, 2)
    assert remote.breaker_state("population") == "closed"


def test_breaker_half_opens_after_the_reset_time_and_a_good_trial_closes_it(
    connect, platform: Platform, clock: Clock
) -> None:
    remote = connect(retries=0)
    _trip(remote, platform, 3)
    clock.advance(29.9)
    assert remote.breaker_state("population") == "open"
    with pytest.raises(RegistryUnavailable):
        remote.person(WANG_FANG)
    clock.advance(0.1)
    assert remote.breaker_state("population") == "half_open"
    platform.faults.always = None
    assert remote.person(WANG_FANG) == platform.embedded.person(WANG_FANG)
    assert platform.faults.requests == 4
    assert remote.breaker_state("population") == "closed"


def test_a_failed_trial_reopens_the_breaker_after_a_single_attempt(
    connect, platform: Platform, clock: Clock, slept: list[float]
) -> None:
    remote = connect(retries=2, breaker_threshold=1)
    _trip(remote, platform, 1)
    assert platform.faults.requests == 3
    clock.advance(30)
    slept.clear()
    with pytest.raises(RegistryUnavailable) as raised:
        remote.person(WANG_FANG)
    assert raised.value.reason == "unreachable"
    assert platform.faults.requests == 4 and slept == []  # the trial is one attempt
    assert remote.breaker_state("population") == "open"
    clock.advance(29)
    with pytest.raises(RegistryUnavailable) as raised:
        remote.person(WANG_FANG)
    assert raised.value.reason == "circuit_open" and platform.faults.requests == 4


def test_while_the_trial_runs_other_lookups_fail_fast(
    connect, platform: Platform, clock: Clock
) -> None:
    remote = connect(retries=0)
    _trip(remote, platform, 3)
    clock.advance(30)
    platform.faults.always = None
    platform.faults.hold = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        trial = pool.submit(remote.person, WANG_FANG)
        assert platform.faults.arrived.wait(timeout=5)
        with pytest.raises(RegistryUnavailable) as raised:
            remote.person(WANG_FANG)
        assert raised.value.reason == "circuit_open"
        assert platform.faults.requests == 4
        platform.faults.hold.set()
        assert trial.result(timeout=5) == platform.embedded.person(WANG_FANG)
    assert remote.breaker_state("population") == "closed"


def test_breakers_are_per_registry(connect, platform: Platform) -> None:
    remote = connect(retries=0)
    _trip(remote, platform, 3)
    assert remote.breaker_state("population") == "open"
    assert remote.marriage_of(WANG_FANG) == platform.embedded.marriage_of(WANG_FANG)
    assert remote.breaker_state("marriage") == "closed"


# --- the platform's command line ------------------------------------------------------------


def test_client_credentials_are_read_from_id_secret_pairs() -> None:
    assert parse_clients("onething:abc, other:d:e ,") == {"onething": "abc", "other": "d:e"}
    assert parse_clients("") == {}
    with pytest.raises(ValueError):
        parse_clients("no-secret")
