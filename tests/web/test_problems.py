"""Every error of the API is one shape: RFC 9457 problem details with a stable code, a
bilingual title and message, sent as application/problem+json (to bearer clients too)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from demo.seed import DEMO_PASSWORD
from tests.web.conftest import MOTHER, NEWBORN_ANSWERS

KEYS = {"type", "title", "title_en", "status", "code", "detail", "detail_en"}


def _bearer(client: TestClient, username: str) -> dict[str, str]:
    login = client.post("/api/v1/login", json={"username": username, "password": DEMO_PASSWORD})
    return {"Authorization": f"Bearer {login.json()['token']}"}


def _problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body.keys() >= KEYS and body["status"] == status and body["code"] == code
    assert body["type"] == f"urn:onething:problem:{code}"
    return body


def test_errors_of_every_kind_share_the_problem_shape(app):
    with TestClient(app) as client:
        citizen = _bearer(client, MOTHER)
        _problem(client.get("/api/v1/cases/999999", headers=citizen), 404, "not_found")
        _problem(client.get("/api/v1/tasks", headers=citizen), 403, "forbidden")
        _problem(client.get("/api/v1/cases"), 401, "not_signed_in")
        _problem(client.delete("/api/v1/cases", headers=citizen), 405, "method_not_allowed")
        invalid = _problem(
            client.post("/api/v1/cases", json={"matter": 7}, headers=citizen), 422, "invalid_input"
        )
        assert "matter" in invalid["fields"] and invalid["fields"]["matter"]["zh"]
        body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
        assert client.post("/api/v1/cases", json=body, headers=citizen).status_code == 201
        again = _problem(
            client.post("/api/v1/cases", json=body, headers=citizen), 409, "duplicate_application"
        )
        assert again["link"].startswith("/cases/")
        # a bearer client gets the problem, not the HTML page, on a page's address too
        _problem(client.get("/cases/999999", headers=citizen), 404, "not_found")


def test_the_document_declares_errors_as_problem_json(app):
    with TestClient(app) as client:
        paths = client.get("/openapi.json").json()["paths"]
    for path, operations in paths.items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            for status, response in operation.get("responses", {}).items():
                if status[:1] in "45":
                    assert "application/json" not in response.get("content", {}), (path, method)
