"""Admission control: a worker takes on only as many requests as it can finish promptly, keeps a
short queue, and sheds the excess at once with 503 and `Retry-After` instead of letting every
request wait.

One worker process does its requests' Python work one at a time (the interpreter's lock): past
its capacity, admitting more only makes every request slower, until clients give up on answers
the server still works out (an application that times out at the client still became a case,
which the citizen never hears of and a retry duplicates). So:

- at most `active` requests of a worker run at once (`ONETHING_MAX_ACTIVE_REQUESTS`);
- the next ones wait in arrival order, at most `queued` of them (`ONETHING_MAX_QUEUED_REQUESTS`)
  and at most `wait` seconds each (`ONETHING_QUEUE_WAIT_MS`);
- a request that finds the queue full, or waits longer, is answered 503 with `Retry-After`
  before anything of it is done (no sign-in check, no Idempotency-Key claim, no SQL): its
  client can send it again, and an application sent again is accepted once;
- a request that waited is checked before it starts: if its client has gone meanwhile, it is
  not carried out (nobody would read the answer, and a retry would do it twice).

The liveness, readiness and metrics routes and static files are never held back: an overloaded
worker is alive and says so. Counters of shed and abandoned requests go to the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import time
import weakref
from collections import deque
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.errors import DomainError
from services.metrics import REFUSED_REQUESTS
from web.problems import PROBLEM, problem_body

log = logging.getLogger(__name__)

# Paths answered whatever the load: probes, metrics, and files that need no work of ours.
EXEMPT_PREFIXES = ("/healthz", "/readyz", "/metrics", "/static/", "/vendor/", "/favicon.ico")
CODE = "busy"
MESSAGE = "当前办理人数较多，请稍后再试。您的申请尚未提交，请在几秒钟后重新提交。"
MESSAGE_EN = (
    "Many people are being served right now: please try again in a few seconds. Your request "
    "was not carried out; send it again shortly."
)
# How long a peek at a waiting request's connection may take (the body has usually arrived)
PEEK_SECONDS = 0.005
# The longest Retry-After a shed client is told (seconds), and the window over which the worker
# counts what it shed and what it finished, to size the next Retry-After (see Gate.retry_after)
MAX_RETRY_AFTER = 60
RATE_WINDOW = 2.0


class Busy(DomainError):
    """The worker is at capacity and its queue is full or too slow: try again shortly."""

    status = 503
    code = CODE


@dataclass
class Gate:
    """One worker's admission state (one event loop): requests running, and those waiting."""

    active: int
    queued: int
    wait: float  # seconds a request may wait for its turn
    running: int = 0
    waiters: deque = field(default_factory=deque)
    shed: int = 0  # answered 503 (queue full or waited too long)
    abandoned: int = 0  # their client left while they waited: not carried out
    # When the last requests were shed and finished, within RATE_WINDOW (monotonic seconds)
    recent_shed: deque = field(default_factory=deque)
    recent_done: deque = field(default_factory=deque)
    logged_at: float = 0.0  # the last "busy" log line (one per second at most)
    unlogged: int = 0  # shed since that line

    def note_shed(self, now: float) -> None:
        self.shed += 1
        self.recent_shed.append(now)
        self._trim(now)

    def note_done(self, now: float) -> None:
        self.recent_done.append(now)
        self._trim(now)

    def _trim(self, now: float) -> None:
        for recent in (self.recent_shed, self.recent_done):
            while recent and now - recent[0] > RATE_WINDOW:
                recent.popleft()

    def retry_after(self, now: float) -> int:
        """Seconds a shed client should wait before sending its request again: the time this
        worker needs for the requests waiting now and for those it shed lately (which will come
        back), at the rate it finished requests lately; at least one queue's worth of waiting,
        at most MAX_RETRY_AFTER. A fixed second would bring every shed client back together
        while the worker is still behind: past capacity, most of its work would go into
        answering 503 to the same clients again and again."""
        self._trim(now)
        floor = max(1, math.ceil(self.wait))
        done_per_second = len(self.recent_done) / RATE_WINDOW
        if done_per_second <= 0:
            return floor
        behind = len(self.waiters) + len(self.recent_shed)
        return min(MAX_RETRY_AFTER, max(floor, math.ceil(behind / done_per_second)))

    async def enter(self) -> bool:
        """Take a place to run; False when the request is to be shed. True after waiting only
        when a running request handed its place over (the caller then checks its client)."""
        if self.running < self.active and not self.waiters:
            self.running += 1
            return True
        if len(self.waiters) >= self.queued:
            return False
        turn = asyncio.get_running_loop().create_future()
        self.waiters.append(turn)
        try:
            await asyncio.wait_for(asyncio.shield(turn), self.wait)
        except TimeoutError:
            if turn.done() and not turn.cancelled():  # handed over at the last moment
                return True
            turn.cancel()
            self._forget(turn)
            return False
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.leave()  # handed over to a request that is gone: pass it on
            else:
                turn.cancel()
                self._forget(turn)
            raise
        return True

    def _forget(self, turn: asyncio.Future) -> None:
        with contextlib.suppress(ValueError):  # (already handed over and removed)
            self.waiters.remove(turn)

    def leave(self) -> None:
        """A running request ended: its place goes to the longest waiting one, if any."""
        while self.waiters:
            turn = self.waiters.popleft()
            if not turn.done():
                turn.set_result(None)  # the place passes on: `running` stays the same
                return
        self.running -= 1


class Admission:
    """The ASGI middleware (see the module). `gate_for` gives each event loop its own gate."""

    def __init__(self, app: ASGIApp, *, active: int, queued: int, wait_ms: int) -> None:
        self.app = app
        self.active = active
        self.queued = queued
        self.wait = wait_ms / 1000
        self._gates: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def gate(self) -> Gate:
        loop = asyncio.get_running_loop()
        found = self._gates.get(loop)
        if found is None:
            found = self._gates[loop] = Gate(self.active, self.queued, self.wait)
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        gate = self.gate()
        started = time.perf_counter()
        if not await gate.enter():
            now = time.monotonic()
            gate.note_shed(now)
            REFUSED_REQUESTS.labels("shed").inc()
            retry_after = _spread(gate.retry_after(now))
            _log_shed(gate, now, retry_after)
            await _busy(scope, send, retry_after)
            return
        try:
            if (
                time.perf_counter() - started > PEEK_SECONDS
            ):  # it waited: is its client still there?
                first = await _peek(receive)
                if first is not None and first["type"] == "http.disconnect":
                    gate.abandoned += 1
                    REFUSED_REQUESTS.labels("abandoned").inc()
                    log.info(
                        "client left while %s %s waited: not carried out",
                        scope["method"],
                        scope["path"],
                    )
                    return
                receive = _replaying(first, receive)
            await self.app(scope, receive, send)
        finally:
            gate.leave()
            gate.note_done(time.monotonic())


def _spread(seconds: int) -> int:
    """Clients shed in the same moment come back spread over half as long again (not all in
    the same second)."""
    return min(MAX_RETRY_AFTER, seconds + random.randint(0, seconds // 2))


def _log_shed(gate: Gate, now: float, retry_after: int) -> None:
    """One log line a second at most while shedding (a line per shed request would add to the
    work of a worker that is behind already)."""
    gate.unlogged += 1
    if now - gate.logged_at < 1.0:
        return
    log.info(
        "busy: %d request(s) shed since the last line (%d running, %d waiting, Retry-After %d s)",
        gate.unlogged,
        gate.running,
        len(gate.waiters),
        retry_after,
    )
    gate.logged_at, gate.unlogged = now, 0


async def _peek(receive: Receive) -> Message | None:
    """The request's next message if it is there at once (its body, or that its client left);
    None if it has not arrived yet (a slow upload: the route will read it)."""
    try:
        return await asyncio.wait_for(receive(), PEEK_SECONDS)
    except TimeoutError:
        return None


def _replaying(first: Message | None, receive: Receive) -> Receive:
    if first is None:
        return receive
    pending: list[Message] = [first]

    async def replay() -> Message:
        if pending:
            return pending.pop()
        return await receive()

    return replay


def _wants_json(scope: Scope) -> bool:
    if scope["path"].startswith("/api/"):
        return True
    for name, value in scope.get("headers", ()):
        if name == b"accept":
            return b"text/html" not in value and b"json" in value
    return False


def _html(retry_after: int) -> bytes:
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>请稍后再试 · OneThing</title></head><body><main>"
        f"<h1>请稍后再试</h1><p>{MESSAGE}</p>"
        f'<p lang="en">{MESSAGE_EN}</p>'
        f"<p>约 {retry_after} 秒后刷新本页即可。</p></main></body></html>"
    ).encode()


async def _busy(scope: Scope, send: Send, retry_after: int) -> None:
    if _wants_json(scope):
        body = json.dumps(problem_body(Busy(MESSAGE, MESSAGE_EN)), ensure_ascii=False).encode()
        media = PROBLEM
    else:
        body = _html(retry_after)
        media = "text/html; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", media.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(retry_after).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
