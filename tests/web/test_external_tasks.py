"""Departments' own systems: fetch-and-lock, complete with results, failures, incidents."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from random import Random

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from demo.seed import DEMO_PASSWORD
from engine.clock import utcnow
from examples.department_worker import citizen_id
from examples.department_worker import main as worker_main
from services.cases.models import CaseItem
from tests.live import serve
from tests.web.conftest import FATHER, MOTHER, NEWBORN_ANSWERS


def _headers(client: TestClient, username: str) -> dict[str, str]:
    body = {"username": username, "password": DEMO_PASSWORD}
    return {"Authorization": f"Bearer {client.post('/api/v1/login', json=body).json()['token']}"}


def _submit(client: TestClient, applicant: str) -> int:
    body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
    response = client.post("/api/v1/cases", json=body, headers=_headers(client, applicant))
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _lock(client, headers, worker, **options):
    body = {"worker_id": worker, **options}
    response = client.post("/api/v1/external-tasks/fetch-and-lock", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_system_locks_completes_with_result_and_clerks_wait(app, rt):
    with TestClient(app) as client:
        case_id = _submit(client, MOTHER)
        system = _headers(client, "police-system")
        [task] = _lock(client, system, "w1")
        assert task["item"] == "police_birth_registration" and task["case_id"] == case_id
        assert task["facts"]["mother_name"] == "王芳"
        assert task["provenance"]["mother_name"]["registry"] == "population"
        assert _lock(client, system, "w2") == []  # locked: nobody else gets it
        clerk = _headers(client, "police01")
        refused = client.post(
            f"/api/v1/tasks/{task['id']}/complete", json={"decision": "approved"}, headers=clerk
        )
        assert refused.status_code == 409 and "业务系统" in refused.json()["detail"]
        wrong = {"worker_id": "w2", "decision": "approved"}
        response = client.post(
            f"/api/v1/external-tasks/{task['id']}/complete", json=wrong, headers=system
        )
        assert response.status_code == 409
        assert [r["key"] for r in task["results"]][:2] == ["child_id_number", "household_number"]
        partial = {"worker_id": "w1", "decision": "approved", "result": {"household_number": "H1"}}
        response = client.post(
            f"/api/v1/external-tasks/{task['id']}/complete", json=partial, headers=system
        )
        assert response.status_code == 422 and "公民身份号码" in response.json()["detail"]
        # the newborn's citizen ID the police assign: the child's birth date inside
        child_id = citizen_id(date.fromisoformat(task["facts"]["child_birth_date"]), Random(1))
        result = {
            "household_number": "H1",
            "child_id_number": child_id,
            "hukou_address": "上海市徐汇区漕溪北路1号",
            "hukou_registered_on": "2026-11-25",
            "checked_by": "w1",  # the system's own note: kept, not printed
        }
        body = {"worker_id": "w1", "decision": "approved", "result": result}
        done = client.post(
            f"/api/v1/external-tasks/{task['id']}/complete", json=body, headers=system
        )
        assert done.status_code == 200 and done.json()["status"] == "approved"
    with Session(rt.db) as session:
        row = session.get(CaseItem, task["id"])
        assert row.result == result
        assert row.result_data == {
            "child_id_number": child_id,
            "household_number": "H1",
            "hukou_address": "上海市徐汇区漕溪北路1号",
            "hukou_registered_on": "2026-11-25",
        }


def test_two_workers_never_get_the_same_task(app, newborn_parents):
    with TestClient(app) as client:
        for applicant in (MOTHER, FATHER, *newborn_parents(2)):
            _submit(client, applicant)
        system = _headers(client, "cdc-system")
        got: dict[str, list[int]] = {}

        def work(worker: str) -> None:
            got[worker] = [t["id"] for t in _lock(client, system, worker, max_tasks=3)]

        threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    ids = got["w0"] + got["w1"]
    assert len(ids) == 4 and len(set(ids)) == 4


def test_failures_are_retried_then_raise_an_incident_a_clerk_resolves(app, rt):
    with TestClient(app) as client:
        case_id = _submit(client, MOTHER)
        system = _headers(client, "health-system")
        [task] = _lock(client, system, "w1")
        failure = {"worker_id": "w1", "error_message": "户籍接口超时", "retries": 1}
        url = f"/api/v1/external-tasks/{task['id']}/failure"
        assert client.post(url, json=failure, headers=system).status_code == 200
        assert _lock(client, system, "w1") == []  # waits for its retry time
        with Session(rt.db) as session:  # move the clock past the retry timeout
            row = session.get(CaseItem, task["id"])
            row.lock_expires_at = utcnow() - timedelta(seconds=1)
            session.add(row)
            session.commit()
        [again] = _lock(client, system, "w1")
        assert again["retries"] == 1
        last = {**failure, "retries": 0}
        assert client.post(url, json=last, headers=system).json()["incident"] == "户籍接口超时"
        assert _lock(client, system, "w1") == []  # an incident is not fetched again
        status = client.get(f"/api/v1/cases/{case_id}", headers=_headers(client, MOTHER)).json()
        health = next(i for i in status["items"] if i["department"] == "health")
        assert health["incident"] == "户籍接口超时"
        clerk = _headers(client, "health01")
        resolved = client.post(f"/api/v1/external-tasks/{task['id']}/resolve", headers=clerk)
        assert resolved.status_code == 200 and resolved.json()["incident"] is None
        assert [t["id"] for t in _lock(client, system, "w1")] == [task["id"]]


def test_an_expired_lock_is_taken_over(app, rt):
    with TestClient(app) as client:
        _submit(client, MOTHER)
        system = _headers(client, "hrss-system")
        [task] = _lock(client, system, "crashed")
        with Session(rt.db) as session:
            row = session.get(CaseItem, task["id"])
            row.lock_expires_at = utcnow() - timedelta(seconds=1)
            session.add(row)
            session.commit()
        [taken] = _lock(client, system, "w2")
        assert taken["id"] == task["id"]


def test_citizens_and_other_roles_cannot_use_the_external_api(app):
    with TestClient(app) as client:
        citizen = _headers(client, MOTHER)
        response = client.post(
            "/api/v1/external-tasks/fetch-and-lock", json={"worker_id": "x"}, headers=citizen
        )
        assert response.status_code == 403


def test_example_department_worker_completes_its_departments_tasks(app, rt, capsys):
    with TestClient(app) as client:
        case_id = _submit(client, MOTHER)
    with serve(app) as base:
        argv = ["--base-url", base, "--username", "cdc-system", "--password", DEMO_PASSWORD]
        assert worker_main([*argv, "--worker-id", "example", "--once"]) == 0
    assert "1 task(s) completed" in capsys.readouterr().out
    with Session(rt.db) as session:
        cdc = session.exec(
            select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.department == "cdc")
        ).one()
    assert cdc.status == "approved" and cdc.result["checked_by"] == "example"
    # the department's system recorded the vaccination certificate's number and clinic
    assert set(cdc.result_data) == {"vaccination_cert_number", "vaccination_clinic"}
