"""Structured logs: one JSON line per request with its ids, route template and status, the case
it touched, and no personal data in any log line; request ids and trace contexts from outside
are taken only when well-formed."""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from demo.exchange_server import create_exchange_app
from demo.seed import DEMO_PASSWORD, seed_demo
from services.config import Settings, WebhookTarget, get_settings
from services.departments.webhooks import deliver_due
from services.observability import JsonFormatter, logging_config, parse_traceparent
from services.registries.embedded import EmbeddedRegistry
from services.runtime import build_runtime
from tests.live import free_port, serve
from tests.web.conftest import MOTHER, NEWBORN_ANSWERS, NEWBORN_DEPARTMENTS, Browser, post_login
from web import cli
from web.app import create_app

DB_PASSWORD = "db-pass-Zq81"  # PostgreSQL here trusts local connections: any password works
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


class Capture(logging.Handler):
    """Every record as the JSON formatter writes it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """The log as `onething serve` configures it (levels per logger), captured as JSON lines."""
    config = logging_config("json")
    capture = Capture()
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in config["loggers"]}
    root_level = root.level
    root.addHandler(capture)
    root.setLevel(config["root"]["level"])
    for name, options in config["loggers"].items():
        logging.getLogger(name).setLevel(options["level"])
    yield capture.lines
    root.removeHandler(capture)
    root.setLevel(root_level)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _requests(lines: list[str]) -> list[dict]:
    found = [json.loads(line) for line in lines]
    return [line for line in found if line["logger"] == "onething.request"]


def _with_password(url: str) -> str:
    """The PostgreSQL URL with a password in it (SQLite has none to give)."""
    return url.replace("postgres@", f"postgres:{DB_PASSWORD}@", 1)


@pytest.fixture
def app_with_db_password(database_url, registry_path, tmp_path, rt):
    """The app on the test database, reached through a URL that carries a password."""
    settings = Settings(
        data_dir=tmp_path / "data", database_url=_with_password(database_url), deadline_interval=0
    )
    runtime = build_runtime(settings, registry=rt.registry)
    yield create_app(runtime)
    runtime.db.dispose()


def test_a_newborn_case_is_logged_one_line_per_request_without_personal_data(
    app_with_db_password, log_lines
):
    responses = []
    clients = []

    def client_for(username: str) -> Browser:
        client = TestClient(app_with_db_password, follow_redirects=False)
        client.event_hooks["response"].append(responses.append)
        clients.append(client)
        assert post_login(client, username).status_code == 303
        browser = Browser(client)
        browser.get("/")
        return browser

    mother = client_for(MOTHER)
    mother.consent("newborn")
    mother.get("/matters/newborn/apply")
    bad = {**NEWBORN_ANSWERS, "applicant_phone": "12345"}
    assert mother.post("/matters/newborn/apply", data=bad).status_code == 422
    submitted = mother.post(
        "/matters/newborn/apply", data=NEWBORN_ANSWERS, headers={"traceparent": TRACEPARENT}
    )
    assert submitted.status_code == 303
    case_path = submitted.headers["location"]
    decided = 0
    for department in NEWBORN_DEPARTMENTS:
        clerk = client_for(f"{department}01")
        for task in clerk.client.get("/api/v1/tasks").json():
            clerk.get(f"/clerk/items/{task['id']}")
            done = clerk.post(f"/clerk/items/{task['id']}/decision", data={"decision": "approved"})
            assert done.status_code == 303
            decided += 1
    assert 'data-status="completed"' in mother.get(case_path).text
    for client in clients:
        client.close()

    text = "\n".join(log_lines)
    for secret in (
        MOTHER,  # her ID number is also her username
        "王芳",
        NEWBORN_ANSWERS["child_name"],
        NEWBORN_ANSWERS["applicant_phone"],
        NEWBORN_ANSWERS["bank_card_number"],
        "漕溪北路",
        "health01",
        DEMO_PASSWORD,
        DB_PASSWORD,
    ):
        assert secret not in text, secret
    lines = _requests(log_lines)
    # each request: exactly one line, found by the id its answer gave
    given = [response.headers["x-request-id"] for response in responses]
    assert len(given) == len(set(given)) == len(lines)
    assert sorted(line["request_id"] for line in lines) == sorted(given)
    for line in lines:  # route templates, never raw paths with their ids
        assert len(line["trace_id"]) == 32 and line["method"] in ("GET", "POST")
        assert line["route"].startswith("/") and not re.search(r"/\d", line["route"])
        assert isinstance(line["status"], int) and line["duration_ms"] >= 0
        assert line["time"].endswith("Z")
    submission = next(line for line in lines if line["trace_id"] == TRACE_ID)
    assert submission["route"] == "/matters/{code}/apply" and submission["status"] == 303
    assert submission["case"].startswith("YJS") and submission["role"] == "citizen"
    views = [line for line in lines if line["route"] == "/clerk/items/{item_id}"]
    assert len(views) == decided and {line["case"] for line in views} == {submission["case"]}
    decisions = [line for line in lines if line["route"] == "/clerk/items/{item_id}/decision"]
    assert len(decisions) == decided > 1
    assert {line["case"] for line in decisions} == {submission["case"]}
    assert {line["role"] for line in decisions} == {"clerk"}


def test_a_well_formed_request_id_is_kept_and_a_malformed_one_replaced(app):
    with TestClient(app) as client:
        for good in ("nginx-3f2a.9_b:1", "0" * 32, "x" * 64):
            kept = client.get("/login", headers={"X-Request-Id": good})
            assert kept.headers["x-request-id"] == good
        for bad in ("has space", "x" * 65, "<script>", "a/b", "a\x7fb", 'a"b', ""):
            given = client.get("/login", headers={"X-Request-Id": bad}).headers["x-request-id"]
            assert given != bad and len(given) == 16 and int(given, 16) >= 0
        # an error answer carries it too
        assert "x-request-id" in client.get("/no/such/page").headers


@pytest.mark.parametrize(
    "header",
    [
        f"01-{TRACE_ID}-00f067aa0ba902b7-01",  # only version 00 is understood
        f"ff-{TRACE_ID}-00f067aa0ba902b7-01",
        f"00-{TRACE_ID.upper()}-00f067aa0ba902b7-01",  # upper-case hex
        f"00-{'0' * 32}-00f067aa0ba902b7-01",  # all-zero trace id
        f"00-{TRACE_ID}-{'0' * 16}-01",  # all-zero parent id
        f"00-{TRACE_ID[:-1]}-00f067aa0ba902b7-01",
        f"00-{TRACE_ID}-00f067aa0ba902b7-1",
        f"00-{TRACE_ID}-00f067aa0ba902b7-01-extra",
        f" 00-{TRACE_ID}-00f067aa0ba902b7-01",
        f"00_{TRACE_ID}_00f067aa0ba902b7_01",
        "garbage",
    ],
)
def test_a_malformed_traceparent_is_ignored_and_a_new_trace_started(app, log_lines, header):
    with TestClient(app) as client:
        client.get("/login", headers={"traceparent": header})
    (line,) = _requests(log_lines)
    assert line["trace_id"] != TRACE_ID and len(line["trace_id"]) == 32
    assert line["trace_id"] != "0" * 32


def test_a_valid_traceparent_is_continued_with_a_span_of_our_own(app, log_lines):
    with TestClient(app) as client:
        client.get("/login", headers={"traceparent": TRACEPARENT})
    (line,) = _requests(log_lines)
    assert line["trace_id"] == TRACE_ID
    assert len(line["span_id"]) == 16 and line["span_id"] != "00f067aa0ba902b7"
    assert line["route"] == "/login" and line["status"] == 200 and "role" not in line


# --- one trace through the whole case ---------------------------------------------------------


class TraceRecorder:
    """ASGI wrapper: the `traceparent` of every registry lookup that reaches `app`."""

    def __init__(self, app) -> None:
        self.app = app
        self.seen: list[str | None] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            headers = dict(scope["headers"])
            value = headers.get(b"traceparent")
            self.seen.append(value.decode() if value else None)
        await self.app(scope, receive, send)


def _trace_of(traceparent: str | None) -> str | None:
    parsed = parse_traceparent(traceparent)
    return parsed[0] if parsed else None


def test_the_submissions_trace_follows_the_case_to_registries_tasks_and_webhooks(
    database_url, registry_path, tmp_path, log_lines
):
    exchange = TraceRecorder(
        create_exchange_app(EmbeddedRegistry(registry_path), clients={"onething": "s3cret"})
    )
    hook = FastAPI()
    pushed: list[str | None] = []

    @hook.post("/hook")
    def receive_push(request: Request):
        pushed.append(request.headers.get("traceparent"))
        return {"ok": True}

    with serve(exchange) as exchange_url, serve(hook) as hook_url:
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=database_url,
            exchange_url=exchange_url,
            exchange_client_id="onething",
            exchange_client_secret="s3cret",
            deadline_interval=0,
            webhooks={"police": WebhookTarget(url=f"{hook_url}/hook", secret="hook-secret")},
        )
        rt = build_runtime(settings)
        seed_demo(rt)
        app = create_app(rt)
        # without its lifespan: the app's own webhook sender stays off, the test sends below
        with contextlib.closing(TestClient(app)) as client:
            mother = _bearer(client, MOTHER)
            created = client.post(
                "/api/v1/cases",
                json={"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True},
                headers={**mother, "traceparent": TRACEPARENT},
            )
            assert created.status_code == 201, created.text
            number = created.json()["number"]
            # the registry lookups made for the submission: each a span of its trace
            lookups = exchange.seen
            assert len(lookups) >= 4
            assert {_trace_of(value) for value in lookups} == {TRACE_ID}
            spans = [parse_traceparent(value)[1] for value in lookups]
            assert len(set(spans)) == len(spans) and "00f067aa0ba902b7" not in spans
            # the department's system gets the case's trace with the task ...
            police = _bearer(client, "police-system")
            tasks = client.post(
                "/api/v1/external-tasks/fetch-and-lock",
                json={"worker_id": "police-worker-1"},
                headers=police,
            ).json()
            (task,) = tasks
            assert task["case_number"] == number and _trace_of(task["traceparent"]) == TRACE_ID
            # ... and its completing call, sent under that trace, is logged under it
            theirs = f"00-{TRACE_ID}-b7ad6b7169203331-01"
            done = client.post(
                f"/api/v1/external-tasks/{task['id']}/complete",
                json={"worker_id": "police-worker-1", "decision": "approved"},
                headers={**police, "traceparent": theirs},
            )
            assert done.status_code == 200, done.text
        # the push to the department carries it too, sent later by the background sender
        with Session(rt.db) as session, httpx.Client() as sender:
            assert deliver_due(session, targets=settings.webhooks, client=sender) == 1
        rt.registry.close()
    rt.db.dispose()
    (push,) = pushed
    assert _trace_of(push) == TRACE_ID
    lines = _requests(log_lines)
    completing = next(line for line in lines if line["route"].endswith("/complete"))
    assert completing["trace_id"] == TRACE_ID and completing["case"] == number
    assert completing["role"] == "system"
    submission = next(line for line in lines if line["route"] == "/api/v1/cases")
    assert submission["trace_id"] == TRACE_ID and submission["case"] == number


def _bearer(client: TestClient, username: str) -> dict[str, str]:
    login = {"username": username, "password": DEMO_PASSWORD}
    token = client.post("/api/v1/login", json=login).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def test_the_db_command_never_prints_the_database_password(
    database_url, tmp_path, monkeypatch, capsys
):
    if not database_url.startswith("postgresql"):
        pytest.skip("an SQLite URL has no password")
    monkeypatch.setenv("ONETHING_DATA_DIR", str(tmp_path))
    url = _with_password(database_url)
    # reachable (an upgrade and a check) and unreachable (a port nothing listens on)
    unreachable = url.replace(":5432/", f":{free_port()}/", 1)
    for target, command in ((url, "upgrade"), (url, "current"), (unreachable, "current")):
        monkeypatch.setenv("ONETHING_DATABASE_URL", target)
        get_settings.cache_clear()
        try:
            cli.main(["db", command])
        finally:
            get_settings.cache_clear()
        printed = capsys.readouterr()
        assert "postgres:***@" in printed.out and DB_PASSWORD not in printed.out + printed.err


def test_a_logged_database_error_quotes_neither_the_values_nor_the_row(log_lines):
    """PostgreSQL's DETAIL line names the row's values; the engine hides the parameters."""
    detail = f"DETAIL:  Key (subject_key)=({MOTHER}) already exists."
    try:
        raise ValueError(f"duplicate key value violates unique constraint\n{detail}")
    except ValueError:
        logging.getLogger("onething.test").exception("a round failed")
    (line,) = [json.loads(line) for line in log_lines]
    assert line["message"] == "a round failed" and "duplicate key" in line["exception"]
    assert MOTHER not in line["exception"]


def test_a_failed_statements_error_does_not_carry_its_parameters(rt):
    with rt.db.connect() as connection, pytest.raises(DBAPIError) as failed:
        connection.execute(text("SELECT * FROM no_such_table WHERE x = :v"), {"v": MOTHER})
    assert "no_such_table" in str(failed.value) and MOTHER not in str(failed.value)
