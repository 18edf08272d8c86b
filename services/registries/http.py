"""A `Registry` over HTTP: the connector to a data-sharing and exchange platform (数据共享交换平台).

Every lookup is one signed `GET`; network trouble is retried, and a circuit breaker per registry
stops calling a registry that keeps failing. When a registry cannot answer, the lookup raises
`RegistryUnavailable` (with a message a citizen can act on) so the caller can ask the citizen
for the facts instead ("degraded mode"). "Not found" is never an error: None or [].

Configuration (environment, read by `services.config.Settings`)::

    ONETHING_EXCHANGE_URL            base URL, e.g. https://exchange.example.gov.cn/onething
                                     (unset: the embedded demo registry is used)
    ONETHING_EXCHANGE_CLIENT_ID      the client id the platform issued to us
    ONETHING_EXCHANGE_CLIENT_SECRET  the shared secret for signing; it never travels
    ONETHING_EXCHANGE_TIMEOUT        seconds per connect/read (default 2.0)

A lookup costs at most `(retries + 1)` attempts of `timeout` seconds each, plus backoff delays of
`backoff * 2**n` (0.2 s, 0.4 s, ... by default; no jitter): about 6.6 s with the defaults.

Wire format (version 1)
-----------------------
Requests are `GET {base}/v1/{registry}/...` with three headers::

    X-Client-Id:  the client id
    X-Timestamp:  Unix time in whole seconds (the server refuses it beyond +-300 s)
    X-Signature:  hex HMAC-SHA256(secret, "GET\\n{target}\\n{timestamp}")

where `target` is the request target exactly as sent: the URL path including the base URL's
own path, percent-encoded, plus `?query` if any (e.g. `/onething/v1/population/persons/3101...`).
A `traceparent` header (W3C Trace Context) names the trace of the request or case the lookup is
made for, with a new span id per attempt, so the platform can log it under the same trace.

    population         /v1/population/persons/{id_number}                   Person
    population         /v1/population/households/{household_id}             Household
    marriage           /v1/marriage/persons/{id_number}/current-marriage    Marriage
    birth              /v1/birth/parents/{id_number}/births                 [BirthRecord]
    death              /v1/death/persons/{id_number}                        DeathRecord
    medical_insurance  /v1/medical_insurance/persons/{id_number}            MedicalInsurance
    social_insurance   /v1/social_insurance/persons/{id_number}             SocialInsurance
    housing_fund       /v1/housing_fund/persons/{id_number}                 HousingFund
    real_estate        /v1/real_estate/owners/{id_number}/estates           [RealEstate]
    legal_person       /v1/legal_person/representatives/{id_number}/legal-persons  [LegalPerson]
    legal_person       /v1/legal_person/legal-persons/{uscc}                LegalPerson
    education          /v1/education/students/{id_number}                   StudentRecord
    veterans           /v1/veterans/persons/{id_number}                     VeteranRecord
    certificates       /v1/certificates/holders/{id_number}/certificates?kind=...  [Certificate]

A record is a JSON object with the fields of its dataclass in `records.py` (dates as ISO
`YYYY-MM-DD`, tuples as arrays, absent values as null) and `"source": {"registry": ...,
"record_id": ...}`; the client adds `retrieved_at` (now, UTC). A list answers
`{"items": [record, ...]}` in the registry's order (an empty list when nothing is found). A
single record that does not exist answers 404 with `{"error": "not_found"}`; any 404 without
that marker means a wrong URL and is reported as a configuration error. Other errors answer
`{"error": code, "message": text}`: 401 for bad credentials, 5xx when the registry fails.

Retried: connect errors, timeouts, broken connections, 5xx and 429. Never retried: other 4xx
(401/403 and an unmarked 404 raise `RegistryUnavailable` with reason "configuration").
The breaker counts failed lookups (after their retries), not attempts: `breaker_threshold`
lookups in a row that found the platform unreachable or broken open it; while open, lookups
fail at once without touching the network; after `breaker_reset` seconds the next lookup is a
single trial attempt (no retries) that closes the breaker or opens it again, and other lookups
fail fast meanwhile. Any answer from the platform, even 401 or 404, counts as a success.

`demo.exchange_server.create_exchange_app` serves this format from any `Registry`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from typing import Any, Union, get_args, get_origin, get_type_hints
from urllib.parse import quote

import httpx

from services.observability import outgoing_traceparent
from services.registries.records import (
    BirthRecord,
    Certificate,
    DeathRecord,
    Household,
    HousingFund,
    LegalPerson,
    Marriage,
    MedicalInsurance,
    Person,
    RealEstate,
    RegistryUnavailable,
    SocialInsurance,
    Source,
    StudentRecord,
    VeteranRecord,
)

__all__ = ["HttpRegistry", "RegistryUnavailable"]

logger = logging.getLogger(__name__)

CLIENT_ID_HEADER = "X-Client-Id"
TIMESTAMP_HEADER = "X-Timestamp"
SIGNATURE_HEADER = "X-Signature"
NOT_FOUND = "not_found"

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
OUTAGE_REASONS = frozenset({"unreachable", "bad_response", "circuit_open"})


def _utc_now() -> datetime:
    return datetime.now(UTC)


# --- the wire format, shared with exchange_server ---------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One `Registry` method on the wire: its registry, path template and record type."""

    method: str
    registry: str
    path: str  # with one {placeholder} for the method's first argument
    record: type
    many: bool = False
    query: tuple[str, ...] = ()  # optional keyword arguments sent as query parameters

    @property
    def param(self) -> str:
        return self.path[self.path.index("{") + 1 : self.path.index("}")]


ENDPOINTS: dict[str, Endpoint] = {
    e.method: e
    for e in (
        Endpoint("person", "population", "/v1/population/persons/{id_number}", Person),
        Endpoint("household", "population", "/v1/population/households/{household_id}", Household),
        Endpoint(
            "marriage_of", "marriage", "/v1/marriage/persons/{id_number}/current-marriage", Marriage
        ),
        Endpoint("births_to", "birth", "/v1/birth/parents/{id_number}/births", BirthRecord, True),
        Endpoint("death_of", "death", "/v1/death/persons/{id_number}", DeathRecord),
        Endpoint(
            "medical_insurance",
            "medical_insurance",
            "/v1/medical_insurance/persons/{id_number}",
            MedicalInsurance,
        ),
        Endpoint(
            "social_insurance",
            "social_insurance",
            "/v1/social_insurance/persons/{id_number}",
            SocialInsurance,
        ),
        Endpoint(
            "housing_fund", "housing_fund", "/v1/housing_fund/persons/{id_number}", HousingFund
        ),
        Endpoint(
            "real_estate_of",
            "real_estate",
            "/v1/real_estate/owners/{id_number}/estates",
            RealEstate,
            True,
        ),
        Endpoint(
            "legal_persons_of",
            "legal_person",
            "/v1/legal_person/representatives/{id_number}/legal-persons",
            LegalPerson,
            True,
        ),
        Endpoint(
            "legal_person", "legal_person", "/v1/legal_person/legal-persons/{uscc}", LegalPerson
        ),
        Endpoint("student", "education", "/v1/education/students/{id_number}", StudentRecord),
        Endpoint("veteran", "veterans", "/v1/veterans/persons/{id_number}", VeteranRecord),
        Endpoint(
            "certificates_of",
            "certificates",
            "/v1/certificates/holders/{id_number}/certificates",
            Certificate,
            True,
            ("kind",),
        ),
    )
}
REGISTRY_CODES: tuple[str, ...] = tuple(dict.fromkeys(e.registry for e in ENDPOINTS.values()))


def sign(secret: str, method: str, target: str, timestamp: str) -> str:
    """The request signature: hex HMAC-SHA256 over method, request target and timestamp."""
    message = f"{method.upper()}\n{target}\n{timestamp}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def encode_record(record: Any) -> dict[str, Any]:
    """A record as its JSON object: dates in ISO form, tuples as lists, source without time."""
    body: dict[str, Any] = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if isinstance(value, Source):
            value = {"registry": value.registry, "record_id": value.record_id}
        elif isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        body[f.name] = value
    return body


class BadResponse(ValueError):
    """The platform answered with a body that is not a valid record."""


def _expect(kind: type) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        # bool is an int in Python, but not on the wire
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise BadResponse(f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    return check


def _to_date(value: Any) -> date:
    return date.fromisoformat(_expect(str)(value))


def _to_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadResponse(f"expected a number, got {type(value).__name__}")
    return float(value)


def _to_strings(value: Any) -> tuple[str, ...]:
    return tuple(_expect(str)(item) for item in _expect(list)(value))


def _to_details(value: Any) -> dict[str, str]:
    return {_expect(str)(k): _expect(str)(v) for k, v in _expect(dict)(value).items()}


def _converter(hint: Any) -> tuple[Callable[[Any], Any], bool]:
    """How to read one field from JSON, and whether null is allowed."""
    optional = False
    if get_origin(hint) in (Union, types.UnionType):
        args = [arg for arg in get_args(hint) if arg is not type(None)]
        optional, hint = len(args) < len(get_args(hint)), args[0]
    if hint is date:
        return _to_date, optional
    if hint is float:
        return _to_float, optional
    if get_origin(hint) is tuple:
        return _to_strings, optional
    if get_origin(hint) is dict:
        return _to_details, optional
    return _expect(hint), optional


def _field_readers(record: type) -> list[tuple[str, Callable[[Any], Any], bool]]:
    hints = get_type_hints(record)
    readers = []
    for f in fields(record):
        if f.name != "source":
            convert, optional = _converter(hints[f.name])
            readers.append((f.name, convert, optional))
    return readers


_READERS = {e.record: _field_readers(e.record) for e in ENDPOINTS.values()}


def decode_record(record: type, body: Any, registry: str, retrieved_at: datetime) -> Any:
    """A record from its JSON object; raises `BadResponse` when a field is missing or wrong."""
    if not isinstance(body, dict):
        raise BadResponse("a record must be a JSON object")
    values: dict[str, Any] = {}
    name = "source"
    try:
        for name, convert, optional in _READERS[record]:
            value = body[name]
            if value is None and not optional:
                raise BadResponse("is null")
            values[name] = None if value is None else convert(value)
        name = "source"
        record_id = _expect(str)(body["source"]["record_id"])
    except (KeyError, TypeError, ValueError) as exc:
        # the field and the kind of fault, never the value (it is logged, and personal)
        fault = str(exc) if isinstance(exc, BadResponse) else type(exc).__name__
        raise BadResponse(f"{record.__name__}.{name}: {fault}") from exc
    return record(**values, source=Source(registry, record_id, retrieved_at))


# --- errors -----------------------------------------------------------------------------------


# --- the circuit breaker ----------------------------------------------------------------------


class CircuitOpen(Exception):
    """The breaker refuses the call."""


class Breaker:
    """A circuit breaker for one registry: closed, open, or half-open with one trial running."""

    def __init__(self, threshold: int, reset: float, clock: Callable[[], float]) -> None:
        self._threshold = threshold
        self._reset = reset
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0

    @property
    def state(self) -> str:
        with self._lock:
            if self._state == OPEN and self._clock() - self._opened_at >= self._reset:
                return HALF_OPEN  # the next call will be the trial
            return self._state

    def admit(self) -> bool:
        """Let a call through, returning whether it is the half-open trial; else `CircuitOpen`."""
        with self._lock:
            if self._state == CLOSED:
                return False
            if self._state == OPEN and self._clock() - self._opened_at >= self._reset:
                self._state = HALF_OPEN
                return True
            raise CircuitOpen

    def record(self, *, ok: bool, trial: bool) -> None:
        with self._lock:
            if ok:
                self._state, self._failures = CLOSED, 0
            elif trial or self._state == HALF_OPEN:
                self._state, self._opened_at = OPEN, self._clock()
            else:
                self._failures += 1
                if self._state == CLOSED and self._failures >= self._threshold:
                    self._state, self._opened_at = OPEN, self._clock()


# --- the connector ----------------------------------------------------------------------------


class HttpRegistry:
    """A `Registry` served by a data-exchange platform over HTTP (see the module docstring).

    Safe to share between threads. `clock` (monotonic seconds) drives the breakers, `sleep`
    waits between retries and `now` stamps `retrieved_at`; tests replace all three.
    """

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str,
        client_secret: str,
        timeout: float = 2.0,
        retries: int = 2,
        backoff: float = 0.2,
        breaker_threshold: int = 5,
        breaker_reset: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        if not client_id or not client_secret:
            raise ValueError("the exchange client id and secret must both be set")
        if timeout <= 0 or retries < 0 or backoff < 0 or breaker_threshold < 1:
            raise ValueError("need timeout > 0, retries >= 0, backoff >= 0, breaker_threshold >= 1")
        self.base_url = base_url.rstrip("/")
        self._secret = client_secret
        self._retries = retries
        self._backoff = backoff
        self._sleep = sleep
        self._now = now
        self._breakers = {
            code: Breaker(breaker_threshold, breaker_reset, clock) for code in REGISTRY_CODES
        }
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"Accept": "application/json", CLIENT_ID_HEADER: client_id},
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def breaker_state(self, registry: str) -> str:
        """ "closed", "open" or "half_open" (the next lookup will be a trial), for monitoring."""
        return self._breakers[registry].state

    # population

    def person(self, id_number: str) -> Person | None:
        return self._one("person", id_number)

    def household(self, household_id: str) -> Household | None:
        return self._one("household", household_id)

    # civil status

    def marriage_of(self, id_number: str) -> Marriage | None:
        """The current (not divorced) marriage of a person, if any."""
        return self._one("marriage_of", id_number)

    def births_to(self, parent_id_number: str) -> list[BirthRecord]:
        """Birth records naming the person as mother or father, newest first."""
        return self._many("births_to", parent_id_number)

    def death_of(self, id_number: str) -> DeathRecord | None:
        return self._one("death_of", id_number)

    # insurance and housing fund

    def medical_insurance(self, id_number: str) -> MedicalInsurance | None:
        return self._one("medical_insurance", id_number)

    def social_insurance(self, id_number: str) -> SocialInsurance | None:
        return self._one("social_insurance", id_number)

    def housing_fund(self, id_number: str) -> HousingFund | None:
        return self._one("housing_fund", id_number)

    # property and companies

    def real_estate_of(self, id_number: str) -> list[RealEstate]:
        return self._many("real_estate_of", id_number)

    def legal_persons_of(self, id_number: str) -> list[LegalPerson]:
        """Legal persons whose legal representative is this person."""
        return self._many("legal_persons_of", id_number)

    def legal_person(self, uscc: str) -> LegalPerson | None:
        return self._one("legal_person", uscc)

    # education and military service

    def student(self, id_number: str) -> StudentRecord | None:
        return self._one("student", id_number)

    def veteran(self, id_number: str) -> VeteranRecord | None:
        return self._one("veteran", id_number)

    # electronic certificates

    def certificates_of(self, id_number: str, kind: str | None = None) -> list[Certificate]:
        return self._many("certificates_of", id_number, {"kind": kind} if kind else {})

    # plumbing

    def _one(self, method: str, key: str) -> Any:
        return self._lookup(ENDPOINTS[method], key, {}) if key else None

    def _many(self, method: str, key: str, query: dict[str, str] | None = None) -> list[Any]:
        return self._lookup(ENDPOINTS[method], key, query or {}) if key else []

    def _lookup(self, endpoint: Endpoint, key: str, query: dict[str, str]) -> Any:
        """One lookup through the registry's breaker: the record(s), None or []."""
        breaker = self._breakers[endpoint.registry]
        try:
            trial = breaker.admit()
        except CircuitOpen:
            raise RegistryUnavailable(
                endpoint.registry, reason="circuit_open", detail=f"{endpoint.method}: failing fast"
            ) from None
        ok = False
        try:
            attempts = 1 if trial else self._retries + 1
            result = self._read(endpoint, self._send_with_retries(endpoint, key, query, attempts))
            ok = True
            return result
        except RegistryUnavailable as error:
            ok = error.reason not in OUTAGE_REASONS  # the platform answered, if only "no"
            raise
        finally:
            breaker.record(ok=ok, trial=trial)

    def _send_with_retries(
        self, endpoint: Endpoint, key: str, query: dict[str, str], attempts: int
    ) -> httpx.Response:
        path = endpoint.path.replace(f"{{{endpoint.param}}}", quote(key, safe=""))
        problem = ""
        for attempt in range(attempts):
            if attempt:
                self._sleep(self._backoff * 2 ** (attempt - 1))
            try:
                response = self._send(path, query)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                problem = type(exc).__name__
                continue
            if response.status_code == 429 or response.status_code >= 500:
                problem = f"HTTP {response.status_code}"
                continue
            return response
        raise _unavailable(endpoint, "unreachable", f"{problem} after {attempts} attempt(s)")

    def _send(self, path: str, query: dict[str, str]) -> httpx.Response:
        request = self._client.build_request("GET", path, params=query)
        timestamp = str(int(time.time()))
        target = request.url.raw_path.decode("ascii")
        request.headers[TIMESTAMP_HEADER] = timestamp
        request.headers[SIGNATURE_HEADER] = sign(self._secret, "GET", target, timestamp)
        request.headers["traceparent"] = outgoing_traceparent()  # the request's trace, a new span
        return self._client.send(request)

    def _read(self, endpoint: Endpoint, response: httpx.Response) -> Any:
        """The answer's record(s); None or [] for a marked 404; else `RegistryUnavailable`."""
        status = response.status_code
        if status == 404 and _error_code(response) == NOT_FOUND:
            return [] if endpoint.many else None
        if status in _CONFIGURATION_ERRORS:
            raise _unavailable(endpoint, "configuration", _CONFIGURATION_ERRORS[status])
        if status != 200:
            raise _unavailable(endpoint, "rejected", f"HTTP {status}")
        retrieved_at = self._now()
        try:
            body = response.json()
            if not endpoint.many:
                return decode_record(endpoint.record, body, endpoint.registry, retrieved_at)
            items = body.get("items") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise BadResponse("a list answer needs an items array")
            return [
                decode_record(endpoint.record, item, endpoint.registry, retrieved_at)
                for item in items
            ]
        except ValueError as exc:  # BadResponse, or a body that is not JSON
            raise _unavailable(endpoint, "bad_response", str(exc)) from None


_CONFIGURATION_ERRORS = {
    401: "HTTP 401: check ONETHING_EXCHANGE_CLIENT_ID and ONETHING_EXCHANGE_CLIENT_SECRET",
    403: "HTTP 403: this client may not read this registry",
    404: "HTTP 404 without a not_found marker: check ONETHING_EXCHANGE_URL",
}


def _unavailable(endpoint: Endpoint, reason: str, detail: str) -> RegistryUnavailable:
    error = RegistryUnavailable(
        endpoint.registry, reason=reason, detail=f"{endpoint.method}: {detail}"
    )
    logger.warning("%s", error)
    return error


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None
