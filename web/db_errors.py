"""What a request answers when the database cannot be reached (it is restarting, failing over,
or a connection was cut): 503 with `Retry-After`, as problem details to the API and bearer
clients and as the error page to browsers, with a message a citizen can act on; never a 500.

Which failures count is decided in services/db_outage.py (an allow-list); any other database
error is raised on to the app's handler of unexpected errors (a 500 with a reference), as
before. The request's transaction was rolled back with its session, so nothing of the request
is kept, unless the connection broke during its COMMIT, after the server committed: an API
client retrying with its `Idempotency-Key` is then told that it was done (services/
idempotency.py), never does it twice. One warning line per answer, naming the failure's kind
and SQLSTATE only: no traceback, no server address, no password.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import exc as sa_exc

from services import db_outage
from services.errors import DomainError
from web.problems import PROBLEM, problem_body

log = logging.getLogger(__name__)

RETRY_SECONDS = 5  # what Retry-After says: a restart or a failover takes about this long
CODE = "database_unavailable"
MESSAGE = "系统繁忙，请稍后再试（几秒钟后）。如您刚提交了申请，请先在“我的办件”中查看是否已受理，再重新提交。"
MESSAGE_EN = (
    "The service is busy: please try again in a few seconds. If you have just submitted an "
    "application, first check “My cases” to see whether it was received."
)


class DatabaseUnavailable(DomainError):
    """The database cannot be reached for the moment: try again after `Retry-After`."""

    status = 503
    code = CODE


# The exception classes whose handler decides (by db_outage) whether they mean an outage.
HANDLED: tuple[type[BaseException], ...] = (sa_exc.DBAPIError, sa_exc.TimeoutError)
if db_outage.psycopg is not None:
    HANDLED += (db_outage.psycopg.Error,)


def install(app: FastAPI) -> None:
    """Register the handlers for database trouble on `app` (after its DomainError handler,
    which renders the answer)."""
    for kind in HANDLED:
        app.add_exception_handler(kind, database_unavailable)


async def database_unavailable(request: Request, exc: Exception):
    """503 for an outage; any other database error goes on to the 500 handler."""
    if not db_outage.unavailable(exc):
        raise exc
    log.warning(
        "database unavailable: %s %s answered 503 (%s)",
        request.method,
        request.url.path,
        describe(exc),
    )
    refusal = DatabaseUnavailable(MESSAGE, MESSAGE_EN)
    try:
        response = await request.app.exception_handlers[DomainError](request, refusal)
    except Exception:  # the error page itself failed: a plain answer, still a 503
        log.warning("database unavailable: the error page failed, a plain answer was sent")
        response = _plain(request, refusal)
    response.headers["Retry-After"] = str(RETRY_SECONDS)
    return response


def describe(exc: BaseException) -> str:
    """The failure's kind, for the log: exception classes and SQLSTATE, never its message (a
    connection error names the server's address)."""
    names = [type(exc).__name__]
    orig = getattr(exc, "orig", None)
    if orig is not None:
        names.append(type(orig).__name__)
    state = getattr(orig if orig is not None else exc, "sqlstate", None)
    if state:
        names.append(f"SQLSTATE {state}")
    if getattr(exc, "connection_invalidated", False):
        names.append("connection invalidated")
    return ", ".join(names)


def _plain(request: Request, refusal: DatabaseUnavailable) -> JSONResponse | HTMLResponse:
    if request.url.path.startswith("/api/") or request.headers.get("authorization"):
        return JSONResponse(problem_body(refusal), status_code=503, media_type=PROBLEM)
    return HTMLResponse(
        f"<!doctype html><title>503</title><p>{MESSAGE}</p><p>{MESSAGE_EN}</p>", status_code=503
    )
