"""Prometheus metrics: what an operator's monitoring scrapes from `/metrics`.

Two kinds. *Per-process* metrics (request latency, registry latency) are observed where the
work happens and kept by prometheus-client: in memory, or, when the operator sets
`PROMETHEUS_MULTIPROC_DIR` before the workers start, in files that every worker of the host
writes and the scraped worker merges. *Database* figures (cases per matter, tasks per
department, timer lag, webhook outbox) are counted at scrape time from the shared database, so
they are right across hosts and processes whichever worker answers.

Every label value is bounded and names no person: HTTP methods from a fixed list, route
templates (never raw paths), status classes, matter, department and registry codes."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

# The per-process metrics live in their own registry, not prometheus-client's global one, so
# nothing another library registers there leaks into the exposition.
PROCESS_REGISTRY = CollectorRegistry()

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUEST_SECONDS = Histogram(
    "onething_http_request_duration_seconds",
    "Time from a request's arrival to its last response byte, per route template.",
    ("method", "route", "status_class"),
    buckets=_LATENCY_BUCKETS,
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
