"""A demo data-exchange platform (数据共享交换平台): any `Registry` served in the wire format of
`services.registries.http`, for signed clients only.

Run it over the generated demo registry::

    ONETHING_EXCHANGE_CLIENTS="onething:change-me" \\
        python -m demo.exchange_server --registry data/registry.sqlite --port 8600
"""

from __future__ import annotations

import argparse
import hmac
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from services.registries.http import (
    CLIENT_ID_HEADER,
    ENDPOINTS,
    NOT_FOUND,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Endpoint,
    encode_record,
    sign,
)
from services.registries.records import Registry

MAX_SKEW_SECONDS = 300.0
NO_STORE = {"Cache-Control": "no-store"}  # personal data: never cached on the way


class ExchangeError(Exception):
    """An error answer: HTTP status, a machine-readable code and a message."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def _target(request: Request) -> str:
    """The request target as the client sent and signed it: raw path plus query string."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    target = raw_path.split(b"?", 1)[0].decode("ascii")
    query = request.scope.get("query_string", b"").decode("ascii")
    return f"{target}?{query}" if query else target


def _verifier(clients: dict[str, str], max_skew: float, clock: Callable[[], float]):
    async def verify_signature(request: Request) -> str:
        """The calling client's id, once its signature and timestamp check out; else 401."""
        client_id = request.headers.get(CLIENT_ID_HEADER, "")
        timestamp = request.headers.get(TIMESTAMP_HEADER, "")
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not (client_id and timestamp and signature):
            raise ExchangeError(401, "unauthorized", "missing client id, timestamp or signature")
        secret = clients.get(client_id)
        if secret is None:
            raise ExchangeError(401, "unauthorized", "unknown client")
        try:
            fresh = abs(clock() - int(timestamp)) <= max_skew
        except ValueError:
            fresh = False
        if not fresh:
            raise ExchangeError(401, "unauthorized", "timestamp missing or out of range")
        expected = sign(secret, request.method, _target(request), timestamp)
        if not hmac.compare_digest(expected, signature):
            raise ExchangeError(401, "unauthorized", "bad signature")
        return client_id

    return verify_signature


def _handler(registry: Registry, endpoint: Endpoint) -> Callable[[Request], JSONResponse]:
    lookup = getattr(registry, endpoint.method)

    def answer(request: Request) -> JSONResponse:
        # a plain def: FastAPI runs it in its thread pool, so a blocking registry is fine
        options = {q: request.query_params[q] for q in endpoint.query if q in request.query_params}
        result: Any = lookup(request.path_params[endpoint.param], **options)
        if endpoint.many:
            body: Any = {"items": [encode_record(record) for record in result]}
        elif result is None:
            raise ExchangeError(404, NOT_FOUND, "no such record")
        else:
            body = encode_record(result)
        return JSONResponse(body, headers=NO_STORE)

    answer.__name__ = endpoint.method
    return answer


def create_exchange_app(
    registry: Registry,
    *,
    clients: dict[str, str],
    max_skew: float = MAX_SKEW_SECONDS,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The platform's app: one signed GET route per `Registry` method, plus `/healthz`.

    `clients` maps client ids to their secrets; a request whose timestamp is more than
    `max_skew` seconds from `clock()` (Unix time) is refused like a bad signature.
    """
    app = FastAPI(title="数据共享交换平台 (demo data-exchange platform)", version="1")
    verify = Depends(_verifier(dict(clients), max_skew, clock))
    for endpoint in ENDPOINTS.values():
        app.add_api_route(
            endpoint.path,
            _handler(registry, endpoint),
            methods=["GET"],
            dependencies=[verify],
            tags=[endpoint.registry],
        )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.exception_handler(ExchangeError)
    async def exchange_error(request: Request, exc: ExchangeError) -> JSONResponse:
        return JSONResponse(
            {"error": exc.error, "message": exc.message}, status_code=exc.status, headers=NO_STORE
        )

    return app


def parse_clients(value: str) -> dict[str, str]:
    """Client credentials from "id:secret,id2:secret2" (as in ONETHING_EXCHANGE_CLIENTS)."""
    clients: dict[str, str] = {}
    for entry in value.split(","):
        entry = entry.strip()
        if not entry:
            continue
        client_id, _, secret = entry.partition(":")
        if not client_id or not secret:
            raise ValueError(f"expected id:secret, got {client_id or entry!r}:…")
        clients[client_id] = secret
    return clients


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from services.registries.embedded import EmbeddedRegistry

    parser = argparse.ArgumentParser(
        description="Serve a registry file as a data-exchange platform."
    )
    parser.add_argument("--registry", type=Path, default=Path("data/registry.sqlite"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8600)
    args = parser.parse_args(argv)
    try:
        clients = parse_clients(os.environ.get("ONETHING_EXCHANGE_CLIENTS", ""))
    except ValueError as exc:
        parser.error(f"ONETHING_EXCHANGE_CLIENTS: {exc}")
    if not clients:
        parser.error('set ONETHING_EXCHANGE_CLIENTS="client-id:secret[,client-id:secret...]"')
    app = create_exchange_app(EmbeddedRegistry(args.registry), clients=clients)
    uvicorn.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
