"""Database trouble, request by request (tests/web/test_db_restart.py restarts a real cluster):
which failures mean "the database is unavailable" (services/db_outage.py), how a request
answers one (web/db_errors.py), and that an `Idempotency-Key` is given back or kept as the
operation's own transaction says (services/idempotency.py)."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import errors as pg_errors
from sqlalchemy import exc as sa_exc
from sqlmodel import Session, select

from demo.seed import DEMO_PASSWORD
from services import db_outage
from services.cases import submission
from services.cases.models import Case, IdempotentRequest
from services.db import make_engine
from tests.web.conftest import NEWBORN_ANSWERS
from web import db_errors


def _wrapped(driver_error: Exception, *, invalidated: bool = False) -> sa_exc.DBAPIError:
    """A driver's error as SQLAlchemy raises it."""
    return sa_exc.DBAPIError.instance(
        "SELECT 1", {}, driver_error, psycopg.Error, connection_invalidated=invalidated
    )


@pytest.mark.parametrize(
    "failure",
    [
        psycopg.OperationalError("connection failed: Connection refused"),
        pg_errors.AdminShutdown("terminating connection due to administrator command"),
        pg_errors.CannotConnectNow("the database system is starting up"),
        pg_errors.TooManyConnections("sorry, too many clients already"),
        pg_errors.ReadOnlySqlTransaction("cannot execute UPDATE in a read-only transaction"),
        psycopg.InterfaceError("the connection is closed"),
        _wrapped(psycopg.OperationalError("server closed the connection unexpectedly")),
        _wrapped(psycopg.DatabaseError("whatever it says"), invalidated=True),
        sa_exc.TimeoutError("QueuePool limit of size 10 overflow 20 reached"),
    ],
    ids=repr,
)
def test_an_outage_is_told_by_allow_list(failure):
    assert db_outage.unavailable(failure)
    try:  # raised from it (a service that wraps the failure): still an outage
        raise RuntimeError("wrapped") from failure
    except RuntimeError as wrapped:
        assert db_outage.unavailable(wrapped)


@pytest.mark.parametrize(
    "failure",
    [
        pg_errors.UniqueViolation("duplicate key value violates unique constraint"),
        pg_errors.SerializationFailure("could not serialize access"),
        pg_errors.QueryCanceled("canceling statement due to statement timeout"),
        pg_errors.SyntaxError("syntax error at or near"),
        _wrapped(pg_errors.DeadlockDetected("deadlock detected")),
        sa_exc.IntegrityError("INSERT", {}, Exception("sqlite: UNIQUE constraint failed")),
        sa_exc.OperationalError("SELECT 1", {}, Exception("database is locked")),
        RuntimeError("not a database error"),
    ],
    ids=repr,
)
def test_any_other_failure_is_not_an_outage(failure):
    assert not db_outage.unavailable(failure)


def _outage(*_args, **_kwargs):
    raise _wrapped(psycopg.OperationalError("server closed the connection unexpectedly"))


def test_a_request_meeting_an_outage_answers_503_with_retry_after(app, monkeypatch):
    monkeypatch.setattr("web.api.matters.published_matters", _outage)
    monkeypatch.setattr("web.routes.citizen.published_matters", _outage)
    with TestClient(app) as client:
        api = client.get("/api/v1/matters")
        assert api.status_code == 503
        assert api.headers["retry-after"] == str(db_errors.RETRY_SECONDS)
        assert api.headers["content-type"].startswith("application/problem+json")
        problem = api.json()
        assert problem["code"] == "database_unavailable"
        assert problem["type"] == "urn:onething:problem:database_unavailable"
        assert "系统繁忙" in problem["detail"] and "try again" in problem["detail_en"]
        assert "server closed" not in api.text  # nothing of the failure itself
        page = client.get("/")
        assert page.status_code == 503
        assert page.headers["retry-after"] == str(db_errors.RETRY_SECONDS)
        assert page.headers["content-type"].startswith("text/html")
        assert "系统繁忙" in page.text


def test_another_database_error_stays_a_500(app, monkeypatch):
    def broken(*_args, **_kwargs):
        raise _wrapped(pg_errors.SyntaxError("syntax error at or near"))

    monkeypatch.setattr("web.api.matters.published_matters", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/api/v1/matters")
    assert answer.status_code == 500
    assert "retry-after" not in answer.headers


@pytest.fixture
def applicant(app, newborn_parents):
    """A mother's API client (bearer token) and her username."""
    mother = newborn_parents(1)[0]
    with TestClient(app) as client:
        body = {"username": mother, "password": DEMO_PASSWORD}
        token = client.post("/api/v1/login", json=body).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client, mother


APPLICATION = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}


def _cases_of(rt, mother: str) -> int:
    with Session(rt.db) as session:
        return len(session.exec(select(Case).where(Case.applicant_id_number == mother)).all())


def test_a_503_before_the_commit_gives_the_key_back_and_the_retry_is_done_once(
    rt, applicant, monkeypatch
):
    client, mother = applicant
    key = {"Idempotency-Key": "outage-before-commit"}
    with monkeypatch.context() as patched:
        patched.setattr(submission, "submit_application", _outage)
        assert client.post("/api/v1/cases", json=APPLICATION, headers=key).status_code == 503
    assert _cases_of(rt, mother) == 0
    retried = client.post("/api/v1/cases", json=APPLICATION, headers=key)
    assert retried.status_code == 201, retried.text
    again = client.post("/api/v1/cases", json=APPLICATION, headers=key)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert _cases_of(rt, mother) == 1


def test_a_503_after_the_commit_keeps_the_key_and_the_retry_is_told_it_was_done(
    rt, applicant, monkeypatch
):
    """The connection broke after the server committed: the claim, marked by the operation's
    own transaction, stays; the retry does not apply twice."""
    client, mother = applicant
    key = {"Idempotency-Key": "outage-after-commit"}
    submit = submission.submit_application

    def committed_then_lost(session, *args, **kwargs):
        submit(session, *args, **kwargs)
        session.commit()
        _outage()

    with monkeypatch.context() as patched:
        patched.setattr(submission, "submit_application", committed_then_lost)
        assert client.post("/api/v1/cases", json=APPLICATION, headers=key).status_code == 503
    assert _cases_of(rt, mother) == 1
    retried = client.post("/api/v1/cases", json=APPLICATION, headers=key)
    assert retried.status_code == 409
    assert retried.json()["code"] == "idempotency_key_applied"
    assert _cases_of(rt, mother) == 1


def test_a_refusal_still_gives_the_key_back(rt, applicant):
    client, _mother = applicant
    key = {"Idempotency-Key": "refused-first"}
    refused = client.post("/api/v1/cases", json={**APPLICATION, "matter": "nope"}, headers=key)
    assert 400 <= refused.status_code < 500
    with Session(rt.db) as session:
        assert session.exec(select(IdempotentRequest)).all() == []


def test_a_connection_answering_read_only_is_not_handed_out_again(database_url):
    """A write refused as read-only (the address now leads to a standby) is an outage: the
    connection is closed, and the next one is a new one (here: to the same, writable server)."""
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's read-only transactions")
    db = make_engine(database_url)
    try:
        with db.connect() as connection:
            connection.exec_driver_sql("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
            connection.commit()
            with pytest.raises(sa_exc.DBAPIError) as refused:
                connection.exec_driver_sql("CREATE TEMP TABLE written (x int)")
            assert refused.value.connection_invalidated and db_outage.unavailable(refused.value)
        with db.connect() as connection:
            assert connection.exec_driver_sql("SHOW transaction_read_only").scalar() == "off"
    finally:
        db.dispose()
