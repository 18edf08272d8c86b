"""Prometheus metrics at /metrics: the shared figures counted from the database, the per-process
latencies, access by the operator's allow-list and token, and no personal data."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlmodel import Session, select

from engine import clock
from services import metrics
from services.cases.models import Case, CaseItem
from services.config import PROJECT_DIR, WebhookTarget
from services.registries.http import HttpRegistry
from services.registries.records import RegistryUnavailable
from tests.web.conftest import FATHER, MOTHER, NEWBORN_ANSWERS, NEWBORN_DEPARTMENTS
from tests.web.test_newborn import submit_newborn
from web.app import create_app
from web.cli import _metrics_directory

SCRAPER = ("127.0.0.1", 45000)


def scrape(app, client=SCRAPER, **kwargs) -> httpx.Response:
    scraper = TestClient(app, client=client)  # a fresh client (no cookie), no lifespan (workers)
    try:
        return scraper.get("/metrics", **kwargs)
    finally:
        scraper.close()


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of an exposition, by name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def lookups(found: dict, registry: str, outcome: str = "found") -> float:
    name = "onething_registry_lookup_duration_seconds_count"
    return value(found, name, registry=registry, source="embedded", outcome=outcome) or 0.0


def test_scrape_counts_cases_tasks_timers_outbox_and_registry_lookups(app, rt, browser):
    before = samples(scrape(app).text)
    assert value(before, "onething_metrics_database_up") == 1.0
    assert value(before, "onething_cases_started_total", matter="newborn") is None
    assert value(before, "onething_webhook_outbox_oldest_seconds") == 0.0
    assert value(before, "onething_timer_lag_seconds") == 0.0

    rt.settings.webhooks = {"police": WebhookTarget(url="http://127.0.0.1:9/hook", secret="s")}
    _citizen, case_id = submit_newborn(browser)
    health = browser("health01")
    task = health.client.get("/api/v1/tasks").json()[0]
    health.get(f"/clerk/items/{task['id']}")  # the page, for its form's CSRF token
    decided = health.post(f"/clerk/items/{task['id']}/decision", data={"decision": "approved"})
    assert decided.status_code == 303

    response = scrape(app)
    assert response.status_code == 200
    assert response.headers["content-type"] == metrics.CONTENT_TYPE
    found = samples(response.text)
    assert value(found, "onething_cases_started_total", matter="newborn") == 1.0
    assert value(found, "onething_cases_open", matter="newborn", status="processing") == 1.0
    assert value(found, "onething_cases_finished_total", matter="newborn") == 0.0
    with Session(rt.db) as session:
        items = session.exec(select(CaseItem).where(CaseItem.case_id == case_id)).all()
    for department in {i.department for i in items}:
        expected = sum(1 for i in items if i.department == department and i.status == "processing")
        shown = value(found, "onething_tasks_open", department=department, status="processing")
        assert (shown or 0.0) == expected, department
        assert value(
            found, "onething_tasks_overdue", department=department, status="processing"
        ) in (
            0.0,
            None,
        )
    assert value(found, "onething_tasks_open", department="health", status="processing") is None
    # The police's task went into the outbox (no sender runs here): one pending, nothing else.
    assert value(found, "onething_webhook_outbox_pending", department="police") == 1.0
    assert value(found, "onething_webhook_outbox_pending", department="cdc") is None
    # The submission read the population, birth and marriage registries, each lookup timed.
    for registry in ("population", "birth", "marriage"):
        assert lookups(found, registry) > lookups(before, registry), registry
    assert value(found, "onething_timer_lag_seconds") == 0.0  # no deadline is due yet

    clock.advance(timedelta(days=40))  # past every item's deadline, and no scheduler runs
    later = samples(scrape(app).text)
    assert value(later, "onething_timer_lag_seconds") > 0.0
    assert value(later, "onething_timer_jobs_due") >= 1.0
    assert value(later, "onething_tasks_overdue", department="police", status="processing") == 1.0
    assert (
        value(later, "onething_webhook_outbox_oldest_seconds") >= timedelta(days=40).total_seconds()
    )


def test_a_case_every_department_decided_counts_as_finished(app, browser):
    _citizen, case_id = submit_newborn(browser)
    submit_newborn(browser, FATHER)  # still open
    for department in NEWBORN_DEPARTMENTS:
        clerk = browser(f"{department}01")
        for task in clerk.client.get("/api/v1/tasks").json():
            if task["case_id"] == case_id:
                clerk.get(f"/clerk/items/{task['id']}")
                decision = {"decision": "approved"}
                done = clerk.post(f"/clerk/items/{task['id']}/decision", data=decision)
                assert done.status_code == 303
    found = samples(scrape(app).text)
    assert value(found, "onething_cases_started_total", matter="newborn") == 2.0
    assert value(found, "onething_cases_finished_total", matter="newborn") == 1.0
    assert value(found, "onething_cases_open", matter="newborn", status="processing") == 1.0


def test_exposition_names_no_person_case_or_raw_path(app, rt, browser):
    _citizen, case_id = submit_newborn(browser)
    with Session(rt.db) as session:
        case = session.get(Case, case_id)
    text = scrape(app).text
    assert "onething_cases_started_total" in text
    personal = [MOTHER, case.number, case.applicant_name, NEWBORN_ANSWERS["child_name"]]
    personal += [NEWBORN_ANSWERS["applicant_phone"], NEWBORN_ANSWERS["bank_card_number"]]
    for found in personal:
        assert found not in text
    assert f"/cases/{case_id}" not in text and MOTHER[-4:] not in text
    # Requests are counted under their route's template (the request observer, web/observe.py).
    found = samples(text)
    count = "onething_http_request_duration_seconds_count"
    labels = {"method": "POST", "route": "/matters/{code}/apply", "status_class": "3xx"}
    assert value(found, count, **labels) >= 1.0


def test_scrape_from_an_address_not_allowed_is_refused(app):
    for client in (("203.0.113.7", 40000), ("testclient", 50000), ("10.0.0.2", 40000)):
        response = scrape(app, client=client)
        assert response.status_code == 403, client
        assert "onething_" not in response.text
    assert scrape(app, client=("::1", 40000)).status_code == 200


def test_scraper_behind_a_trusted_proxy_is_named_by_the_proxy_only(rt):
    rt.settings.trusted_proxies = [ip_network("10.0.0.2/32")]
    rt.settings.metrics_allow = [ip_network("192.0.2.0/24")]
    app = create_app(rt)
    proxy = ("10.0.0.2", 40000)
    assert scrape(app, client=proxy, headers={"X-Forwarded-For": "192.0.2.9"}).status_code == 200
    assert scrape(app, client=proxy, headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 403
    untrusted = ("198.51.100.1", 40000)  # a client naming an allowed address is not believed
    assert (
        scrape(app, client=untrusted, headers={"X-Forwarded-For": "192.0.2.9"}).status_code == 403
    )
    rt.settings.metrics_allow = []  # nobody
    assert scrape(create_app(rt), client=("192.0.2.9", 40000)).status_code == 403


def test_a_wrong_or_missing_token_is_refused(rt):
    rt.settings.metrics_token = SecretStr("scrape-secret-7")
    app = create_app(rt)
    assert scrape(app).status_code == 403
    for wrong in ("Bearer scrape-secret-8", "Bearer ", "Basic scrape-secret-7", "scrape-secret-7"):
        response = scrape(app, headers={"Authorization": wrong})
        assert response.status_code == 403, wrong
        assert "onething_" not in response.text
    assert scrape(app, headers={"Authorization": "Bearer scrape-secret-7"}).status_code == 200
    # the token adds to the address check, it does not replace it
    outside = ("203.0.113.7", 40000)
    refused = scrape(app, client=outside, headers={"Authorization": "Bearer scrape-secret-7"})
    assert refused.status_code == 403


def test_breaker_state_and_outcome_of_a_failing_exchange_are_shown(rt):
    now = [0.0]
    failing = httpx.MockTransport(lambda request: httpx.Response(503))
    rt.registry = HttpRegistry(
        "http://exchange.test/onething",
        client_id="onething",
        client_secret="secret",
        retries=0,
        breaker_threshold=1,
        breaker_reset=30.0,
        clock=lambda: now[0],
        transport=failing,
    )
    app = create_app(rt)
    registry = metrics.timed(rt.registry)
    with pytest.raises(RegistryUnavailable):
        registry.person(MOTHER)
    with pytest.raises(RegistryUnavailable):
        registry.person(MOTHER)  # failing fast now
    found = samples(scrape(app).text)
    assert value(found, "onething_registry_breaker_state", registry="population") == 2.0
    assert value(found, "onething_registry_breaker_state", registry="marriage") == 0.0
    count = "onething_registry_lookup_duration_seconds_count"
    for outcome in ("unreachable", "circuit_open"):
        labels = {"registry": "population", "source": "exchange", "outcome": outcome}
        assert value(found, count, **labels) >= 1.0, outcome
    now[0] += 31  # the next lookup will be the trial
    found = samples(scrape(app).text)
    assert value(found, "onething_registry_breaker_state", registry="population") == 1.0


def test_request_labels_are_bounded():
    metrics.observe_request("BREW", "/api/v1/cases/{number}", 418, 0.01)
    metrics.observe_request("GET", None, 404, 0.001)
    metrics.observe_request("GET", "/x", 999, -1.0)
    found = samples(generate_latest(metrics.PROCESS_REGISTRY).decode())
    count = "onething_http_request_duration_seconds_count"
    labels = {"method": "other", "route": "/api/v1/cases/{number}", "status_class": "4xx"}
    assert value(found, count, **labels) >= 1.0
    assert value(found, count, method="GET", route="unmatched", status_class="4xx") >= 1.0
    assert value(found, count, method="GET", route="/x", status_class="other") >= 1.0


MULTIPROCESS = textwrap.dedent(
    """
    import sys
    from sqlalchemy import create_engine
    from services import metrics
    if sys.argv[1] == "observe":
        metrics.observe_request("GET", "/api/v1/tasks", 200, 0.02)
    else:
        engine = create_engine("sqlite:///" + sys.argv[2])
        sys.stdout.write(metrics.exposition(engine).decode())
    """
)


def test_workers_latencies_are_merged_and_the_database_counted_once(tmp_path):
    """Multiprocess mode: two workers observe, a third answers the scrape."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {**os.environ, metrics.MULTIPROC_DIR: str(directory)}

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", MULTIPROCESS, *args],
            env=env,
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return done.stdout

    run("observe")
    run("observe")
    text = run("scrape", str(tmp_path / "empty.sqlite"))  # no tables: the figures fail
    found = samples(text)
    labels = {"method": "GET", "route": "/api/v1/tasks", "status_class": "2xx"}
    assert value(found, "onething_http_request_duration_seconds_count", **labels) == 2.0
    assert value(found, "onething_metrics_database_up") == 0.0
    assert text.count("# TYPE onething_metrics_database_up gauge") == 1
    assert "process_resident_memory_bytes" not in text  # one worker's would mislead


def test_serve_with_workers_gives_them_a_metrics_directory(monkeypatch, tmp_path):
    monkeypatch.setenv(metrics.MULTIPROC_DIR, "")  # (restored, i.e. unset, after the test)
    _metrics_directory()
    made = Path(os.environ[metrics.MULTIPROC_DIR])
    assert made.is_dir() and not any(made.iterdir())
    monkeypatch.setenv(metrics.MULTIPROC_DIR, str(tmp_path))
    _metrics_directory()  # the operator's is kept
    assert os.environ[metrics.MULTIPROC_DIR] == str(tmp_path)
