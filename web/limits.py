"""Request body limits: every route reads at most the bytes it declares, and nothing more reaches
the route, the form parser or the disk.

A route declares its limit with `body_limit` (below its route decorator, like `read_only`); a
route without one takes `DEFAULT_BODY_LIMIT`, enough for any JSON body or plain form of the app.
The `BodyLimit` middleware counts the body as the route reads it: the first read looks the limit
up on the matched route (routing is done by then, nothing is read yet) and refuses at once when
the request's Content-Length is larger; every read adds its bytes, and the read that passes the
limit is refused. Starlette's multipart parser writes a file part to a temporary file once it
passes 1 MB: counting before the parser sees a chunk keeps a large body off the disk.

The refusal is `BodyTooLarge`, an HTTP 413 with the app's own bilingual message, stating the
size sent (or "more than" what was read of a body of unknown length) and the limit, never the
body (web/app.py renders it as JSON or as the error page). A route that never reads its body
is not refused: what it does not read is not received.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from forms.catalog import Catalog

DEFAULT_BODY_LIMIT = 64 * 1024
# What a multipart form needs besides its files: boundaries, part headers and its text fields.
FORM_SLACK = 256 * 1024

Limit = int | Callable[[Any], int]  # bytes, or bytes computed from the runtime


def body_limit(limit: Limit):
    """Declare the most bytes a route's request body may have: a number, or a function of the
    runtime (e.g. `material_forms`), computed once per application."""

    def mark(endpoint):
        endpoint.onething_body_limit = limit
        return endpoint

    return mark


def materials_per_form(catalog: Catalog) -> int:
    """The most material files one form can carry: the largest matter's materials, and room for
    an item a deployed process version adds to a matter (the catalog's largest item's)."""
    largest_matter = max(
        (
            len({m.code for item in catalog.items_of(matter) for m in item.materials})
            for matter in catalog.matters.values()
        ),
        default=0,
    )
    largest_item = max((len(item.materials) for item in catalog.items.values()), default=0)
    return largest_matter + largest_item


def material_forms(runtime) -> int:
    """The limit of a form that carries materials (an application, a correction, the front
    desk's scans): every material at the per-file upload limit, and the form's fields."""
    per_file = runtime.settings.upload_limit_bytes
    return per_file * materials_per_form(runtime.catalog) + FORM_SLACK


def size_text(size: int) -> str:
    """A size as people read it: 64 KB, 2 MB, 12.5 MB, 1 GB (rounded to one decimal)."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{-(-size // 1024)} KB"


class BodyTooLarge(HTTPException):
    """A request body over its route's limit: `size` is its Content-Length, or None when the
    body came without one and `received` bytes were read before it was refused."""

    def __init__(self, *, limit: int, size: int | None, received: int = 0) -> None:
        super().__init__(status_code=413, headers={"Connection": "close"})
        self.limit = limit
        self.size = size
        self.received = received
        allowed = size_text(limit)
        if size is not None:
            self.message = f"提交的内容过大（{size_text(size)}），上限为 {allowed}"
            self.message_en = (
                f"The request is too large ({size_text(size)}); the limit is {allowed}"
            )
        else:
            sent = size_text(received)
            self.message = f"提交的内容过大（超过 {sent}），上限为 {allowed}"
            self.message_en = f"The request is too large (more than {sent}); the limit is {allowed}"
        self.detail = self.message_en


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class BodyLimit:
    """The ASGI middleware that holds every request body to its route's limit (see the module)."""

    def __init__(self, app: ASGIApp, runtime: Any) -> None:
        self.app = app
        self.runtime = runtime
        self._limits: dict[Any, int] = {}  # endpoint -> bytes, resolved on first use

    def limit_of(self, endpoint: Any) -> int:
        found = self._limits.get(endpoint)
        if found is None:
            declared = getattr(endpoint, "onething_body_limit", DEFAULT_BODY_LIMIT)
            found = declared(self.runtime) if callable(declared) else declared
            if endpoint is not None:
                self._limits[endpoint] = found
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit: int | None = None
        received = 0

        async def limited() -> Message:
            nonlocal limit, received
            if limit is None:  # the first read: the route is known, nothing is read yet
                limit = self.limit_of(scope.get("endpoint"))
                size = _content_length(scope)
                if size is not None and size > limit:
                    raise BodyTooLarge(limit=limit, size=size)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit=limit, size=None, received=received)
            return message

        await self.app(scope, limited, send)
