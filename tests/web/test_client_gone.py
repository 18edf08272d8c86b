"""A client that leaves while its form is being read (a live form's update overtaken by the next
one, a page left mid-post) is not a failure of ours: no 500, no traceback in the log."""

from __future__ import annotations

import asyncio
import logging

from tests.web.conftest import MOTHER, signed_in


def test_a_client_that_leaves_mid_body_gets_no_server_error(app, caplog):
    opened = []
    try:
        citizen = signed_in(app, MOTHER, opened)
        cookie = "; ".join(f"{name}={value}" for name, value in opened[0].cookies.items())
    finally:
        for client in opened:
            client.close()
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.disconnect"}  # the body never comes: the client has gone

    async def send(message: dict) -> None:
        sent.append(message)

    path = "/matters/newborn/apply/preview"
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
        "headers": [
            (b"host", b"testserver"),
            (b"cookie", cookie.encode()),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", b"64"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    assert citizen is not None
    with caplog.at_level(logging.INFO):
        asyncio.run(app(scope, receive, send))
    [start] = [m for m in sent if m["type"] == "http.response.start"]
    assert start["status"] == 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("client left" in r.getMessage() for r in caplog.records)
