"""Property-based fuzzing of the whole OpenAPI document with schemathesis: no request, however
malformed, makes the server fail (5xx), for any kind of caller, and every answer is one the
document lists for its operation (status, media type, body schema and headers).

Every operation is generated from /openapi.json: the JSON API under /api/v1/, and the pages. An
API request is sent as an anonymous caller (with whatever Authorization header was generated), a
citizen, a clerk, a department's system and the administrator, with their bearer tokens; a page
request as an anonymous browser and as a citizen's, a clerk's and the administrator's browser
(their session cookie and its CSRF token). Generation is derandomized: a run is repeatable.

On SQLite every phase runs for the API: the schema's examples, boundary values of each
parameter, then random valid and invalid data; the pages, many more operations that each render
a page, get fewer random examples. On PostgreSQL only the boundary values run (PostgreSQL refuses
what SQLite takes: integers beyond 32 bits in INTEGER columns, NUL characters in text).
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import cast

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlmodel import Session

from demo.seed import DEMO_PASSWORD
from services.accounts import service as accounts
from services.runtime import Runtime
from tests.web.conftest import FATHER, MOTHER, NEWBORN_ANSWERS
from web.app import create_app
from web.deps import COOKIE

IDENTITIES = ("anonymous", MOTHER, "police01", "police-system", "admin", "operator")
BROWSERS = ("anonymous", MOTHER, "police01", "admin", "operator")  # who opens the pages
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
GENERATION = {"max-examples": 15, "deterministic": True, "database": "none"}

EVERY_PHASE = schemathesis.Config.from_dict(
    {
        "generation": {**GENERATION, "mode": "all"},  # valid and invalid data
        "phases": {
            "examples": {"enabled": True},
            # Boundary values of every parameter (e.g. the largest integers), valid ones only:
            # invalid data comes from the fuzzing phase, at a fraction of the cost.
            "coverage": {"enabled": True, "generation": {"mode": "positive"}},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
    }
)
# The pages: no examples (their forms have none), boundary values, and a few random requests.
PAGE_PHASES = schemathesis.Config.from_dict(
    {
        "generation": {**GENERATION, "max-examples": 4, "mode": "all"},
        "phases": {
            "examples": {"enabled": False},
            "coverage": {"enabled": True, "generation": {"mode": "positive"}},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
    }
)
BOUNDARIES = schemathesis.Config.from_dict(
    {
        "generation": {**GENERATION, "mode": "positive"},
        "phases": {
            "examples": {"enabled": False},
            "coverage": {"enabled": True, "unexpected-methods": []},
            "fuzzing": {"enabled": False},
            "stateful": {"enabled": False},
        },
    }
)


def _openapi_document() -> dict:
    """The API's OpenAPI document. Building it touches no database, so a stand-in runtime does;
    the requests go to each test's own application (`app` fixture, a fresh database)."""
    return create_app(cast(Runtime, SimpleNamespace())).openapi()


# Loaded at import time (schemathesis's lazy `from_fixture` does not support pytest 9), so every
# API operation is its own test item with its own fresh database.
DOCUMENT = _openapi_document()
every_phase = schemathesis.openapi.from_dict(DOCUMENT, config=EVERY_PHASE).include(
    path_regex="^/api/v1/"
)
page_phases = schemathesis.openapi.from_dict(DOCUMENT, config=PAGE_PHASES).exclude(
    path_regex="^/api/"
)
boundaries = schemathesis.openapi.from_dict(DOCUMENT, config=BOUNDARIES)


@pytest.fixture
def tokens(rt, app, user_of):
    """A bearer token per identity, and a case with open tasks for generated ids to land on.

    The sessions are opened directly, as `POST /api/v1/login` does: each login costs an argon2
    verification, too slow to repeat for every operation (the login itself is fuzzed too)."""
    found = {}
    with Session(rt.db) as session:
        for who in IDENTITIES[1:]:
            found[who], _row = accounts.open_session(session, user=user_of(who), hours=8)
        session.commit()
    with TestClient(app) as client:
        body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
        headers = {"Authorization": f"Bearer {found[MOTHER]}"}
        response = client.post("/api/v1/cases", json=body, headers=headers)
        assert response.status_code == 201, response.text
    return found


@pytest.fixture
def browsers(rt, user_of, tokens):
    """A browser's headers per identity: its session cookie and the session's CSRF token (the
    header a page's script sends; a form sends the same token as a field)."""
    found = {}
    with Session(rt.db) as session:
        for who in BROWSERS[1:]:
            token, row = accounts.open_session(session, user=user_of(who), hours=8)
            found[who] = {"Cookie": f"{COOKIE}={token}", "X-CSRF-Token": row.csrf_token}
        session.commit()
    return found


def _send_as_everyone(case, app, signed_in: dict[str, dict[str, str]]) -> None:
    """Send `case` as each caller (`signed_in`: each one's headers, besides the anonymous one)
    and check the answer against the document."""
    # The same for every caller, so sent once: an operation that takes no Authorization
    # (signing in, verifying a certificate), and a method the path does not have (the coverage
    # phase tries those: 405, which no operation lists).
    once = case.operation.get_parameter("authorization", "header") is None
    unexpected = case.method.upper() != case.operation.method.upper()
    for who in ["anonymous"] if once or unexpected else ["anonymous", *signed_in]:
        headers = None
        if who != "anonymous":
            # Replace a generated Authorization header (the document lists it as a parameter).
            for key in [k for k in (case.headers or {}) if k.lower() == "authorization"]:
                del case.headers[key]
            headers = signed_in[who]
        response = case.call(headers=headers, app=app)
        where = f"{who}: {case.as_curl_command(headers=headers)}"
        if unexpected:
            case.validate_response(response, checks=[not_a_server_error], headers=headers)
            assert response.status_code == 405, where
            continue
        case.validate_response(response, checks=CHECKS, headers=headers)
        if response.status_code >= 400 and "json" in response.headers.get("content-type", ""):
            assert "detail" in response.json(), where


def _bearers(tokens) -> dict[str, dict[str, str]]:
    return {who: {"Authorization": f"Bearer {token}"} for who, token in tokens.items()}


def _callers(case, tokens, browsers) -> dict[str, dict[str, str]]:
    """The signed-in callers of the case's operation: bearer clients of the API, browsers of a
    page."""
    return _bearers(tokens) if case.operation.path.startswith("/api/") else browsers


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@every_phase.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_api_never_fails_and_answers_as_documented(case, app, tokens):
    _send_as_everyone(case, app, _bearers(tokens))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@page_phases.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_pages_never_fail_and_answer_as_documented(case, app, browsers):
    _send_as_everyone(case, app, browsers)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@boundaries.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_boundary_values_never_fail_on_postgresql(case, app, tokens, browsers):
    _send_as_everyone(case, app, _callers(case, tokens, browsers))


# Regressions found by fuzzing. Numbers too large for the database's INTEGER columns (64 bits in
# SQLite, 32 in PostgreSQL) crashed the driver (OverflowError, NumericValueOutOfRange): 500.
TOO_LARGE = [
    ("get", "/api/v1/cases/{n}", MOTHER, None),
    ("get", "/api/v1/cases?offset={n}", MOTHER, None),
    ("get", "/api/v1/tasks?offset={n}", "police01", None),
    ("post", "/api/v1/tasks/{n}/complete", "police01", {"decision": "approved"}),
    ("post", "/api/v1/tasks/{n}/claim", "police01", None),
    ("post", "/api/v1/tasks/{n}/release", "police01", None),
    ("post", "/api/v1/tasks/1/reassign", "police-lead", {"to_user_id": "{n}"}),
    ("get", "/api/v1/queue?page={n}", "police01", None),
    (
        "post",
        "/api/v1/external-tasks/{n}/complete",
        "police-system",
        {"worker_id": "w", "decision": "approved"},
    ),
    (
        "post",
        "/api/v1/external-tasks/{n}/failure",
        "police-system",
        {"worker_id": "w", "error_message": "down", "retries": 1},
    ),
    ("post", "/api/v1/external-tasks/{n}/resolve", "police01", None),
]
# A NUL character in text PostgreSQL stores or compares crashed the driver (DataError): 500.
WITH_NUL = [
    ("get", "/api/v1/queue?matter=new%00born", "police01", None),
    ("get", "/api/v1/queue?item=a%00b", "police01", None),
    ("post", "/api/v1/external-tasks/fetch-and-lock", "health-system", {"worker_id": "w\x00"}),
    (
        "post",
        "/api/v1/tasks/{task}/complete",
        "police01",
        {"decision": "approved", "comment": "\x00"},
    ),
    (
        "post",
        "/api/v1/external-tasks/{task}/complete",
        "police-system",
        {"worker_id": "w\x00", "decision": "approved", "comment": "ok\x00"},
    ),
    (
        "post",
        "/api/v1/external-tasks/{task}/failure",
        "police-system",
        {"worker_id": "w", "error_message": "down\x00", "retries": 1},
    ),
]


def _headers(client: TestClient, usernames) -> dict[str, dict[str, str]]:
    headers = {}
    for who in set(usernames):
        body = {"username": who, "password": DEMO_PASSWORD}
        token = client.post("/api/v1/login", json=body).json()["token"]
        headers[who] = {"Authorization": f"Bearer {token}"}
    return headers


def test_numbers_beyond_the_database_are_invalid_input_not_a_crash(app):
    with TestClient(app, raise_server_exceptions=False) as client:
        headers = _headers(client, [who for _method, _url, who, _body in TOO_LARGE])
        for n, (method, url, who, body) in itertools.product(
            (2**31, 2**63, -(2**63) - 1), TOO_LARGE
        ):
            if body is not None:
                body = {key: n if value == "{n}" else value for key, value in body.items()}
            response = client.request(
                method.upper(), url.format(n=n), json=body, headers=headers[who]
            )
            # Lists clamp a negative offset or page to the first page, as before.
            clamped = n < 0 and ("offset=" in url or "page=" in url)
            expected = 200 if clamped else 422
            assert response.status_code == expected, (method, url, response.text[:200])


def test_nul_characters_are_invalid_input_not_a_crash(app):
    with TestClient(app, raise_server_exceptions=False) as client:
        headers = _headers(client, [FATHER] + [who for _method, _url, who, _body in WITH_NUL])
        body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
        assert client.post("/api/v1/cases", json=body, headers=headers[FATHER]).status_code == 201
        task = client.get("/api/v1/tasks", headers=headers["police01"]).json()[0]["id"]
        for method, url, who, body in WITH_NUL:
            response = client.request(
                method.upper(), url.format(task=task), json=body, headers=headers[who]
            )
            assert response.status_code == 422, (method, url, response.text[:200])
        open_tasks = client.get("/api/v1/tasks", headers=headers["police01"]).json()
        assert task in [t["id"] for t in open_tasks]  # nothing was decided on the way


def test_the_api_documents_its_error_answers(app):
    with TestClient(app) as client:
        paths = client.get("/openapi.json").json()["paths"]
    responses = paths["/api/v1/tasks/{task_id}/complete"]["post"]["responses"]
    assert {"200", "401", "403", "404", "409", "422"} <= responses.keys()
    assert responses["422"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/InvalidInputPublic"
    }
