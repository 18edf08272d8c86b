"""The OpenAPI document: published in docs/ as the app builds it, and saying what each operation
answers (web/openapi.py); tests/web/test_fuzz_api.py checks the answers against it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from web.openapi import PUBLISHED, document_text, openapi_document

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = openapi_document()
OPERATIONS = [
    (method.upper(), path, operation)
    for path, operations in DOCUMENT["paths"].items()
    for method, operation in operations.items()
]


def test_the_published_document_is_the_apps():
    published = ROOT / PUBLISHED
    assert published.is_file(), "run `onething openapi` and commit docs/openapi.json"
    assert json.loads(published.read_text(encoding="utf-8")) == json.loads(
        document_text(DOCUMENT)
    ), "docs/openapi.json is out of date: run `onething openapi` and commit it"


def _operation(method: str, path: str) -> dict:
    return DOCUMENT["paths"][path][method.lower()]


def test_a_page_form_answers_with_a_redirect_not_a_page():
    responses = _operation("POST", "/clerk/items/{item_id}/claim")["responses"]
    assert "200" not in responses
    assert responses["303"]["headers"]["Location"]["schema"]["type"] == "string"
    # refusals: an HTML page for a browser, problem details for a bearer client
    assert responses["409"]["content"].keys() == {"text/html", "application/problem+json"}


def test_a_page_shown_again_with_its_errors_documents_both():
    responses = _operation("POST", "/matters/{code}/apply")["responses"]
    assert {"200", "303", "409", "413", "422", "503"} <= responses.keys()
    assert "text/html" in responses["200"]["content"]


def test_downloads_are_documented_with_their_media_types():
    for path, media_type in [
        ("/api/v1/cases/{case_id}/items/{item_id}/certificate", "application/pdf"),
        ("/api/v1/cases/{case_id}/results.zip", "application/zip"),
        ("/cases/{case_id}/results.zip", "application/zip"),
        ("/admin/dashboard.csv", "text/csv"),
    ]:
        assert media_type in _operation("GET", path)["responses"]["200"]["content"], path


def test_only_what_an_operation_can_answer_is_documented():
    # No sign-in, no parameters: nothing to refuse (but it reads the database: 503 in an outage).
    assert _operation("GET", "/api/v1/matters")["responses"].keys() == {"200", "503"}
    # Signed in, no path parameter: no 404; a GET reads no body: no 413.
    responses = _operation("GET", "/api/v1/inbox")["responses"]
    assert {"401", "200"} <= responses.keys()
    assert not {"404", "413"} & responses.keys()
    assert "503" in _operation("POST", "/api/v1/cases")["responses"]
    assert "429" in _operation("POST", "/api/v1/login")["responses"]


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [op for op in OPERATIONS if "requestBody" in op[2]],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_an_operation_that_takes_a_body_documents_413(method, path, operation):
    assert "413" in operation["responses"], (method, path)


def test_every_request_body_has_an_example():
    """The API's and the pages' forms alike (a page form's from its fields' examples)."""
    schemas = DOCUMENT["components"]["schemas"]
    missing = []
    for method, path, operation in OPERATIONS:
        for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
            model = schemas.get(media.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1], {})
            if not ({"example", "examples"} & (media.keys() | model.keys())):
                missing.append(f"{method} {path} {media_type}")
    assert not missing


def test_every_operation_on_the_database_documents_its_outage_answer():
    """503 with Retry-After (web/db_errors.py) wherever a database session is used: every
    operation but the liveness check; an operation's own 503 (a failed process) keeps its
    description, the outage is added to it."""
    without = []
    for method, path, operation in OPERATIONS:
        if path in ("/health/live", "/healthz", "/health/ready", "/readyz", "/metrics"):
            continue
        found = operation["responses"].get("503", {})
        if "Retry-After" not in found.get("headers", {}) or "database" not in found.get(
            "description", ""
        ):
            without.append(f"{method} {path}")
    assert not without
    submit = _operation("POST", "/api/v1/cases")["responses"]["503"]["description"]
    assert "process failed" in submit and "database cannot be reached" in submit
