"""The HTTP surface: request-size limits with the app's own 413, security headers on every
response, the CSRF check a stray Authorization header cannot switch off, error pages for
browsers and JSON for the API that never echo the input nor tell anything internal, BPMN
downloads as attachments, CSV exports that a spreadsheet cannot run."""

from __future__ import annotations

import csv
import io
import logging
import re
import socket
from pathlib import Path

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from demo.seed import DEMO_PASSWORD
from services.dashboard import DepartmentFigures, figures_csv
from tests.live import serve
from tests.web.conftest import MOTHER
from web.app import create_app
from web.limits import DEFAULT_BODY_LIMIT, material_forms
from web.routes.processes import MAX_BPMN_BYTES
from web.routes.verify import MAX_PDF

WEB = Path(__file__).resolve().parents[2] / "web"
HUGE = "1" * 30  # a number no database column holds
MARKER = "ECHO-MARKER-7f3a"  # a value sent in a request, which no answer may repeat


def _bearer(client: TestClient, username: str) -> dict[str, str]:
    body = {"username": username, "password": DEMO_PASSWORD}
    return {"Authorization": f"Bearer {client.post('/api/v1/login', json=body).json()['token']}"}


# ---------------------------------------------------------------- CSRF


def test_a_cookie_session_with_another_authorization_header_still_needs_the_csrf_token(browser):
    citizen = browser(MOTHER)
    refused = citizen.client.post("/inbox/read-all", headers={"Authorization": "Basic x"})
    assert refused.status_code == 403
    assert "安全校验未通过" in refused.text
    allowed = citizen.client.post(
        "/inbox/read-all", headers={"Authorization": "Basic x", "X-CSRF-Token": citizen.csrf}
    )
    assert allowed.status_code == 303  # only the token was missing


def test_a_junk_bearer_token_does_not_fall_back_to_the_cookie(browser):
    citizen = browser(MOTHER)
    refused = citizen.client.post("/inbox/read-all", headers={"Authorization": "Bearer junk"})
    assert refused.status_code == 401  # not the cookie's user, and no CSRF check skipped
    assert refused.json()["detail_en"] == "Please sign in"


def test_a_bearer_token_needs_no_csrf_token(app):
    with TestClient(app, follow_redirects=False) as client:
        headers = _bearer(client, MOTHER)
        assert client.post("/inbox/read-all", headers=headers).status_code == 303


# ---------------------------------------------------------------- request sizes


def _raw_request(base: str, head: str, body_chunks: list[bytes] = ()) -> bytes:
    """Send a request over a plain socket (headers, then `body_chunks` as they are) and return
    the raw answer, read until the server closes the connection."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
        for chunk in body_chunks:
            sock.sendall(chunk)
        answer = b""
        while part := sock.recv(65536):
            answer += part
    return answer


def test_an_upload_larger_than_its_limit_is_refused_before_a_byte_is_read(app):
    """An anonymous 1 GB "certificate" to /verify: the answer comes at once, with no body sent
    at all (a server that read it would wait for the gigabyte, and the socket would time out)."""
    with serve(app) as base:
        answer = _raw_request(
            base,
            "POST /verify/abc HTTP/1.1\nHost: test\nContent-Type: multipart/form-data; "
            "boundary=x\nContent-Length: 1073741824\n",
        )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert b"connection: close" in head.lower()
    page = body.decode()
    assert "提交的内容过大（1 GB），上限为 5.2 MB" in page
    assert "The request is too large (1 GB); the limit is 5.2 MB" in page


def test_a_streamed_body_is_refused_as_soon_as_it_passes_the_limit(app):
    """A body without a length, sent in chunks to one byte past the sign-in form's limit and
    never ended: refused at that byte (a server that waited for the end would never answer,
    and the socket would time out); the form parser saw at most the limit."""
    part = (
        b'--x\r\nContent-Disposition: form-data; name="username"; filename="a.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )
    rest = DEFAULT_BODY_LIMIT + 1 - len(part)
    chunks = [part] + [b"\0" * 16384] * (rest // 16384) + [b"\0" * (rest % 16384)]
    framed = [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for chunk in chunks]
    with serve(app) as base:
        answer = _raw_request(
            base,
            "POST /login HTTP/1.1\nHost: test\nContent-Type: multipart/form-data; boundary=x\n"
            "Transfer-Encoding: chunked\n",
            framed,
        )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert "提交的内容过大（超过 65 KB），上限为 64 KB" in body.decode()


def test_an_api_body_over_the_limit_gets_json_stating_its_size_without_echoing_it(app):
    with TestClient(app) as client:
        body = '{"username": "' + MARKER * 7000 + '", "password": "x"}'
        response = client.post(
            "/api/v1/login", content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:onething:problem:payload_too_large",
        "title": "提交的内容过大",
        "title_en": "Payload too large",
        "status": 413,
        "code": "payload_too_large",
        "detail": f"提交的内容过大（{-(-len(body) // 1024)} KB），上限为 64 KB",
        "detail_en": f"The request is too large ({-(-len(body) // 1024)} KB); the limit is 64 KB",
    }
    assert MARKER not in response.text


def test_forms_with_materials_take_every_material_at_the_upload_limit(rt, browser):
    rt.settings.upload_limit_bytes = 100 * 1024
    citizen = browser(MOTHER)
    citizen.consent("newborn")
    limit = material_forms(rt)
    assert limit > 7 * 100 * 1024  # the newborn form's seven materials
    fits = citizen.post(
        "/matters/newborn/apply",
        files=[("material_x", ("x.pdf", b"%PDF" + b"0" * (limit - 64 * 1024), "application/pdf"))],
    )
    assert fits.status_code == 422  # read, and refused by the form's own checks
    too_large = citizen.post(
        "/matters/newborn/apply",
        files=[("material_x", ("x.pdf", b"%PDF" + b"0" * limit, "application/pdf"))],
    )
    assert too_large.status_code == 413
    assert too_large.headers["content-type"].startswith("text/html")
    assert "提交的内容过大" in too_large.text


def test_each_route_has_the_limit_its_uploads_need(app, rt):
    """The certificate check takes a PDF of MAX_PDF, a process upload a file of MAX_BPMN_BYTES
    and the editor's check and deploy the same file as JSON; anything else the default."""
    by_path = {
        (route.path, method): getattr(route.endpoint, "onething_body_limit", DEFAULT_BODY_LIMIT)
        for route in iter_route_contexts(app.routes)
        for method in route.methods or ()
    }
    assert by_path[("/verify/{public_id}", "POST")] > MAX_PDF
    assert by_path[("/admin/processes/{matter_code}/upload", "POST")] > MAX_BPMN_BYTES
    assert by_path[("/api/v1/admin/processes/{matter_code}/deploy", "POST")] >= 2 * MAX_BPMN_BYTES
    assert by_path[("/api/v1/admin/processes/{matter_code}/validate", "POST")] >= 2 * MAX_BPMN_BYTES
    for path in ("/matters/{code}/apply", "/frontdesk/apply/{matter}/{applicant_id}"):
        assert by_path[(path, "POST")] is material_forms
    assert by_path[("/cases/{case_id}/items/{item_id}/correction", "POST")] is material_forms
    assert by_path[("/api/v1/cases", "POST")] == DEFAULT_BODY_LIMIT


def test_a_process_file_over_its_limit_is_not_echoed_back(app):
    with TestClient(app) as client:
        headers = _bearer(client, "admin")
        xml = MARKER * (MAX_BPMN_BYTES // len(MARKER) + 10)
        response = client.post(
            "/api/v1/admin/processes/newborn/validate", json={"xml": xml}, headers=headers
        )
    assert response.status_code == 422
    assert MARKER not in response.text
    assert len(response.content) < 2000
    assert response.json()["fields"]["xml"]["zh"] == f"不能超过 {MAX_BPMN_BYTES} 个字符"


def test_problems_of_a_process_file_do_not_echo_it(app):
    """An element id of 100 KB makes every problem name it: the answer names it shortened."""
    bpmn = (Path(__file__).resolve().parents[2] / "bpmn" / "newborn.bpmn").read_text()
    long_id = "X" * 100_000
    xml = bpmn.replace('id="Gateway_fanout"', f'id="{long_id}"', 1)
    with TestClient(app) as client:
        headers = _bearer(client, "admin")
        for operation in ("validate", "deploy"):
            response = client.post(
                f"/api/v1/admin/processes/newborn/{operation}", json={"xml": xml}, headers=headers
            )
            assert response.status_code in (200, 422)
            assert response.json()["problems"]
            assert long_id[:1000] not in response.text
            assert len(response.content) < 100_000


# ---------------------------------------------------------------- errors


def test_validation_errors_name_the_field_but_never_its_value(app):
    with TestClient(app) as client:
        headers = _bearer(client, MOTHER)
        response = client.get(f"/api/v1/inbox?offset={HUGE}", headers=headers)
        assert response.status_code == 422
        assert HUGE not in response.text
        assert response.json()["fields"]["offset"]["zh"] == "不能大于 2147483647"
        body = {"matter": MARKER, "answers": MARKER, "consent": MARKER}
        response = client.post("/api/v1/cases", json=body, headers=headers)
        assert response.status_code == 422
        assert MARKER not in response.text
        assert set(response.json()["fields"]) == {"matter", "answers", "consent"}


@pytest.mark.parametrize(
    ("url", "status"),
    [
        (f"/inbox?page={HUGE}", 422),
        ("/inbox?page=abc", 422),
        ("/inbox?page=0", 422),
        (f"/cases/{HUGE}", 422),
        ("/cases/-1", 422),
        ("/no-such-page", 404),
        ("/logout", 405),  # a GET where only POST is served
    ],
)
def test_browsers_get_chinese_error_pages_not_json(browser, url, status):
    citizen = browser(MOTHER)
    response = citizen.client.get(url)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert "无法完成操作" in response.text and 'lang="zh-CN"' in response.text
    assert HUGE not in response.text


def test_the_api_answers_errors_in_json_in_both_languages(app):
    with TestClient(app) as client:
        missing = client.get("/api/v1/no-such-thing")
        assert missing.status_code == 404
        assert missing.json() == {
            "type": "urn:onething:problem:not_found",
            "title": "不存在",
            "title_en": "Not found",
            "status": 404,
            "code": "not_found",
            "detail": "您访问的页面或内容不存在",
            "detail_en": "There is no such page or record",
        }
        wrong_method = client.delete("/api/v1/login")
        assert wrong_method.status_code == 405
        assert "POST" in wrong_method.headers["allow"]
        not_json = client.post(
            "/api/v1/login", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert not_json.status_code == 422
        assert not_json.json()["detail_en"] == "The request has invalid values: see each field"


def test_an_unexpected_error_gives_a_reference_and_nothing_internal(app, caplog):
    def boom():
        raise RuntimeError("internal detail that must stay inside")

    app.add_api_route("/boom", boom)
    app.add_api_route("/api/v1/boom", boom)
    with (
        TestClient(app, raise_server_exceptions=False) as client,
        caplog.at_level(logging.ERROR, logger="web.app"),
    ):
        page = client.get("/boom")
        api = client.get("/api/v1/boom")
    assert page.status_code == 500 and api.status_code == 500
    assert page.headers["content-type"].startswith("text/html")
    reference = re.search(r'id="error-reference">(\w+)<', page.text).group(1)
    assert api.json()["reference"] != reference
    for answer in (page, api):
        assert "internal detail" not in answer.text and "Traceback" not in answer.text
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["cache-control"] == "no-store"
    logged = [r for r in caplog.records if reference in r.getMessage()]
    assert logged and "internal detail" in str(logged[0].exc_info[1])


# ---------------------------------------------------------------- headers


def _assert_security_headers(response, *, cached: bool = False) -> None:
    policy = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert "'unsafe-inline'" not in policy
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    assert ("no-store" in response.headers.get("cache-control", "")) is not cached


def test_every_kind_of_response_carries_the_security_headers(app, browser):
    citizen = browser(MOTHER)
    with TestClient(app, follow_redirects=False) as anonymous:
        _assert_security_headers(anonymous.get("/login"))  # a page
        _assert_security_headers(anonymous.get("/cases"))  # a redirect to sign in
        _assert_security_headers(anonymous.get("/no-such-page"))  # an error page
        _assert_security_headers(anonymous.post("/api/v1/login", json={}))  # an API error
        _assert_security_headers(anonymous.get("/static/app.css"), cached=True)
    _assert_security_headers(citizen.get("/cases"))  # a page with personal data
    _assert_security_headers(citizen.client.get("/api/v1/cases"))


def test_behind_https_browsers_are_told_to_keep_to_it(rt, app):
    with TestClient(app) as client:
        assert "strict-transport-security" not in client.get("/login").headers
    rt.settings.secure_cookies = True  # served over HTTPS
    with TestClient(create_app(rt)) as client:
        assert client.get("/login").headers["strict-transport-security"] == "max-age=31536000"


def test_a_header_a_route_sets_itself_is_kept(app):
    def sandboxed():
        from fastapi.responses import Response

        return Response("x", headers={"Content-Security-Policy": "sandbox"})

    app.add_api_route("/sandboxed", sandboxed)
    with TestClient(app) as client:
        assert client.get("/sandboxed").headers["content-security-policy"] == "sandbox"


def test_templates_have_no_inline_script_style_or_handlers():
    """What the policy would block: inline scripts (a JSON data block is allowed), event handler
    attributes, javascript: links and style attributes, in templates and generated markup."""
    found = []
    sources = [*(WEB / "templates").rglob("*.html"), WEB / "charts.py"]
    for path in sources:
        text = path.read_text()
        for pattern in (
            r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>",
            r"\son[a-z]+\s*=",
            r"javascript:",
            r"\sstyle\s*=",
            r"<style",
        ):
            found += [f"{path.relative_to(WEB)}: {m.group(0)}" for m in re.finditer(pattern, text)]
    assert not found, found


def test_process_downloads_are_attachments(app):
    with TestClient(app) as client:
        headers = _bearer(client, "admin")
        for url in (
            "/api/v1/admin/processes/newborn/bpmn",
            "/api/v1/admin/processes/newborn/bpmn?download=1",
        ):
            response = client.get(url, headers=headers)
            assert response.status_code == 200
            assert response.headers["content-disposition"] == 'attachment; filename="newborn.bpmn"'


# ---------------------------------------------------------------- CSV


def test_csv_cells_that_begin_like_a_formula_are_text():
    rows = [
        DepartmentFigures(department=code, name=name, name_en=name)
        for code, name in [
            ("a", '=HYPERLINK("http://evil")'),
            ("b", "+1+1"),
            ("c", "-2+3"),
            ("d", "@SUM(A1)"),
            ("e", "\tx"),
            ("f", "\rx"),
            ("g", "公安局"),
        ]
    ]
    table = list(csv.reader(io.StringIO(figures_csv(rows, "departments").lstrip("\ufeff"))))
    names = [line[1] for line in table[1:]]
    assert names == [
        '\'=HYPERLINK("http://evil")',
        "'+1+1",
        "'-2+3",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "公安局",
    ]
    assert table[1][2] == "0"  # numbers stay numbers


def test_the_dashboard_export_neutralises_a_formula_an_administrator_typed(browser):
    admin = browser("admin")
    admin.get("/admin/config/departments/police")
    saved = admin.post(
        "/admin/config/departments/police", data={"name": "=1+2", "name_en": "=cmd|' /C calc'!A0"}
    )
    assert saved.status_code == 303, saved.text[:300]
    exported = admin.get("/admin/dashboard.csv?table=departments").text
    assert "police,'=1+2," in exported
    assert "\n=" not in exported and ",=" not in exported
