"""web.routing.SerializeInThread: the same responses as FastAPI's own route, one thread hand-off."""

from __future__ import annotations

from datetime import date

import anyio.to_thread
import pytest
from fastapi import APIRouter, BackgroundTasks, FastAPI
from fastapi.exceptions import ResponseValidationError
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from web.routing import SerializeInThread


class Item(BaseModel):
    id: int
    due: date
    label: str = Field(alias="displayLabel")


class Row:  # an ORM-like object: the response model reads its attributes
    def __init__(self, id: int) -> None:
        self.id = id
        self.due = date(2026, 12, 1)
        self.displayLabel = f"item {id}"


def _app(route_class) -> tuple[FastAPI, list[str]]:
    ran: list[str] = []
    router = APIRouter(route_class=route_class) if route_class else APIRouter()

    @router.get("/items", response_model=list[Item])
    def items():
        return [Row(1), {"id": 2, "due": "2026-12-02", "displayLabel": "two"}]

    @router.post("/items", response_model=Item, status_code=201)
    def create(tasks: BackgroundTasks):
        tasks.add_task(ran.append, "after")
        return Row(3)

    @router.get("/broken", response_model=Item)
    def broken():
        return {"id": "not a number"}

    @router.get("/async", response_model=Item)
    async def on_loop():
        return Row(4)

    app = FastAPI()
    app.include_router(router)
    return app, ran


@pytest.fixture
def hops(monkeypatch) -> list[int]:
    counted = [0]
    original = anyio.to_thread.run_sync

    async def counting(func, *args, **kwargs):
        counted[0] += 1
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    return counted


def test_same_responses_as_fastapis_route():
    ours, _ = _app(SerializeInThread)
    theirs, _ = _app(None)
    with TestClient(ours) as a, TestClient(theirs) as b:
        for method, path in (("GET", "/items"), ("POST", "/items"), ("GET", "/async")):
            got, expected = a.request(method, path), b.request(method, path)
            assert got.status_code == expected.status_code
            assert got.json() == expected.json()
            assert got.headers["content-type"] == expected.headers["content-type"]
        assert a.post("/items").status_code == 201
        assert a.get("/items").json()[0] == {"id": 1, "due": "2026-12-01", "displayLabel": "item 1"}
    assert ours.openapi() == theirs.openapi()


def test_one_thread_hand_off_per_request(hops):
    ours, _ = _app(SerializeInThread)
    theirs, _ = _app(None)
    with TestClient(ours) as a, TestClient(theirs) as b:
        hops[0] = 0
        a.get("/items")
        assert hops[0] == 1
        hops[0] = 0
        b.get("/items")
        assert hops[0] == 2  # FastAPI's own: the endpoint, then the response's validation


def test_background_tasks_still_run():
    app, ran = _app(SerializeInThread)
    with TestClient(app) as client:
        client.post("/items")
    assert ran == ["after"]


def test_an_invalid_response_is_a_server_error():
    app, _ = _app(SerializeInThread)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/broken").status_code == 500
    with pytest.raises(ResponseValidationError), TestClient(app) as client:
        client.get("/broken")
