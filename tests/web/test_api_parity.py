"""Parity: everything a person can do in a page, a program can do through the JSON API. Every
page route names its API twins (`web.api.routing.twin`), and each named operation exists in
the OpenAPI document."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

from fastapi.routing import APIRoute, iter_route_contexts

from services.runtime import Runtime
from web.api.routing import PREFIX
from web.app import create_app

# Routes that are not pages of the service: the API's own documentation, the health checks
# (JSON for the proxy and monitoring already), the metrics (text for Prometheus), the icon.
NOT_PAGES = {
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/metrics",
    "/healthz",
    "/readyz",
    "/favicon.ico",  # a redirect to the static icon
    # the elderly-friendly mode (长辈版): how this browser shows the pages (a cookie, no
    # account data), so the API has nothing to switch
    "/preferences/elderly",
}


def _app():
    return create_app(cast(Runtime, SimpleNamespace()))


def test_every_page_names_its_api_twins_and_they_exist():
    app = _app()
    operations = {
        f"{method.upper()} {path}"
        for path, methods in app.openapi()["paths"].items()
        for method in methods
    }
    missing, unknown, pages = [], [], 0
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or route.path.startswith(PREFIX):
            continue
        if route.path in NOT_PAGES:
            continue
        pages += 1
        for method in sorted(route.methods - {"HEAD"}):
            twins = getattr(route.endpoint, "api_twins", None)
            if not twins:
                missing.append(f"{method} {route.path}")
                continue
            unknown += [f"{method} {route.path} -> {t}" for t in twins if t not in operations]
    assert pages > 60  # the walk found the pages (included routers are walked, not skipped)
    assert not missing, "pages without an API twin:\n  " + "\n  ".join(missing)
    assert not unknown, "twins that are not API operations:\n  " + "\n  ".join(unknown)
