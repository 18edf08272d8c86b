"""Security headers on every response: pages, the JSON API, static files and errors.

- `Content-Security-Policy`: scripts, styles, fonts and images from this site only (no inline
  script or style, no `javascript:` links, no plugins), forms post here only, and no other
  site may frame a page (`frame-ancestors 'none'`, with `X-Frame-Options: DENY` for older
  browsers). A JSON block (`<script type="application/json">`) is data, which the policy allows.
- `X-Content-Type-Options: nosniff`: a response is only what its Content-Type says.
- `Referrer-Policy: same-origin`: no address of ours (case numbers, masked IDs in a search)
  travels to another site.
- `Cache-Control: no-store` on everything but the static assets: pages and API answers carry
  personal data, which must not stay in a browser's or a proxy's cache.
- `Strict-Transport-Security` when the site runs behind HTTPS (`ONETHING_SECURE_COOKIES`).

A header a route set itself is kept (an uploaded material's stricter sandboxing policy). The API
documentation pages (/docs, /redoc) load Swagger UI and ReDoc from their CDN with an inline
start script: they get a policy that allows exactly that, and only they do.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' data: https://fonts.gstatic.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
STATIC_PREFIXES = ("/static/", "/vendor/")
HSTS = "max-age=31536000"

Headers = list[tuple[bytes, bytes]]


def _encoded(headers: dict[str, str]) -> Headers:
    return [(name.lower().encode(), value.encode()) for name, value in headers.items()]


class ResponseHeaders:
    """The headers above, encoded once, for each kind of path."""

    def __init__(self, *, docs_paths: Iterable[str] = (), hsts: bool = False) -> None:
        self.docs_paths = frozenset(docs_paths)
        common = {
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin",
        }
        if hsts:
            common["Strict-Transport-Security"] = HSTS
        self._static = _encoded({**common, "Content-Security-Policy": POLICY})
        self._pages = _encoded(
            {**common, "Content-Security-Policy": POLICY, "Cache-Control": "no-store"}
        )
        self._docs = _encoded(
            {**common, "Content-Security-Policy": DOCS_POLICY, "Cache-Control": "no-store"}
        )

    def headers_for(self, path: str) -> Headers:
        """The headers a response to `path` gets."""
        if path.startswith(STATIC_PREFIXES):
            return self._static
        if path in self.docs_paths:
            return self._docs
        return self._pages

    def add_to(self, raw: Headers, path: str) -> None:
        """Add the headers for `path` to a response's raw header list, keeping any already set."""
        present = {name.lower() for name, _value in raw}
        raw.extend(header for header in self.headers_for(path) if header[0] not in present)


class SecurityHeaders:
    """The ASGI middleware that adds `headers` to every response. (A 500 answered for an
    unexpected exception is sent from outside every middleware: its handler adds them itself.)"""

    def __init__(self, app: ASGIApp, *, headers: ResponseHeaders) -> None:
        self.app = app
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = message["headers"] = list(message.get("headers", ()))
                self.headers.add_to(raw, path)
            await send(message)

        await self.app(scope, receive, send_with_headers)
