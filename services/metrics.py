"""Prometheus metrics: what an operator's monitoring scrapes from `/metrics`.

Two kinds. *Per-process* metrics (request latency, registry latency, circuit-breaker state) are
observed where the work happens and kept by prometheus-client: in memory, or, when the operator
sets `PROMETHEUS_MULTIPROC_DIR` (an empty directory, before the workers start), in files every
worker of the host writes and the worker answering the scrape merges. *Database* figures (cases
per matter, tasks per department, timer lag, the webhook outbox) are counted at scrape time from
the shared database by `DatabaseCollector`, so they are right across hosts and processes
whichever worker answers; every host reports the same figures (take `max` across instances).

Every label value is bounded and names no person: HTTP methods from a fixed list, route
templates (never raw paths), status classes, matter, department and registry codes, outcomes
and reasons from fixed lists."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import case as sql_case
from sqlalchemy import func
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from engine.clock import utcnow
from engine.store import TimerJob
from services.calendar import local_date
from services.cases.models import Case, CaseItem
from services.departments.models import WebhookDelivery
from services.registries.http import CLOSED, ENDPOINTS, HALF_OPEN, OPEN
from services.registries.records import Registry, RegistryUnavailable

# The text format every Prometheus server reads (the OpenMetrics one is not offered).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"

# The per-process metrics live in their own registry, not prometheus-client's global one, so
# nothing another library registers there leaks into the exposition.
PROCESS_REGISTRY = CollectorRegistry()
if os.environ.get(MULTIPROC_DIR):
    # Made here if missing: prometheus-client writes there at the first observation, and a
    # directory it cannot use then should stop the process at start, not fail every request.
    os.makedirs(os.environ[MULTIPROC_DIR], exist_ok=True)
else:  # (one process's CPU and memory would mislead among several: only without workers)
    ProcessCollector(registry=PROCESS_REGISTRY)

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUEST_SECONDS = Histogram(
    "onething_http_request_duration_seconds",
    "Time from a request's arrival to its last response byte, per route template.",
    ("method", "route", "status_class"),
    buckets=_LATENCY_BUCKETS,
    registry=PROCESS_REGISTRY,
)
REGISTRY_SECONDS = Histogram(
    "onething_registry_lookup_duration_seconds",
    "Time of one registry lookup (retries included), per registry, source and outcome.",
    ("registry", "source", "outcome"),
    buckets=(0.001, 0.0025) + _LATENCY_BUCKETS,
    registry=PROCESS_REGISTRY,
)
BREAKER_STATE = Gauge(
    "onething_registry_breaker_state",
    "The exchange platform's circuit breaker per registry as last seen by a lookup: "
    "0 closed, 1 half-open (the next lookup is a trial), 2 open (failing fast).",
    ("registry",),
    registry=PROCESS_REGISTRY,
    multiprocess_mode="mostrecent",  # the latest any worker saw
)
_BREAKER_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}
REFUSED_REQUESTS = Counter(
    "onething_http_requests_not_served_total",
    "Requests a worker did not carry out under load (web/admission.py): shed (503 with "
    "Retry-After: the queue was full or too slow), abandoned (their client left while they "
    "waited) or client_gone (their client left before their change was committed: rolled "
    "back, web/client_gone.py).",
    ("reason",),
    registry=PROCESS_REGISTRY,
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# A request that matched no route (a 404, a probe) is counted under this one label value.
UNMATCHED = "unmatched"
# Route labels are the app's templates, a bounded set; should a caller pass something else
# by mistake, no more than this many distinct values are ever kept per process.
_MAX_ROUTES = 400
_routes_seen: set[str] = set()


def observe_request(method: str, route: str | None, status: int, seconds: float) -> None:
    """Record one request's latency. `route` is the matched route's template
    (`/api/cases/{number}`), or None/empty when no route matched; never the raw path."""
    REQUEST_SECONDS.labels(
        method if method in _METHODS else "other",
        _route_label(route),
        f"{status // 100}xx" if 100 <= status <= 599 else "other",
    ).observe(max(seconds, 0.0))


def _route_label(route: str | None) -> str:
    if not route:
        return UNMATCHED
    if route not in _routes_seen:
        if len(_routes_seen) >= _MAX_ROUTES:
            return "other"
        _routes_seen.add(route)
    return route


# --- registry lookups ---------------------------------------------------------------------------

_SOURCES = {"HttpRegistry": "exchange", "EmbeddedRegistry": "embedded"}
_REASONS = frozenset({"unreachable", "circuit_open", "bad_response", "configuration", "rejected"})


class TimedRegistry:
    """A `Registry` whose lookups are timed into `REGISTRY_SECONDS` (outcome `found`, `empty`,
    or why the registry could not answer) and, for the exchange platform, whose breaker state is
    noted after each lookup. Everything else is the wrapped registry's."""

    def __init__(self, inner: Registry) -> None:
        self.inner = inner
        self._source = _SOURCES.get(type(inner).__name__, "other")
        self._breaker_state: Callable[[str], str] | None = getattr(inner, "breaker_state", None)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        endpoint = ENDPOINTS.get(name)
        if endpoint is None or not callable(attribute):
            return attribute

        def lookup(*args: Any, **kwargs: Any) -> Any:
            outcome = "error"
            started = time.perf_counter()
            try:
                result = attribute(*args, **kwargs)
                outcome = "found" if result else "empty"
                return result
            except RegistryUnavailable as error:
                outcome = error.reason if error.reason in _REASONS else "unavailable"
                raise
            finally:
                REGISTRY_SECONDS.labels(endpoint.registry, self._source, outcome).observe(
                    time.perf_counter() - started
                )
                if self._breaker_state is not None:
                    note_breaker(endpoint.registry, self._breaker_state(endpoint.registry))

        return lookup


def timed(registry: Registry) -> Registry:
    """`registry` with its lookups measured (once: a timed registry is returned as it is)."""
    if isinstance(registry, TimedRegistry):
        return registry
    return TimedRegistry(registry)  # type: ignore[return-value]  # a Registry by delegation


def note_breaker(registry: str, state: str) -> None:
    BREAKER_STATE.labels(registry).set(_BREAKER_VALUES.get(state, 2))


# --- figures from the database ------------------------------------------------------------------

OPEN_TASKS = ("processing", "correction")
OPEN_CASES = ("processing", "correction")


class DatabaseCollector:
    """The shared figures, counted when scraped: a few GROUP BY queries in one short read,
    each served by an index. The only ones that grow with the database's age are the cases
    per matter (an index-only scan of `case_file`'s matter index); the rest read the open,
    due or pending rows only."""

    def __init__(self, db: Any, *, departments: Iterable[str] = ()) -> None:
        self._db = db
        # The departments' codes (the catalog's): the open tasks are then read through the
        # queue index's (department, status) prefix, not the whole index.
        self._departments = sorted(set(departments))

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        up = GaugeMetricFamily(
            "onething_metrics_database_up",
            "Whether the last scrape could read the database's figures (1) or not (0).",
        )
        try:
            with Session(self._db) as session:
                figures = list(self._figures(session))
        except SQLAlchemyError:
            figures = []
        up.add_metric([], 1 if figures else 0)
        yield from figures
        yield up
        took = GaugeMetricFamily(
            "onething_metrics_database_seconds",
            "Time the last scrape took to count the database's figures.",
        )
        took.add_metric([], time.perf_counter() - started)
        yield took

    def _figures(self, session: Session) -> Iterator[Metric]:
        yield from self._cases(session)
        yield from self._tasks(session)
        yield from self._timers(session)
        yield from self._outbox(session)

    def _cases(self, session: Session) -> Iterator[Metric]:
        started = CounterMetricFamily(
            "onething_cases_started",
            "Cases submitted, per matter (counted from the database: every host agrees).",
            labels=("matter",),
        )
        finished = CounterMetricFamily(
            "onething_cases_finished",
            "Cases completed (every item decided), per matter.",
            labels=("matter",),
        )
        open_ = GaugeMetricFamily(
            "onething_cases_open",
            "Cases not completed, per matter and status (processing, correction).",
            labels=("matter", "status"),
        )
        totals = dict(session.exec(select(Case.matter, func.count()).group_by(Case.matter)).all())
        still_open: dict[str, int] = {}
        for matter, status, count in session.exec(
            select(Case.matter, Case.status, func.count())
            .where(col(Case.status).in_(OPEN_CASES))
            .group_by(Case.matter, Case.status)
        ).all():
            open_.add_metric([matter, status], count)
            still_open[matter] = still_open.get(matter, 0) + count
        for matter, count in sorted(totals.items()):
            started.add_metric([matter], count)
            finished.add_metric([matter], count - still_open.get(matter, 0))
        yield from (started, finished, open_)

    def _tasks(self, session: Session) -> Iterator[Metric]:
        open_ = GaugeMetricFamily(
            "onething_tasks_open",
            "Open tasks (items awaiting a decision or the applicant's correction), per "
            "department and status.",
            labels=("department", "status"),
        )
        overdue = GaugeMetricFamily(
            "onething_tasks_overdue",
            "Open tasks past their statutory due date (China's calendar date), per department "
            "and status.",
            labels=("department", "status"),
        )
        today = local_date(utcnow())
        late = func.sum(sql_case((col(CaseItem.due_date) < today, 1), else_=0))
        query = select(CaseItem.department, CaseItem.status, func.count(), late).where(
            col(CaseItem.status).in_(OPEN_TASKS)
        )
        if self._departments:
            query = query.where(col(CaseItem.department).in_(self._departments))
        for department, status, count, past_due in session.exec(
            query.group_by(CaseItem.department, CaseItem.status)
        ).all():
            open_.add_metric([department, status], count)
            overdue.add_metric([department, status], int(past_due or 0))
        yield from (open_, overdue)

    def _timers(self, session: Session) -> Iterator[Metric]:
        now = utcnow()
        oldest, due = session.exec(
            select(func.min(TimerJob.due_at), func.count()).where(
                TimerJob.status == "pending", col(TimerJob.due_at) <= now
            )
        ).one()
        failed = session.exec(
            select(func.count()).select_from(TimerJob).where(TimerJob.status == "failed")
        ).one()
        lag = GaugeMetricFamily(
            "onething_timer_lag_seconds",
            "How long the oldest due deadline timer has waited past its moment (0: none due).",
        )
        lag.add_metric([], _seconds_since(oldest, now))
        due_jobs = GaugeMetricFamily(
            "onething_timer_jobs_due", "Deadline timers due and not yet run."
        )
        due_jobs.add_metric([], due)
        failed_jobs = GaugeMetricFamily(
            "onething_timer_jobs_failed", "Deadline timers that failed and wait for an operator."
        )
        failed_jobs.add_metric([], failed)
        yield from (lag, due_jobs, failed_jobs)

    def _outbox(self, session: Session) -> Iterator[Metric]:
        now = utcnow()
        pending = GaugeMetricFamily(
            "onething_webhook_outbox_pending",
            "Webhook deliveries waiting to be sent (first attempt or retry), per department.",
            labels=("department",),
        )
        failed = GaugeMetricFamily(
            "onething_webhook_outbox_failed",
            "Webhook deliveries given up after their retries, per department.",
            labels=("department",),
        )
        oldest = GaugeMetricFamily(
            "onething_webhook_outbox_oldest_seconds",
            "Age of the oldest webhook delivery still waiting to be sent (0: none).",
        )
        first = None
        rows = session.exec(
            select(
                WebhookDelivery.department,
                WebhookDelivery.status,
                func.count(),
                func.min(WebhookDelivery.created_at),
            )
            .where(col(WebhookDelivery.status).in_(("pending", "failed")))
            .group_by(WebhookDelivery.department, WebhookDelivery.status)
        ).all()
        for department, status, count, created in rows:
            (pending if status == "pending" else failed).add_metric([department], count)
            if status == "pending" and created is not None:
                first = created if first is None else min(first, created)
        oldest.add_metric([], _seconds_since(first, now))
        yield from (pending, failed, oldest)


def _seconds_since(moment: Any, now: Any) -> float:
    """Seconds from `moment` (naive: UTC, as SQLite returns it) to `now`; 0 when None."""
    if moment is None:
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=now.tzinfo)
    return max((now - moment).total_seconds(), 0.0)


# --- the exposition ---------------------------------------------------------------------------


def exposition(
    db: Any, *, registry: Registry | None = None, departments: Iterable[str] = ()
) -> bytes:
    """The scrape's answer in the Prometheus text format: this host's per-process metrics (all
    workers' merged in multiprocess mode) and the database's figures, counted once per scrape.
    `registry`: the runtime's, whose breakers this process reports as they stand now;
    `departments`: the catalog's department codes."""
    breaker_state = getattr(registry, "breaker_state", None)
    if breaker_state is not None:
        for code in dict.fromkeys(e.registry for e in ENDPOINTS.values()):
            note_breaker(code, breaker_state(code))
    scraped = CollectorRegistry()
    if os.environ.get(MULTIPROC_DIR):
        MultiProcessCollector(scraped)
    else:
        scraped.register(_Forward(PROCESS_REGISTRY))
    scraped.register(DatabaseCollector(db, departments=departments))
    return generate_latest(scraped)


class _Forward:
    """A registry's metrics, collected into another registry."""

    def __init__(self, source: CollectorRegistry) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        return self._source.collect()
