"""A change whose client has gone is not committed.

A client that gives up on a request (a script's timeout, a citizen who closes the page) does not
read the answer: an application committed after that becomes a case the client believes was not
made, and its retry (without an Idempotency-Key) makes it again. So for a request that changes
something (POST, PUT, PATCH, DELETE), once the app has read the whole body, a watcher on the
event loop waits for the connection's next message, which can only be that the client left. If
it comes before the request's database session commits, the commit is refused (`ClientGone`):
the transaction is rolled back, nothing of the request is kept, its Idempotency-Key is given
back, and the answer (HTTP 499, nginx's "client closed request") goes nowhere. A client that
leaves after the commit finds its change done; sent again with its key, it gets the answer.

The check at the commit reads a flag (`threading.Event`) the watcher set: no hop to the event
loop. Only the request's own session is checked (web/deps.py marks it); background work and
the sessions a request opens for its bookkeeping are not."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading

from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.errors import DomainError
from services.metrics import REFUSED_REQUESTS

log = logging.getLogger(__name__)

CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The current request's flag, set when its client has gone (None: not a watched request)
_GONE: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "onething_client_gone", default=None
)
SESSION_KEY = "onething.client_gone"  # a request session's info: its request's flag


class ClientGone(DomainError):
    """The request's client left before its change was committed: nothing was kept."""

    status = 499
    code = "client_closed_request"


def current_flag() -> threading.Event | None:
    """The running request's flag (for its database session), if it is watched."""
    return _GONE.get()


def watch_session(session: OrmSession) -> None:
    """Refuse the commits of `session` once the current request's client has gone."""
    flag = _GONE.get()
    if flag is not None:
        session.info[SESSION_KEY] = flag


@event.listens_for(OrmSession, "before_commit")
def _refuse_if_gone(session: OrmSession) -> None:
    flag = session.info.get(SESSION_KEY)
    if flag is not None and flag.is_set():
        REFUSED_REQUESTS.labels("client_gone").inc()
        raise ClientGone(
            "连接已断开，本次操作未保存",
            "The connection was closed: nothing of this request was saved",
        )


class ClientWatch:
    """The ASGI middleware (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in CHANGING:
            await self.app(scope, receive, send)
            return
        flag = threading.Event()
        answered = False  # the answer's last part went out: a disconnect after it is no news
        watcher: asyncio.Task | None = None

        async def gone() -> None:
            if not answered:
                flag.set()

        async def watched_receive() -> Message:
            nonlocal watcher
            message = await receive()
            if message["type"] == "http.disconnect":
                await gone()
            elif not message.get("more_body", False) and watcher is None:
                watcher = asyncio.ensure_future(_wait_for_disconnect(receive, gone))
            return message

        async def watched_send(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered = True
            await send(message)

        token = _GONE.set(flag)
        try:
            await self.app(scope, watched_receive, watched_send)
        finally:
            _GONE.reset(token)
            if watcher is not None and not watcher.done():
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher


async def _wait_for_disconnect(receive: Receive, gone) -> None:
    """After the whole body, the connection's next message is that the client left (or, once
    the answer is sent, that the exchange is over: `gone` knows which)."""
    message = await receive()
    if message["type"] == "http.disconnect":
        await gone()
