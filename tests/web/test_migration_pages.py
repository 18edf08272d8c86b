"""The operator's migration pages and their JSON twins (web/routes/migrations.py,
web/api/migrations.py): the matters behind, the dry run with its checkboxes, applying it with a
reason, the run's report."""

from __future__ import annotations

import re

from sqlmodel import Session

from services import processes
from tests.services.test_migration import NEW_ITEM, WITH_ENROLLMENT
from tests.web.conftest import FATHER
from tests.web.test_newborn import submit_newborn


def _deploy(rt, user_of) -> int:
    with Session(rt.db) as session:
        return processes.deploy(
            session, rt, matter_code="newborn", content=WITH_ENROLLMENT, author=user_of("admin")
        ).version


def test_an_operator_plans_chooses_and_moves_cases_in_pages(browser, rt, user_of):
    _, first = submit_newborn(browser)
    _, second = submit_newborn(browser, FATHER)
    version = _deploy(rt, user_of)
    operator = browser("operator")
    index = operator.get("/operations/migrations")
    assert index.status_code == 200
    assert 'data-matter="newborn"' in index.text and "v0" in index.text
    page = operator.get(f"/operations/migrations/newborn/plan?to_version={version}")
    assert page.status_code == 200
    assert len(re.findall(r'name="case_id" value="\d+"[^>]* checked', page.text)) == 2
    assert "社会保险参保登记" in page.text  # the new step ahead, and the item it brings
    refused = operator.post(
        "/operations/migrations/newborn/runs",
        data={"to_version": str(version), "case_id": [str(second)], "reason": ""},
    )
    assert refused.status_code == 422 and 'id="plan-error"' in refused.text
    # only the father's case was chosen, and stays chosen when the page is shown again
    assert re.search(rf'value="{second}"[^>]* checked', refused.text)
    assert not re.search(rf'value="{first}"[^>]* checked', refused.text)
    done = operator.post(
        "/operations/migrations/newborn/runs",
        data={"to_version": str(version), "case_id": [str(second)], "reason": "新增参保登记"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    report = operator.get(done.headers["location"])
    assert report.status_code == 200
    assert re.search(rf'data-case="{second}" data-outcome="migrated"', report.text)
    assert f'data-case="{first}"' not in report.text
    assert browser("admin").client.get("/operations/migrations").status_code == 403


def test_the_api_plans_and_moves_cases_like_the_pages(browser, rt, user_of):
    _, first = submit_newborn(browser)
    version = _deploy(rt, user_of)
    operator = browser("operator")
    operator.get("/operations/migrations")  # the session's CSRF token
    api = operator.client
    overview = api.get("/api/v1/operations/migrations").json()
    [matter] = overview["matters"]
    assert (matter["matter"], matter["current"], matter["open_by_version"]) == (
        "newborn",
        version,
        {"0": 1},
    )
    plan = api.get(f"/api/v1/operations/migrations/newborn/plan?to_version={version}").json()
    assert (plan["mappable"], plan["unmappable"], plan["added"]) == (1, 0, ["社会保险参保登记"])
    [case] = plan["cases"]
    assert case["case_id"] == first and case["ahead"] == ["社会保险参保登记"]
    assert [i["item"] for i in case["new_items"]] == [NEW_ITEM]
    body = {"to_version": version, "reason": "新增参保登记"}
    assert api.post("/api/v1/operations/migrations/newborn/runs", json=body).status_code == 403
    ran = api.post(
        "/api/v1/operations/migrations/newborn/runs",
        json=body,
        headers={"X-CSRF-Token": operator.csrf},
    )
    assert ran.status_code == 201, ran.text
    run = ran.json()
    assert (run["chosen"], run["migrated"]) == (1, 1)
    assert run["outcomes"][0]["outcome"] == "migrated"
    again = api.get(f"/api/v1/operations/migrations/runs/{run['id']}").json()
    assert again["outcomes"] == run["outcomes"]
    assert [r["id"] for r in api.get("/api/v1/operations/migrations/runs").json()] == [run["id"]]
    missing = api.post(
        "/api/v1/operations/migrations/newborn/runs",
        json={**body, "reason": " "},
        headers={"X-CSRF-Token": operator.csrf},
    )
    assert missing.status_code == 422
