"""Request dependencies: the runtime, one DB session per request, the signed-in user, CSRF."""

from __future__ import annotations

import asyncio
import secrets
import weakref
from collections.abc import AsyncIterator
from contextlib import nullcontext
from typing import Annotated

from fastapi import Depends, Form, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from services import db_outage, idempotency, journal
from services.accounts import service as accounts
from services.accounts.models import LoginSession, User
from services.cases.schemas import ID_MAX, NO_NUL
from services.db import pool_capacity
from services.errors import DomainError, Forbidden
from services.observability import note_role
from services.runtime import Runtime
from web.client_gone import watch_session

COOKIE = "onething_session"


class NotSignedIn(DomainError):
    status = 401
    code = "not_signed_in"


# Dependencies that do no I/O are `async`: FastAPI then runs them on the event loop instead of
# handing each one to the thread pool.


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


# Numbers in requests: a row id in a path, a page of a list or a version number in the query.
# Bounded by what the database's INTEGER columns hold, so a larger number is invalid input (422),
# never a crash of the database driver (500).
Id = Annotated[int, Path(ge=1, le=ID_MAX)]
Number = Annotated[int, Query(ge=1, le=ID_MAX)]
Page = Number
# A code in a path: a matter, item or department code, a certificate's public id
Code = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
# Text a form sends to be stored or searched: PostgreSQL's text cannot hold a NUL character
FormText = Annotated[str, Form(pattern=NO_NUL)]
SearchText = Annotated[str, Query(max_length=200, pattern=NO_NUL)]


# Connections kept back from requests for the process's background threads (deadline
# scheduler, webhook sender, configuration refresh).
RESERVED_CONNECTIONS = 4


class RequestSlots:
    """How many requests may hold a database session at once: fewer than the pool's connections.

    A request checks its connection out in one thread-pool thread (signing in) and runs its
    endpoint in another. Without a bound, a burst fills every thread with requests waiting for a
    connection while the requests holding the connections wait for a thread: nothing moves until
    the pool's timeout fails them all. Waiting for a slot happens on the event loop instead.
    One semaphore per event loop (a server has one; tests may run several clients)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._by_loop: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        found = self._by_loop.get(loop)
        if found is None:
            found = self._by_loop[loop] = asyncio.Semaphore(self.size)
        return found


def request_slots(db) -> RequestSlots | None:
    capacity = pool_capacity(db)
    if capacity is None:
        return None
    return RequestSlots(max(1, capacity - RESERVED_CONNECTIONS))


def read_only(endpoint):
    """Mark a route that only reads (put it below the route decorator): its session runs each
    statement in autocommit mode, with no transaction around them. On PostgreSQL that spares
    the BEGIN and COMMIT round trips, half of a queue listing's four. Its statements see
    different snapshots (a listing's sign-in read and its query), which a listing does not mind.
    The session refuses to write: changes left in it at the end are an error, rolled back."""
    endpoint.onething_read_only = True
    return endpoint


class ReadOnlyViolation(RuntimeError):
    """A route marked read_only left changes in its session (a programming error)."""


def _is_read_only(request: Request) -> bool:
    return getattr(request.scope.get("endpoint"), "onething_read_only", False)


def read_only_engine(db):
    """The engine's autocommit twin: the same pool, each connection checked out in autocommit
    mode and put back as it was (on PostgreSQL and SQLite a client-side switch, no round trip)."""
    return db.execution_options(isolation_level="AUTOCOMMIT")


# FastAPI solves a dependency's own dependencies before it looks the dependency up in the
# request's cache: every place a dependency is named costs its whole subtree again, on every
# request. So the dependencies below name as few others as they can (the session reads the
# runtime from the app itself; a role check reads the login, not the current user).


async def get_session(request: Request) -> AsyncIterator[Session]:
    state = request.app.state
    slots: RequestSlots | None = getattr(state, "db_slots", None)
    readonly = _is_read_only(request)
    bind = state.read_db if readonly else state.runtime.db  # read_db: made by create_app
    async with slots.semaphore() if slots is not None else nullcontext():
        with Session(bind, expire_on_commit=False, autoflush=not readonly) as session:
            if not readonly:
                watch_session(session)  # not committed once the client has gone
            claim = getattr(request.state, "idempotency_claim", None)  # web/idempotency.py
            if claim is not None:
                idempotency.mark_applied(session, claim_id=claim)
            request.state.db_session = session  # for the page's header (web/rendering.py)
            try:
                yield session
            finally:  # an error page rendered after the request's session is closed has none
                request.state.db_session = None
            if readonly:
                if has_changes(session):
                    raise ReadOnlyViolation(f"{request.url.path} is read_only but wrote")
                session.commit()  # ends the ORM's transaction; nothing is sent
            else:
                end_read_only(session)


def end_read_only(session: Session) -> None:
    """End a request's transaction that read but wrote nothing with COMMIT, not the ROLLBACK
    of closing the session: on PostgreSQL a ROLLBACK also drops the connection's prepared
    statements (psycopg cannot know whether the transaction prepared them), so every read-only
    request made the next ones parse and plan their statements again. A transaction holding
    changes nobody committed is still rolled back when the session closes, as before (and so
    is one whose request failed: this line is not reached). The database going away by then
    does not fail the request: it wrote nothing, and its answer may be under way already (a
    page's teardown can run after the answer started)."""
    if session.in_transaction() and not has_changes(session):
        try:
            session.commit()
        except Exception as exc:
            if not db_outage.unavailable(exc):
                raise


def has_changes(session: Session) -> bool:
    """Changes pending or written in the session's open transaction (never to be committed by
    the request's end: a route that caught a service's refusal and rendered a page must not
    commit what the refused operation had begun)."""
    return journal.uncommitted(session)


SessionDep = Annotated[Session, Depends(get_session)]


def session_token(request: Request, authorization: str | None) -> tuple[str | None, bool]:
    """The session token and whether it came from a `Bearer` Authorization header (a script or
    a department's system) rather than the session cookie (a browser). Any other Authorization
    header (Basic, a bare word) is ignored: the request is the cookie's, CSRF token and all."""
    if authorization and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip(), True
    return request.cookies.get(COOKIE), False


async def get_login(
    request: Request,
    session: SessionDep,
    authorization: Annotated[str | None, Header()] = None,
) -> tuple[User, LoginSession] | None:
    """The signed-in user and session, if any. One indexed read, done on the event loop when
    an idle pooled connection is at hand: a hand-off to the thread pool would cost more than
    the read. It cannot wait for the pool: the request holds a database slot, and there are
    fewer slots than connections (SQLite readers do not wait for writers in WAL mode;
    PostgreSQL readers do not wait for locks). When the pool has no idle connection, a new one
    must be made, which waits up to the connect timeout if the database does not answer (a
    failover): then the read goes to the thread pool, so the event loop never waits for it."""
    token, bearer = session_token(request, authorization)
    if not token:
        found = None
    elif _idle_connection(session):
        found = accounts.session_user(session, token=token)
    else:
        found = await run_in_threadpool(accounts.session_user, session, token=token)
    if found is not None:
        # Detached (never in the session): a service that rolls back the request's transaction
        # (a refused step) does not expire who is signed in, and the page that reports it can
        # still name them.
        request.state.login = found
        request.state.bearer = bearer  # only a Bearer token spares the CSRF check
        note_role(found[0].role)  # for the request's log line
    return found


def _idle_connection(session: Session) -> bool:
    """The session's pool has a connection checked in (a query needs no new connection; another
    thread may take it first, rarely, and the read then connects on the event loop)."""
    checked_in = getattr(session.get_bind().pool, "checkedin", None)
    return checked_in is not None and checked_in() > 0


LoginDep = Annotated[tuple[User, LoginSession] | None, Depends(get_login)]


def signed_in(login: tuple[User, LoginSession] | None) -> User:
    if login is None:
        raise NotSignedIn("请先登录", "Please sign in")
    return login[0]


async def current_user(login: LoginDep) -> User:
    return signed_in(login)


CurrentUser = Annotated[User, Depends(current_user)]


def _role(*roles: str):
    async def check(login: LoginDep) -> User:
        user = signed_in(login)
        if user.role not in roles:
            raise Forbidden("您的账号无权访问此页面", "Your account may not open this page")
        return user

    check.onething_role_check = True
    return Depends(check)


def is_role_check(call) -> bool:
    """Whether dependency `call` is one of the role checks below (403 for another role)."""
    return getattr(call, "onething_role_check", False)


def needs_sign_in(call) -> bool:
    """Whether dependency `call` refuses a caller who is not signed in (401): `current_user`
    and the role checks (which read the login themselves, not through `current_user`)."""
    return call is current_user or is_role_check(call)


CitizenUser = Annotated[User, _role("citizen")]
ClerkUser = Annotated[User, _role("clerk")]
SystemUser = Annotated[User, _role("system")]  # a department's own system (external tasks)
AdminUser = Annotated[User, _role("admin")]
OperatorUser = Annotated[User, _role("operator")]  # looks after running cases (issue 21)


async def check_csrf(request: Request, login: LoginDep) -> None:
    """State-changing requests from a browser session must carry the session's CSRF token."""
    if login is None or getattr(request.state, "bearer", False):
        return
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        sent = (await request.form()).get("csrf_token")
    # (as bytes: compare_digest refuses str with characters beyond ASCII)
    if not sent or not secrets.compare_digest(str(sent).encode(), login[1].csrf_token.encode()):
        raise Forbidden(
            "页面已过期，请刷新后重试（安全校验未通过）",
            "The page expired: reload it and try again (security token mismatch)",
        )


CsrfChecked = Depends(check_csrf)
