"""A lean HTTP/1.1 load client for the benchmarks: keep-alive connections on asyncio (uvloop when
installed), requests written as bytes, responses parsed by httptools (the parser uvicorn uses).

Why not httpx: at 200 concurrent connections httpx.AsyncClient spent 4-8 ms of CPU per request
in the benchmark's process, as much as the server spends on a submission. On a two-core machine
that CPU is taken from the server, so the load generator, not the server, set the figures (two
workers could not be told from one). This client costs a few hundredths of a millisecond.

It speaks only what the benchmarks need: one request at a time per connection, Content-Length
bodies or chunked responses (httptools decodes both), a new connection when the server closes
one. A transport failure raises `ConnectionError`/`OSError` to the caller, who counts it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import httptools

try:  # the server's event loop; the standard one works too
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a dependency of the server
    uvloop = None


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    """Run the coroutine function `main` on uvloop if it is installed."""
    if uvloop is not None:
        return uvloop.run(main())
    return asyncio.run(main())


class _Message:
    """httptools' callbacks for one response."""

    __slots__ = ("body", "complete", "retry_after")

    def __init__(self) -> None:
        self.body = bytearray()
        self.complete = False
        self.retry_after: bytes | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"retry-after":
            self.retry_after = value

    def on_body(self, data: bytes) -> None:
        self.body += data

    def on_message_complete(self) -> None:
        self.complete = True


class Connection:
    """One keep-alive connection to `host:port`, opened on first use and after a close."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._host_header = f"Host: {host}:{port}\r\n".encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        # The last response's Retry-After in seconds (None when it had none): a shed
        # request is sent again after what the server asked for.
        self.retry_after: float | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, bytes]:
        """Send one request and read its whole response: (status, body)."""
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        head = [f"{method} {path} HTTP/1.1\r\n".encode(), self._host_header]
        for name, value in (headers or {}).items():
            head.append(f"{name}: {value}\r\n".encode())
        if body or method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(body)}\r\n".encode())
        head.append(b"\r\n")
        try:
            self._writer.write(b"".join(head) + body)
            message = _Message()
            parser = httptools.HttpResponseParser(message)
            while not message.complete:
                data = await self._reader.read(65536)
                if not data:
                    raise ConnectionError("the server closed the connection before responding")
                parser.feed_data(data)
        except BaseException:
            await self.close()  # the connection's state is unknown: never reuse it
            raise
        status = parser.get_status_code()
        self.retry_after = _seconds(message.retry_after)
        if not parser.should_keep_alive():
            await self.close()
        return status, bytes(message.body)

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()


def _seconds(value: bytes | None) -> float | None:
    """A Retry-After of delay-seconds (the server never sends an HTTP date)."""
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
