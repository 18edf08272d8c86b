"""Hostile input to every route of the application, as nobody signed in and as every kind of
caller: numbers too large for any column, negative and non-numeric ids, very long strings, NUL
characters, bodies of the wrong content type, malformed JSON and multipart. Nothing may make
the server fail (5xx); a browser is answered with an HTML page, never raw JSON, when it asked
for no such page (404) or sent what the route cannot take (422).

The routes are walked from the application itself (as tests/web/test_route_walk.py does, whose
`world` of rows and callers this test borrows): a route added later is attacked too. Every
parameter a route declares (path, query, form, JSON body field) gets each hostile value while
the others keep valid values; routes that read their form themselves get hostile fields too.
Callers the route walk says may use a route get every request; the others get one request per
parameter (they are refused before the input is looked at)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import pytest
from fastapi.routing import iter_route_contexts

from tests.web.test_route_walk import (  # noqa: F401 - `world` is a fixture
    ANONYMOUS,
    QUERIES,
    Caller,
    _callers,
    _routes,
    allowed_roles,
    world,
)

HUGE = "1" * 30
LONG = "长" * 3000 + "x" * 3000
HOSTILE = [
    HUGE,
    "-" + HUGE,
    "-1",
    "0",
    "abc",
    "1.5",
    "1e309",
    "１２",  # full-width digits
    LONG,
    "a\x00b",
    "\x00",
    "../../etc/passwd",
    "%",
    "<script>alert(1)</script>",
    "",
]
MALFORMED_BODIES = [
    ("application/json", b"{not json"),
    ("application/json", b'["a list", "not an object"]'),
    ("application/json", b'{"a": ' * 200 + b"1" + b"}" * 200),
    ("application/json", b'{"a": "\\u0000"}'),
    ("text/plain", b"hello"),
    ("application/x-www-form-urlencoded", b"a=%00&%%%=&=&b=" + b"x" * 1000),
    ("multipart/form-data; boundary=zz", b"--zz\r\nnot a part\r\n--zz--"),
    ("multipart/form-data", b"no boundary at all"),
    (
        "multipart/form-data; boundary=zz",
        b'--zz\r\nContent-Disposition: form-data; name="material_x"; filename="a\x00.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n%PDF-1.4\x00\x00\r\n--zz--\r\n",
    ),
]
SKIPPED = {"POST /logout", "POST /api/v1/logout"}  # end the caller's session: others need it


@dataclass(frozen=True)
class Shape:
    """What a route takes: its path, query and body parameters, and how its body is sent."""

    key: str
    method: str
    path: str
    query: tuple[str, ...]
    body: tuple[str, ...]
    body_kind: str  # "json", "form", "" (none declared: the route may read a form itself)


def _shapes(app) -> list[Shape]:
    found = []
    contexts = {
        (method, ctx.path): ctx
        for ctx in iter_route_contexts(app.routes)
        for method in (ctx.methods or ())
    }
    for method, path in _routes(app):
        key = f"{method} {path}"
        ctx = contexts.get((method, path))
        dependant = getattr(getattr(ctx, "original_route", None), "dependant", None)
        query: list[str] = []
        body: list[str] = []
        kind = ""
        stack = [dependant] if dependant is not None else []
        while stack:
            current = stack.pop()
            query += [param.alias for param in current.query_params]
            for param in current.body_params:
                info = param.field_info
                if type(info).__name__ in ("Form", "File"):
                    kind = "form"
                    body.append(param.alias)
                else:
                    kind = "json"
                    model = info.annotation
                    body += list(getattr(model, "model_fields", {}) or [param.alias])
            stack += current.dependencies
        found.append(Shape(key, method, path, tuple(query), tuple(body), kind))
    return found


def _url(shape: Shape, values: dict, overrides: dict) -> str:
    params = {**values, **next((o for p, o in overrides.items() if shape.path.startswith(p)), {})}
    return shape.path.format(**params)


def _requests(shape: Shape, url: str, *, full: bool) -> list[dict]:
    """The hostile requests for one route: (method, url, body) as TestClient arguments."""
    hostile = HOSTILE if full else [HUGE]
    found = []
    shape_parts, url_parts = shape.path.split("/"), url.split("/")
    for index, part in enumerate(shape_parts):
        if part.startswith("{"):
            for value in hostile:
                bad = [*url_parts[:index], quote(value, safe=""), *url_parts[index + 1 :]]
                found.append({"url": "/".join(bad)})
    base = url + QUERIES.get(shape.path, "")
    for name in shape.query:
        for value in hostile:
            separator = "&" if "?" in base else "?"
            found.append({"url": f"{base}{separator}{quote(name)}={quote(value, safe='')}"})
    if shape.method == "POST":
        fields = list(shape.body) or ["x", "material_x", "comment"]
        for name in fields:
            for value in hostile:
                if shape.body_kind == "json":
                    found.append({"url": base, "json": {name: value}})
                    found.append({"url": base, "json": {name: [value], "other": {"a": value}}})
                else:
                    found.append({"url": base, "data": {name: value}})
        if full:
            for content_type, raw in MALFORMED_BODIES:
                found.append({"url": base, "content": raw, "content_type": content_type})
            found.append({"url": base, "files": [("material_x", ("a.pdf", b"%PDF\x00", "x/y"))]})
    return found


def _send(caller: Caller, method: str, request: dict):
    headers = dict(caller.headers or {})
    if caller.csrf:
        headers["X-CSRF-Token"] = caller.csrf
    if "content_type" in request:
        headers["Content-Type"] = request["content_type"]
    options = {k: v for k, v in request.items() if k in ("json", "data", "content", "files")}
    return caller.client.request(method, request["url"], headers=headers, **options)


def _is_browser(caller: Caller, url: str) -> bool:
    return caller.headers is None and not url.startswith("/api/v1/")


def test_no_hostile_input_makes_any_route_fail(app, browser, world):  # noqa: F811
    values, overrides = world
    callers = _callers(app, browser)
    for caller in callers.values():
        caller.client._transport.raise_server_exceptions = False  # a 500 is a finding, listed
    problems = []
    for shape in _shapes(app):
        roles = allowed_roles(shape.key)
        if shape.key in SKIPPED or roles is None or shape.path.startswith(("/static", "/vendor")):
            continue
        try:
            url = _url(shape, values, overrides)
        except KeyError:
            continue
        for role, caller in callers.items():
            full = role in roles or role == ANONYMOUS
            for request in _requests(shape, url, full=full):
                response = _send(caller, shape.method, request)
                where = f"{shape.key} as {role}: {request['url'][:120]!r} {str(request)[:160]}"
                if response.status_code >= 500:
                    problems.append(f"{where} -> {response.status_code} {response.text[:200]!r}")
                elif response.status_code in (404, 422) and _is_browser(caller, request["url"]):
                    kind = response.headers.get("content-type", "")
                    if not kind.startswith("text/html"):
                        problems.append(f"{where} -> {response.status_code} as {kind}")
                # An error answer (JSON, or the error page) never repeats the input; a form
                # shown again with what was typed, to correct it, is not an error answer.
                refusal = "application/json" in response.headers.get("content-type", "")
                refusal = refusal or 'id="error" data-status' in response.text
                echoed = LONG[:200] in response.text or "\x00" in response.text
                if response.status_code >= 400 and refusal and echoed:
                    problems.append(f"{where} -> {response.status_code} echoes its input")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:80])


@pytest.mark.parametrize("url", ["/no-such-page", f"/cases/{HUGE}", "/inbox?page=abc"])
def test_an_anonymous_browser_gets_an_html_page_for_a_bad_address(app, url):
    from fastapi.testclient import TestClient

    with TestClient(app, follow_redirects=False) as client:
        response = client.get(url)
    # a page that needs a session sends the browser to sign in before it looks at the input
    assert response.status_code in (303, 404, 422)
    if response.status_code != 303:
        assert response.headers["content-type"].startswith("text/html")
