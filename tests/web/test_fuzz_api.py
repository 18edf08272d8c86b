"""Property-based fuzzing of the JSON API with schemathesis: no request, however malformed,
makes the server fail (5xx), for any kind of caller, and every answer is one the API documents.

Every operation under /api/v1/ is generated from /openapi.json, and each generated request is sent
as an anonymous caller (with whatever Authorization header was generated), a citizen, a clerk, a
department's system and the administrator. Generation is derandomized: a run is repeatable.

On SQLite every phase runs: the schema's examples, boundary values of each parameter, then
random valid and invalid data. On PostgreSQL only the boundary values run (PostgreSQL refuses
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
    response_schema_conformance,
)
from sqlmodel import Session

from demo.seed import DEMO_PASSWORD
from services.accounts import service as accounts
from services.runtime import Runtime
from tests.web.conftest import FATHER, MOTHER, NEWBORN_ANSWERS
from web.app import create_app

IDENTITIES = ("anonymous", MOTHER, "police01", "police-system", "admin")
# Statuses the error handler returns for domain errors (services/errors.py, web/deps.py) and
# FastAPI for request validation: any operation may answer with these besides its documented ones.
ERROR_STATUSES = {400, 401, 403, 404, 409, 422}
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
boundaries = schemathesis.openapi.from_dict(DOCUMENT, config=BOUNDARIES).include(
    path_regex="^/api/v1/"
)


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


def _send_as_everyone(case, app, tokens) -> None:
    documented = {int(code) for code in case.operation.definition.raw.get("responses", {})}
    # The same for every caller, so sent once: an operation that takes no Authorization
    # (signing in, verifying a certificate), and a method the path does not have (the coverage
    # phase tries those: 405).
    once = case.operation.get_parameter("authorization", "header") is None
    if case.method.upper() != case.operation.method.upper():
        documented, once = {405}, True
    for who in IDENTITIES[:1] if once else IDENTITIES:
        headers = None
        if who != "anonymous":
            # Replace a generated Authorization header (the API documents it as a parameter).
            for key in [k for k in (case.headers or {}) if k.lower() == "authorization"]:
                del case.headers[key]
            headers = {"Authorization": f"Bearer {tokens[who]}"}
        response = case.call(headers=headers, app=app)
        where = f"{who}: {case.as_curl_command(headers=headers)}"
        case.validate_response(
            response,
            checks=[not_a_server_error, content_type_conformance, response_schema_conformance],
            headers=headers,
        )
        assert response.status_code in documented | ERROR_STATUSES, where
        if response.status_code >= 400:
            assert "detail" in response.json(), where


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@every_phase.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_api_never_fails_and_answers_as_documented(case, app, tokens):
    _send_as_everyone(case, app, tokens)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
@boundaries.parametrize()
@settings(suppress_health_check=list(HealthCheck), deadline=None)
def test_boundary_values_never_fail_on_postgresql(case, app, tokens):
    _send_as_everyone(case, app, tokens)


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
