"""Admission control (web/admission.py): a saturated worker sheds the excess at once with 503 and
Retry-After, serves what it admitted in order, never carries out a request whose client left
while it waited, and an application shed and sent again is accepted once."""

from __future__ import annotations

import asyncio
import json
import threading

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from demo.seed import DEMO_PASSWORD
from services.cases.models import Case
from tests.security.test_event_loop import WAIT, SlowRegistry
from tests.web.conftest import FATHER, MOTHER, NEWBORN_ANSWERS
from web.admission import Admission
from web.app import create_app


class Held:
    """An ASGI app whose requests to /hold wait until released; every call is recorded."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.release = asyncio.Event()
        self.entered = asyncio.Event()

    async def __call__(self, scope, receive, send) -> None:
        self.calls.append(scope["path"])
        if scope["path"] == "/hold":
            self.entered.set()
            await self.release.wait()
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def _scope(path: str, method: str = "GET") -> dict:
    return {"type": "http", "method": method, "path": path, "headers": []}


async def _request(app, path: str, *, gone: bool = False) -> dict:
    """Send one request through `app`; the answer's status, headers and body. `gone`: the
    client has left by the time the request is looked at."""
    sent: list[dict] = []

    async def receive():
        return {"type": "http.disconnect"} if gone else {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    await app(_scope(path), receive, send)
    if not sent:
        return {"status": None}
    start = sent[0]
    return {
        "status": start["status"],
        "headers": {k.decode(): v.decode() for k, v in start["headers"]},
        "body": b"".join(m.get("body", b"") for m in sent[1:]),
    }


def test_past_its_queue_a_worker_answers_503_with_retry_after_at_once():
    async def run():
        inner = Held()
        app = Admission(inner, active=1, queued=1, wait_ms=10_000)
        first = asyncio.create_task(_request(app, "/hold"))
        await inner.entered.wait()
        second = asyncio.create_task(_request(app, "/api/v1/tasks"))  # waits its turn
        await asyncio.sleep(0)
        third = await _request(app, "/api/v1/cases")  # the queue is full: shed now
        assert third["status"] == 503
        # one queue's wait (nothing finished yet to measure a rate), spread by up to half
        assert 10 <= int(third["headers"]["retry-after"]) <= 15
        assert third["headers"]["content-type"] == "application/problem+json"
        problem = json.loads(third["body"])
        assert problem["code"] == "busy" and "稍后再试" in problem["detail"]
        assert "/api/v1/cases" not in inner.calls  # nothing of it was done
        page = await _request(app, "/matters/newborn/apply")  # a browser gets a page
        assert page["status"] == 503 and page["headers"]["content-type"].startswith("text/html")
        inner.release.set()
        assert (await first)["status"] == 200
        assert (await second)["status"] == 200  # the admitted one was served, in its turn
        assert inner.calls == ["/hold", "/api/v1/tasks"]
        assert app.gate().running == 0 and not app.gate().waiters

    asyncio.run(run())


def test_a_request_that_waits_too_long_is_shed_and_the_probes_always_pass():
    async def run():
        inner = Held()
        app = Admission(inner, active=1, queued=10, wait_ms=20)
        first = asyncio.create_task(_request(app, "/hold"))
        await inner.entered.wait()
        waited = await _request(app, "/api/v1/tasks")
        assert waited["status"] == 503 and waited["headers"]["retry-after"] == "1"
        assert (await _request(app, "/healthz"))["status"] == 200  # alive, and says so
        assert (await _request(app, "/static/app.css"))["status"] == 200
        inner.release.set()
        await first
        assert app.gate().shed == 1 and app.gate().running == 0
        assert (await _request(app, "/api/v1/tasks"))["status"] == 200  # free again

    asyncio.run(run())


def test_a_request_whose_client_left_while_it_waited_is_not_carried_out():
    async def run():
        inner = Held()
        app = Admission(inner, active=1, queued=5, wait_ms=10_000)
        first = asyncio.create_task(_request(app, "/hold"))
        await inner.entered.wait()
        left = asyncio.create_task(_request(app, "/api/v1/cases", gone=True))
        stays = asyncio.create_task(_request(app, "/api/v1/tasks"))
        await asyncio.sleep(0.01)
        inner.release.set()
        await first
        assert (await left)["status"] is None  # no answer: nobody is there to read it
        assert (await stays)["status"] == 200
        assert "/api/v1/cases" not in inner.calls
        assert app.gate().abandoned == 1 and app.gate().running == 0

    asyncio.run(run())


def test_a_saturated_server_sheds_an_application_that_is_accepted_once_when_sent_again(rt):
    """One place, no queue: while a submission holds the place (held in the registry), another
    citizen's application is answered 503 with Retry-After and nothing of it is kept; sent
    again later with the same Idempotency-Key it is accepted, and once more it is replayed."""
    rt.settings.max_active_requests = 1
    rt.settings.max_queued_requests = 0
    app = create_app(rt)
    slow = SlowRegistry(rt.registry)
    body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
    with TestClient(app) as client:

        def sign_in(username: str) -> dict[str, str]:
            answer = client.post(
                "/api/v1/login", json={"username": username, "password": DEMO_PASSWORD}
            )
            assert answer.status_code == 200, answer.text
            return {"Authorization": f"Bearer {answer.json()['token']}"}

        mother, father = sign_in(MOTHER), sign_in(FATHER)
        keyed = {**father, "Idempotency-Key": "father-newborn-1"}
        rt.registry = slow
        answers: dict[str, int] = {}

        def submit() -> None:
            answers["mother"] = client.post("/api/v1/cases", json=body, headers=mother).status_code

        holding = threading.Thread(target=submit)
        holding.start()
        try:
            assert slow.entered.wait(WAIT), "the first submission never reached the registry"
            shed = client.post("/api/v1/cases", json=body, headers=keyed)
        finally:
            slow.release.set()
            holding.join(WAIT)
        rt.registry = slow._registry
        assert answers == {"mother": 201}
        assert shed.status_code == 503, shed.text
        assert int(shed.headers["Retry-After"]) >= 1
        assert shed.json()["code"] == "busy"
        with Session(rt.db) as session:
            assert session.exec(select(Case).where(Case.applicant_id_number == FATHER)).all() == []

        again = client.post("/api/v1/cases", json=body, headers=keyed)
        assert again.status_code == 201, again.text
        replayed = client.post("/api/v1/cases", json=body, headers=keyed)
        assert replayed.status_code == 201 and replayed.headers.get("Idempotent-Replayed") == "true"
        assert replayed.json()["id"] == again.json()["id"]
        with Session(rt.db) as session:
            cases = session.exec(select(Case).where(Case.applicant_id_number == FATHER)).all()
        assert len(cases) == 1


def test_retry_after_grows_with_how_far_behind_the_worker_is():
    """Past capacity, a shed client is told to come back when the worker can have served the
    ones waiting and those it shed lately (at the rate it finished requests lately), not all
    after the same second; at least one queue's wait, at most MAX_RETRY_AFTER."""
    from web.admission import MAX_RETRY_AFTER, RATE_WINDOW, Gate

    gate = Gate(active=1, queued=0, wait=1.0)
    assert gate.retry_after(100.0) == 1  # nothing finished lately: one queue's wait
    for i in range(10):  # 5 requests a second finished
        gate.note_done(100.0 + i * 0.1)
    assert gate.retry_after(101.0) == 1  # none shed: no one to come back
    for _ in range(100):
        gate.note_shed(101.0)
    assert gate.retry_after(101.0) == 20  # 100 to come back at 5 a second
    for _ in range(1000):
        gate.note_shed(101.0)
    assert gate.retry_after(101.0) == MAX_RETRY_AFTER
    # what was shed and finished long ago no longer counts
    assert gate.retry_after(101.0 + RATE_WINDOW + 1) == 1


async def _post_and_leave(app, path: str, body: bytes, headers: dict, leave: asyncio.Event):
    """POST `body` to `app` as a client that leaves (its connection closes) once `leave` is
    set, before reading any answer; the answer's status, sent to nobody."""
    sent: list[dict] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        if messages:
            return messages.pop()
        await leave.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    await app(scope, receive, send)
    return sent[0]["status"] if sent else None


def test_an_application_whose_client_left_before_its_commit_is_not_kept(rt):
    """A client that gives up while its application is being worked out (here: held in the
    registry) leaves no case behind: the commit is refused, nothing of it is kept, and its
    Idempotency-Key is given back, so the same application sent again is accepted once."""
    app = create_app(rt)
    slow = SlowRegistry(rt.registry)
    body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
    with TestClient(app) as client:
        answer = client.post("/api/v1/login", json={"username": FATHER, "password": DEMO_PASSWORD})
        father = {"Authorization": f"Bearer {answer.json()['token']}"}
        keyed = {**father, "Idempotency-Key": "father-left-1", "Content-Type": "application/json"}

        async def leave_while_held() -> int | None:
            leave = asyncio.Event()
            posted = asyncio.ensure_future(
                _post_and_leave(app, "/api/v1/cases", json.dumps(body).encode(), keyed, leave)
            )
            entered = await asyncio.to_thread(slow.entered.wait, WAIT)
            assert entered, "the submission never reached the registry"
            leave.set()  # the client gives up
            await asyncio.sleep(0.05)  # the watcher hears of it
            slow.release.set()  # the submission goes on, to its commit
            return await posted

        rt.registry = slow
        try:
            status = asyncio.run(leave_while_held())
        finally:
            slow.release.set()
            rt.registry = slow._registry
        assert status == 499
        with Session(rt.db) as session:
            assert session.exec(select(Case).where(Case.applicant_id_number == FATHER)).all() == []

        again = client.post("/api/v1/cases", json=body, headers=keyed)
        assert again.status_code == 201, again.text
        with Session(rt.db) as session:
            cases = session.exec(select(Case).where(Case.applicant_id_number == FATHER)).all()
        assert len(cases) == 1


def test_a_client_that_stays_is_not_taken_for_gone_and_reads_are_not_watched():
    """The watch changes nothing for a client that waits for its answer: the connection closing
    after the answer is no news, and a GET is not watched at all."""
    from web.client_gone import ClientWatch, current_flag

    async def run():
        flags: list = []

        async def inner(scope, receive, send):
            await receive()
            flags.append(current_flag())
            await asyncio.sleep(0.01)  # the watcher waits meanwhile
            await send({"type": "http.response.start", "status": 201, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})
            await asyncio.sleep(0.01)  # the exchange is over: the connection closes

        app = ClientWatch(inner)
        answered = asyncio.Event()

        async def receive():
            if not flags:
                return {"type": "http.request", "body": b"{}", "more_body": False}
            await answered.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.body":
                answered.set()

        await app({**_scope("/x", "POST")}, receive, send)
        assert flags[0] is not None and not flags[0].is_set()
        assert (await _request(app, "/x"))["status"] == 201
        assert flags[1] is None  # a GET: nothing to watch

    asyncio.run(run())
