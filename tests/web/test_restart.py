"""A server restart in the middle of a case loses nothing: a new process resumes every open case."""

from __future__ import annotations

from fastapi.testclient import TestClient

from demo.seed import DEMO_PASSWORD
from services.runtime import build_runtime
from tests.web.conftest import FATHER, NEWBORN_ANSWERS
from web.app import create_app


def _token(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/api/v1/login", json={"username": username, "password": DEMO_PASSWORD})
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _approve_all(client: TestClient, department: str) -> int:
    headers = _token(client, f"{department}01")
    tasks = client.get("/api/v1/tasks", headers=headers).json()
    for task in tasks:
        body = {"decision": "approved"}
        response = client.post(f"/api/v1/tasks/{task['id']}/complete", json=body, headers=headers)
        assert response.status_code == 200
    return len(tasks)


def test_restart_mid_case_resumes_from_the_database(rt):
    first = TestClient(create_app(rt))
    citizen = _token(first, FATHER)
    answers = {**NEWBORN_ANSWERS, "delivery_method": "window"}
    case = first.post(
        "/api/v1/cases",
        json={"matter": "newborn", "answers": answers, "consent": True},
        headers=citizen,
    )
    assert case.status_code == 201
    case_id = case.json()["id"]
    assert _approve_all(first, "health") == 1
    assert _approve_all(first, "police") == 1
    first.close()
    rt.db.dispose()

    # A new process: new engine, new spec cache, same database and registry; old tokens still work.
    restarted = build_runtime(rt.settings, registry=rt.registry)
    assert len(restarted.specs) == 0
    second = TestClient(create_app(restarted))
    before = second.get(f"/api/v1/cases/{case_id}", headers=citizen).json()
    done = {i["item"] for i in before["items"] if i["status"] == "approved"}
    assert before["status"] == "processing"
    assert done == {
        "health_birth_medical_certificate",
        "police_birth_registration",
        "medical_resident_enrollment",  # approved at once by its automatic check
    }
    for department in ("hrss", "cdc"):
        assert _approve_all(second, department) == 1
    after = second.get(f"/api/v1/cases/{case_id}", headers=citizen).json()
    assert after["status"] == "completed" and after["outcome"] == "approved"
    second.close()
    restarted.db.dispose()


def test_openapi_documents_the_case_and_task_operations(rt):
    with TestClient(create_app(rt)) as client:
        assert client.get("/docs").status_code == 200
        paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/cases",
        "/api/v1/cases/{case_id}",
        "/api/v1/tasks",
        "/api/v1/tasks/{task_id}/complete",
    ):
        assert path in paths
