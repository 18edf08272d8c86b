"""Operators over the API (web/api/operations.py): the open incidents in groups, filtered; a
group's cases; a whole group retried or resolved with a reason; the record of each, followed
later until the department's system has decided. Operators only: administrators and clerks are
refused."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.test_admin_api import refused_fields, sign_in
from tests.web.conftest import FATHER, MOTHER, NEWBORN_ANSWERS

OPS = "/api/v1/operations/incidents"


def submit(api: TestClient, applicant: str) -> int:
    body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
    response = api.post("/api/v1/cases", json=body, headers=sign_in(api, applicant))
    assert response.status_code == 201, response.text
    return response.json()["id"]


def system_gives_up(api: TestClient, department: str, message: str) -> list[int]:
    """The department's own system locks its open tasks and fails each after its last retry."""
    system = sign_in(api, f"{department}-system")
    tasks = api.post(
        "/api/v1/external-tasks/fetch-and-lock", json={"worker_id": "w1"}, headers=system
    ).json()
    for task in tasks:
        failed = api.post(
            f"/api/v1/external-tasks/{task['id']}/failure",
            json={"worker_id": "w1", "error_message": message, "retries": 0},
            headers=system,
        )
        assert failed.status_code == 200, failed.text
    return [task["id"] for task in tasks]


def test_an_operator_retries_a_systems_group_and_follows_it_until_decided(api):
    cases = [submit(api, MOTHER), submit(api, FATHER)]
    failed = system_gives_up(api, "health", "HTTP 502 from 31010519940908028X's record")
    operator = sign_in(api, "operator")
    listing = api.get(OPS, headers=operator)
    assert listing.status_code == 200, listing.text
    [group] = listing.json()["groups"]
    assert (group["kind"], group["department"], group["count"], group["cases"]) == (
        "department_system",
        "health",
        2,
        2,
    )
    assert group["cause"] == "HTTP # from #X's record" and group["retryable"]
    assert MOTHER not in listing.text and "310105********028X" in group["example"]
    assert group["department_name"] and group["item_name"] and group["first_at"]
    detail = api.get(f"{OPS}/groups/{group['id']}", headers=operator).json()
    assert sorted(c["case_id"] for c in detail["case_list"]) == sorted(cases)
    assert {c["item_status"] for c in detail["case_list"]} == {"processing"}
    assert all(c["case_number"] for c in detail["case_list"])

    retried = api.post(f"{OPS}/groups/{group['id']}/retry", headers=operator)
    assert retried.status_code == 200, retried.text
    batch = retried.json()
    assert batch["action"] == "retry" and not batch["settled"]
    assert {c["outcome"] for c in batch["case_list"]} == {"waiting"}
    assert api.get(OPS, headers=operator).json()["groups"] == []
    assert api.get(f"{OPS}/groups/{group['id']}", headers=operator).status_code == 404

    # the system takes the tasks again: decides one, gives up on the other again
    system = sign_in(api, "health-system")
    tasks = api.post(
        "/api/v1/external-tasks/fetch-and-lock", json={"worker_id": "w2"}, headers=system
    ).json()
    assert sorted(t["id"] for t in tasks) == sorted(failed)
    decided = api.post(
        f"/api/v1/external-tasks/{failed[0]}/complete",
        json={"worker_id": "w2", "decision": "rejected", "comment": "出生医学证明信息不符"},
        headers=system,
    )
    assert decided.status_code == 200, decided.text
    api.post(
        f"/api/v1/external-tasks/{failed[1]}/failure",
        json={"worker_id": "w2", "error_message": "HTTP 502", "retries": 0},
        headers=system,
    )
    later = api.get(f"{OPS}/batches/{batch['id']}", headers=operator).json()
    assert {c["item_id"]: c["outcome"] for c in later["case_list"]} == {
        failed[0]: "done",
        failed[1]: "failed_again",
    }
    assert later["settled"] and later["counts"] == {"done": 1, "failed_again": 1}
    [recent] = api.get(f"{OPS}/batches", headers=operator).json()["batches"]
    assert (recent["id"], recent["cases"]) == (batch["id"], 2)


def test_an_operator_resolves_a_group_with_a_reason_that_each_case_history_shows(api):
    case_id = submit(api, MOTHER)
    system_gives_up(api, "cdc", "bad credentials")
    operator = sign_in(api, "operator")
    [group] = api.get(OPS, params={"department": "cdc"}, headers=operator).json()["groups"]
    url = f"{OPS}/groups/{group['id']}/resolve"
    assert "reason" in refused_fields(api.post(url, json={"reason": " x "}, headers=operator))
    resolved = api.post(url, json={"reason": "疾控系统证书已更新"}, headers=operator)
    assert resolved.status_code == 200, resolved.text
    batch = resolved.json()
    assert (batch["action"], batch["reason"]) == ("resolve", "疾控系统证书已更新")
    assert [c["outcome"] for c in batch["case_list"]] == ["waiting"]  # back with the system
    history = api.get(f"/api/v1/cases/{case_id}", headers=sign_in(api, MOTHER)).json()
    assert any("疾控系统证书已更新" in e["message"] for e in history["history"])


def test_filters_are_checked_and_only_operators_get_in(api):
    submit(api, MOTHER)
    system_gives_up(api, "police", "timeout")
    operator = sign_in(api, "operator")
    [group] = api.get(OPS, headers=operator).json()["groups"]
    assert api.get(OPS, params={"kind": "process"}, headers=operator).json()["groups"] == []
    assert api.get(OPS, params={"matter": "newborn"}, headers=operator).json()["groups"]
    assert "matter" in refused_fields(api.get(OPS, params={"matter": "nothing"}, headers=operator))
    assert "department" in refused_fields(
        api.get(OPS, params={"department": "nowhere"}, headers=operator)
    )
    assert api.get(OPS, params={"kind": "other"}, headers=operator).status_code == 422
    assert api.get(f"{OPS}/groups/not-a-group", headers=operator).status_code == 422
    assert api.get(f"{OPS}/groups/{'0' * 16}", headers=operator).status_code == 404
    assert api.get(f"{OPS}/batches/1", headers=operator).status_code == 404
    for other in ("admin", "police01"):
        headers = sign_in(api, other)
        assert api.get(OPS, headers=headers).status_code == 403
        retry = api.post(f"{OPS}/groups/{group['id']}/retry", headers=headers)
        assert retry.status_code == 403
    assert len(api.get(OPS, headers=operator).json()["groups"]) == 1  # nothing was done
