"""Repairing a case through the pages and the API (web/routes/repair.py, web/api/repair.py):
an operator finds a case by its number, withdraws an item with a reason; the API does the same
through the same service; both refuse without a reason and refuse other roles."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from demo.seed import DEMO_PASSWORD
from services.cases.models import Case, CaseItem
from tests.web.conftest import MOTHER, NEWBORN_ANSWERS
from tests.web.test_newborn import submit_newborn

REASON = "部门来函：该事项另行办理"


def _case(rt, case_id):
    with Session(rt.db) as session:
        case = session.get(Case, case_id)
        items = session.exec(select(CaseItem).where(CaseItem.case_id == case_id)).all()
        return case.number, {row.department: row for row in items if row.status == "processing"}


def test_an_operator_finds_a_case_and_withdraws_an_item_with_a_reason(rt, browser):
    _mother, case_id = submit_newborn(browser)
    number, items = _case(rt, case_id)
    operator = browser("operator")
    found = operator.get(f"/operations/cases?number={number.lower()}")
    assert found.status_code == 303 and found.headers["location"] == f"/operations/cases/{number}"
    page = operator.get(f"/operations/cases/{number}")
    assert page.status_code == 200 and 'id="repair-items"' in page.text
    assert MOTHER not in page.text and "********" in page.text  # ID numbers masked
    police = items["police"]
    url = f"/operations/cases/{number}/items/{police.id}/cancel"
    refused = operator.post(url, data={"reason": ""})
    assert refused.status_code == 422 and 'id="repair-error"' in refused.text
    done = operator.post(url, data={"reason": REASON})
    assert done.status_code == 303
    after = operator.get(done.headers["location"])
    assert 'id="repair-done"' in after.text and REASON in after.text
    assert f'data-item="{police.id}" data-status="cancelled"' in after.text
    again = operator.post(url, data={"reason": REASON})
    assert again.status_code == 409
    assert browser("police01").get(f"/operations/cases/{number}").status_code == 403
    mother = browser(MOTHER)  # the applicant is told what changed and why
    assert REASON in mother.get(f"/cases/{case_id}").text
    inbox = mother.get("/inbox")
    assert inbox.status_code == 200 and REASON in inbox.text


def _api(client, username):
    body = {"username": username, "password": DEMO_PASSWORD}
    token = client.post("/api/v1/login", json=body).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def test_the_api_reopens_an_item_and_corrects_a_fact_through_the_same_service(rt, app):
    with TestClient(app) as client:
        mother = _api(client, MOTHER)
        created = client.post(
            "/api/v1/cases",
            json={"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True},
            headers=mother,
        )
        number, items = _case(rt, created.json()["id"])
        police = items["police"]
        clerk = _api(client, "police01")
        decided = client.post(
            f"/api/v1/tasks/{police.id}/complete", json={"decision": "approved"}, headers=clerk
        )
        assert decided.status_code == 200, decided.text
        operator = _api(client, "operator")
        base = f"/api/v1/operations/cases/{number}"
        view = client.get(base, headers=operator)
        assert view.status_code == 200 and view.json()["facts"]
        assert MOTHER not in view.text
        assert client.get(base, headers=clerk).status_code == 403
        short = client.post(
            f"{base}/items/{police.id}/reopen", json={"reason": "短"}, headers=operator
        )
        assert short.status_code == 422
        reopened = client.post(
            f"{base}/items/{police.id}/reopen", json={"reason": REASON}, headers=operator
        )
        assert reopened.status_code == 200, reopened.text
        statuses = [
            (i["id"], i["status"]) for i in reopened.json()["items"] if i["department"] == "police"
        ]
        assert statuses[0] == (police.id, "superseded") and statuses[1][1] == "processing"
        assert reopened.json()["facts"] is None  # the repair's answer is no second look
        bad = client.post(
            f"{base}/facts",
            json={"key": "applicant_phone", "value": "123", "reason": REASON},
            headers=operator,
        )
        assert bad.status_code == 422
        fixed = client.post(
            f"{base}/facts",
            json={"key": "applicant_phone", "value": "13900001111", "reason": REASON},
            headers=operator,
        )
        assert fixed.status_code == 200, fixed.text
        kinds = [e["kind"] for e in fixed.json()["events"]]
        assert kinds.count("repair") == 2
        inbox = client.get("/api/v1/inbox", headers=mother).json()
        assert REASON in str(inbox)
