"""The operator's pages without script (web/routes/operations.py): the groups, filtered; a
group's cases; a retry followed until the department's system decides; a resolve refused
without a reason, then done with one."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.test_admin_api import sign_in
from tests.api.test_operations_api import submit, system_gives_up
from tests.services.test_operations import decision_incidents
from tests.web.conftest import FATHER, MOTHER


def test_an_operator_retries_a_group_and_refreshes_its_progress(app, browser):
    with TestClient(app) as api:
        submit(api, MOTHER)
        [failed] = system_gives_up(api, "health", "HTTP 502 from hospital system")
    operator = browser("operator")
    listing = operator.get("/operations")
    assert listing.status_code == 200 and "HTTP # from hospital system" in listing.text
    assert operator.get("/operations?kind=process").text.count("data-group=") == 0
    assert operator.get("/operations?department=nowhere").status_code == 422
    group_id = listing.text.split('data-group="', 1)[1].split('"', 1)[0]
    page = operator.get(f"/operations/incidents/groups/{group_id}")
    assert page.status_code == 200 and 'id="retry-form"' in page.text
    assert MOTHER not in page.text
    retried = operator.post(f"/operations/incidents/groups/{group_id}/retry")
    assert retried.status_code == 303
    batch = retried.headers["location"]
    progress = operator.get(batch)
    assert 'data-outcome="waiting"' in progress.text and "等待中" in progress.text
    assert 'id="refresh-progress"' in progress.text
    with TestClient(app) as api:
        system = sign_in(api, "health-system")
        api.post("/api/v1/external-tasks/fetch-and-lock", json={"worker_id": "w2"}, headers=system)
        decided = api.post(
            f"/api/v1/external-tasks/{failed}/complete",
            json={"worker_id": "w2", "decision": "rejected", "comment": "信息不符"},
            headers=system,
        )
        assert decided.status_code == 200, decided.text
    done = operator.get(batch)
    assert 'data-outcome="done"' in done.text and "已完成" in done.text
    assert 'id="refresh-progress"' not in done.text
    assert batch.rsplit("/", 1)[1] in operator.get("/operations").text  # listed as recent


def test_a_resolve_needs_a_reason_and_people_cannot_be_retried_for(app, browser, rt):
    with TestClient(app) as api:
        case_id = submit(api, FATHER)
    decision_incidents(rt, [case_id], matter="newborn")
    operator = browser("operator")
    group_id = operator.get("/operations").text.split('data-group="', 1)[1].split('"', 1)[0]
    page = operator.get(f"/operations/incidents/groups/{group_id}")
    assert 'id="retry-form"' not in page.text and 'id="no-retry"' in page.text
    refused = operator.post(f"/operations/incidents/groups/{group_id}/retry")
    assert refused.status_code == 422 and 'id="group-error"' in refused.text
    short = operator.post(f"/operations/incidents/groups/{group_id}/resolve", data={"reason": "x"})
    assert short.status_code == 422 and 'aria-invalid="true"' in short.text
    resolved = operator.post(
        f"/operations/incidents/groups/{group_id}/resolve", data={"reason": "流程已修正"}
    )
    assert resolved.status_code == 303
    report = operator.get(resolved.headers["location"])
    assert "已解决" in report.text and "流程已修正" in report.text
    assert 'id="no-incidents"' in operator.get("/operations").text
    assert operator.get(f"/operations/incidents/groups/{group_id}").status_code == 404
