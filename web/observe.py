"""Per-request observation: a request id, the W3C trace context, one structured log line.

`RequestObserver` is the outermost middleware, a pure ASGI one (BaseHTTPMiddleware would cost a
task and a stream per request). For each HTTP request it

- takes the `X-Request-Id` a proxy sent when it matches `REQUEST_ID` (letters, digits, `.`,
  `_`, `:`, `-`; at most 64), else makes one, and returns it in the `X-Request-Id` answer header;
- continues the trace of a valid `traceparent` (version 00, non-zero ids) or starts a new one,
  with a span of its own, and puts both in `services.observability.current` for the services
  (a case keeps the trace it was submitted under; outbound calls send a child of it);
- records the request's latency under its route template (`services.metrics`) and writes one
  line to the `onething.request` logger when the answer is sent: method, the route's
  template (never the raw path, which may carry ids, nor the query string), status, duration in
  milliseconds, the case number when one case was touched and the user's role; the formatter
  adds the time, request id and trace id. No client address, body or user name.

`log_config()` is uvicorn's logging configuration for `onething serve`: every logger through
one formatter, JSON lines by default (`ONETHING_LOG_FORMAT=text` for a terminal), uvicorn's own
access log off (the request line replaces it).
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from services.metrics import observe_request
from services.observability import (
    FIELDS,
    SAMPLED,
    Observation,
    current,
    logging_config,
    new_span_id,
    new_trace_id,
    parse_traceparent,
)

# What deploy/nginx/onething.conf forwards (a client's own id, else nginx's $request_id) passes
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
REQUEST_ID_HEADER = b"x-request-id"
TRACEPARENT_HEADER = b"traceparent"

request_log = logging.getLogger("onething.request")


def _observation(headers: list[tuple[bytes, bytes]]) -> Observation:
    """The request's ids from its headers where they are valid, else new ones."""
    request_id = traceparent = None
    for name, value in headers:
        if name == TRACEPARENT_HEADER:
            traceparent = value
        elif name == REQUEST_ID_HEADER:
            request_id = value
    if request_id is not None:
        request_id = request_id.decode("latin-1")
        if REQUEST_ID.fullmatch(request_id) is None:
            request_id = None
    span_id = new_span_id()
    parent = parse_traceparent(traceparent.decode("latin-1")) if traceparent else None
    if parent is None:
        return Observation(request_id or new_span_id(), new_trace_id(), span_id, SAMPLED)
    return Observation(request_id or new_span_id(), parent[0], span_id, parent[2])


def route_template(scope: dict[str, Any]) -> str | None:
    """The template of the route that answered ("/api/v1/cases/{case_id}"), the mount's path
    for static files, None when nothing matched."""
    # A route of an included router: FastAPI keeps the route as declared (without the router's
    # prefix) in "route", and the effective route, prefix and all, beside it.
    effective = scope.get("fastapi", {}).get("effective_route_context")
    if effective is not None:
        return effective.path_format
    route = scope.get("route")
    if route is not None:
        return route.path_format
    if "endpoint" in scope:  # a mounted app (static files): its prefix, not the file's name
        return f"{scope.get('root_path', '')}/{{path}}"
    return None


class RequestObserver:
    """Pure ASGI middleware: ids and trace context in, `X-Request-Id` out, one log line."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        seen = _observation(scope["headers"])
        token = current.set(seen)
        status = 500  # unless an answer starts: the server then sends a 500 itself
        request_id = seen.request_id.encode("latin-1")

        async def send_with_id(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (REQUEST_ID_HEADER, request_id),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            try:
                self._record(scope, seen, status, time.perf_counter() - started)
            finally:
                current.reset(token)

    @staticmethod
    def _record(scope, seen: Observation, status: int, seconds: float) -> None:
        """The request's latency for /metrics and its log line."""
        route = route_template(scope)
        observe_request(scope["method"], route, status, seconds)
        if request_log.isEnabledFor(logging.INFO):
            fields: dict[str, Any] = {
                "span_id": seen.span_id,
                "method": scope["method"],
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
            }
            if seen.case is not None:
                fields["case"] = seen.case
            if seen.role is not None:
                fields["role"] = seen.role
            request_log.info("request", extra={FIELDS: fields})


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration for `onething serve` (`ONETHING_LOG_FORMAT`)."""
    from services.config import get_settings

    return logging_config(get_settings().log_format)
