"""Observability without personal data: the W3C trace context of the work in hand, and one
JSON formatter for every log record.

A request (web/observe.py) or a background job puts an `Observation` in `current` when it
starts. The holder is mutable on purpose: a sync route runs in a worker thread on a copy of the
request's context, so a value *set* there would not flow back, but a field written on the shared
holder does; services note the case they touched (`note_case`) and the request's log line names
it. Outbound calls (registries, webhooks) send `outgoing_traceparent()`: the trace they belong
to, with a new span id as parent, so a department's system or the exchange platform can log
under the same trace id (https://www.w3.org/TR/trace-context/).

Log records carry no personal data: only what the formatter picks (time, level, logger,
message, request and trace ids, and the request line's own fields), and messages must not
interpolate names, ID numbers, answers or credentials.
"""

from __future__ import annotations

import json
import logging
import random
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# version 00 only, lower-case hex as the specification writes it; all-zero ids are invalid
TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
ZERO_TRACE, ZERO_SPAN = "0" * 32, "0" * 16
SAMPLED = "01"  # every trace is recorded (in the logs): the flags of a trace we start


class Observation:
    """What one request or job is, for its log lines: ids, trace, and what it touched."""

    __slots__ = ("request_id", "trace_id", "span_id", "flags", "case", "role", "several")

    def __init__(self, request_id: str, trace_id: str, span_id: str, flags: str) -> None:
        self.request_id = request_id
        self.trace_id = trace_id
        self.span_id = span_id  # this request's own span: the parent of its outbound calls
        self.flags = flags
        self.case: str | None = None  # the case number, when exactly one case was touched
        self.role: str | None = None  # the signed-in user's role (never who they are)
        self.several = False

    @property
    def traceparent(self) -> str:
        """This span's context, for a case to keep as the trace it was submitted under."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


current: ContextVar[Observation | None] = ContextVar("onething_observation", default=None)


def new_trace_id() -> str:
    # Trace ids need to be unique, not secret: Python's generator (reseeded in each forked
    # worker) costs a fraction of os.urandom's system call. Zero is excluded by the `| 1`.
    return f"{random.getrandbits(128) | 1:032x}"


def new_span_id() -> str:
    return f"{random.getrandbits(64) | 1:016x}"


def parse_traceparent(value: str | None) -> tuple[str, str, str] | None:
    """(trace id, parent id, flags) of a valid version-00 `traceparent`, else None (the caller
    then starts a new trace, as the specification asks of a header it cannot parse)."""
    if not value:
        return None
    found = TRACEPARENT.fullmatch(value)
    if found is None or found[1] == ZERO_TRACE or found[2] == ZERO_SPAN:
        return None
    return found[1], found[2], found[3]


def child_traceparent(parent: str | None) -> str:
    """A `traceparent` for a call made on behalf of `parent` (a stored or received one): its
    trace with a new span id; a new trace when `parent` is missing or invalid."""
    parsed = parse_traceparent(parent)
    if parsed is None:
        return f"00-{new_trace_id()}-{new_span_id()}-{SAMPLED}"
    return f"00-{parsed[0]}-{new_span_id()}-{parsed[2]}"


def outgoing_traceparent() -> str:
    """The `traceparent` for an outbound call now: a child of the current request's span, or of
    a new trace outside any request."""
    seen = current.get()
    if seen is None:
        return child_traceparent(None)
    return f"00-{seen.trace_id}-{new_span_id()}-{seen.flags}"


def current_traceparent() -> str | None:
    """The current request's own span context (None outside a request)."""
    seen = current.get()
    return None if seen is None else seen.traceparent


def note_case(number: str | None) -> None:
    """The current request works on case `number`: its log line names it (one case only; a
    request that touches several, e.g. a batch of tasks, names none)."""
    seen = current.get()
    if seen is None or not number or seen.several or seen.case == number:
        return
    if seen.case is None:
        seen.case = number
    else:
        seen.case, seen.several = None, True


def note_role(role: str) -> None:
    """The signed-in user's role, for the request's log line."""
    seen = current.get()
    if seen is not None:
        seen.role = role


# --- log records as JSON lines ----------------------------------------------------------------

FIELDS = "observed"  # the `extra` key under which a record brings fields of its own


_second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text


def _utc(created: float) -> str:
    """A record's time as ISO 8601 in UTC, to the millisecond: 2026-12-06T04:54:07.064Z. The
    text of the second is kept from one record to the next (strftime cost more than the rest
    of a request's line)."""
    global _second
    second = int(created)
    last, text = _second  # one tuple: threads see a whole pair, never half of one
    if second != last:
        text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second = (second, text)
    return f"{text}.{int((created - second) * 1000):03d}Z"


def _traceback(formatter: logging.Formatter, exc_info) -> str:
    """An exception's traceback without PostgreSQL's DETAIL lines, which quote the values of
    the row at fault ("Key (subject_key)=(...) already exists"); SQL parameters are hidden by
    the engine (services/db.py)."""
    text = logging.Formatter.formatException(formatter, exc_info)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("DETAIL:"))


_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the request and trace ids
    when inside a request, the fields a record brings under `extra={"observed": {...}}` (the
    request line's), and the traceback of an exception. Nothing else of the record is taken."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        seen = current.get()
        if seen is not None:
            line["request_id"] = seen.request_id
            line["trace_id"] = seen.trace_id
        own = getattr(record, FIELDS, None)
        if own:
            line.update(own)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return _encode(line)

    def formatException(self, ei) -> str:
        return _traceback(self, ei)


class TextFormatter(logging.Formatter):
    """For a terminal: the usual text line, with the request and trace ids inside a request."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        own = getattr(record, FIELDS, None)
        if own:
            text += "".join(f" {key}={value}" for key, value in own.items())
        seen = current.get()
        if seen is not None:
            text += f" request_id={seen.request_id} trace_id={seen.trace_id}"
        return text

    def formatException(self, ei) -> str:
        return _traceback(self, ei)


def logging_config(log_format: str, level: str = "INFO") -> dict[str, Any]:
    """A `logging.config.dictConfig` configuration: one handler (standard error) and one
    formatter ("json" or "text") for the root logger and uvicorn's, whose access log is off
    (each request's own line, `onething.request`, replaces it)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"onething": {"()": f"{__name__}.formatter", "log_format": log_format}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "onething",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            # uvicorn's own loggers propagate to the root's handler, formatted the same way
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
            # At INFO these would write SQL with its parameters, and URLs with ID numbers in
            # their paths (a registry lookup's), or noise: their warnings only.
            **{name: {"level": "WARNING"} for name in QUIET},
        },
    }


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of `logging_config`, made in every process that applies it (each uvicorn
    worker too). Its records then skip looking up what no formatter here writes: the caller's
    file and line (a walk up the stack), thread and process (the logging HOWTO's
    "Optimization"); that lookup alone cost about as much as formatting a request's line."""
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    return JsonFormatter() if log_format == "json" else TextFormatter()


QUIET = ("sqlalchemy", "httpx", "httpcore", "alembic.runtime.plugins")
