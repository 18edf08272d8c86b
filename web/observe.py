"""Per-request observation: request id, W3C trace context, latency, one structured log line.

(Placeholder wired into the app and the CLI; the observability work fills it in.)"""

from __future__ import annotations

from typing import Any


class RequestObserver:
    """Pure ASGI middleware (no BaseHTTPMiddleware: it would cost a task per request)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        await self.app(scope, receive, send)


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration for `onething serve`."""
    from uvicorn.config import LOGGING_CONFIG

    return LOGGING_CONFIG
