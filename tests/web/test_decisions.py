"""Decision tables' pages and API: read a decision with its test cases, save cases, run them on a
candidate table, deploy it (refused while a case fails), and the plain form's twin of each."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, func, select

from services.processes_models import ProcessVersion
from tests.web.conftest import MOTHER

BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"
DECISION = "newborn_medical_enrollment_check"
API = f"/api/v1/admin/decisions/newborn/{DECISION}"
PAGE = f"/admin/processes/newborn/decisions/{DECISION}"
DMN = (BPMN_DIR / "newborn.dmn").read_text(encoding="utf-8")
# The instant approval's rule turned into a review: the seeded approval cases fail on it
BROKEN = DMN.replace("<text>'approved'</text>", "<text>'review'</text>")


def _admin(browser):
    admin = browser("admin")
    assert admin.get(PAGE).status_code == 200  # also picks up the CSRF token
    return admin


def _json(client, method: str, url: str, body: dict):
    return client.client.request(method, url, json=body, headers={"X-CSRF-Token": client.csrf})


def _versions(rt) -> int:
    with Session(rt.db) as session:
        return session.exec(select(func.count()).select_from(ProcessVersion)).one()


def test_only_administrators_reach_decisions(browser):
    for username in (MOTHER, "police01"):
        user = browser(username)
        for url in (PAGE, API, "/api/v1/admin/decisions/newborn"):
            assert user.client.get(url).status_code == 403, (username, url)
        assert user.client.post(f"{API}/run", json={}).status_code == 403


def test_the_decision_carries_its_table_and_seeded_cases(browser):
    admin = _admin(browser)
    listed = admin.client.get("/api/v1/admin/decisions/newborn").json()
    assert listed == [{"decision_id": DECISION, "name": "新生儿参保条件自动核验", "rules": 3}]
    found = admin.client.get(API).json()
    assert found["xml"] == DMN and found["deployed_version"] is None
    assert found["variables"] == ["household_parent", "prefilled"]
    assert [o["text"] for o in found["outputs"]] == ["check_decision", "check_finding"]
    assert len(found["cases"]) == 4
    assert admin.client.get("/api/v1/admin/decisions/newborn/nope").status_code == 404
    # linked from the process editor and the processes list
    assert PAGE in admin.get("/admin/processes/newborn").text
    assert PAGE in admin.get("/admin/processes").text
    page = admin.get(PAGE).text
    assert 'id="dmn-canvas"' in page and "/vendor/dmn-js/dmn-modeler.production.min.js" in page
    assert 'name="case_0_in_household_parent" value="mother"' in page
    assert 'name="case_4_name" value=""' in page  # the blank row that adds a case
    assert admin.client.get("/vendor/dmn-js/dmn-modeler.production.min.js").status_code == 200


def test_running_a_candidate_table_lists_each_case_with_expected_and_actual(browser, rt):
    admin = _admin(browser)
    run = _json(admin, "POST", f"{API}/run", {"xml": BROKEN}).json()
    assert run["ok"] is False
    assert [r["passed"] for r in run["results"]] == [False, False, True, True]
    first = run["results"][0]
    assert first["expected"]["check_decision"] == "approved"
    assert first["actual"]["check_decision"] == "review"
    assert first["mismatches"] == ["check_decision"]  # the finding stayed as expected
    assert _json(admin, "POST", f"{API}/run", {}).json()["ok"] is True
    bad = _json(admin, "POST", f"{API}/run", {"xml": DMN.replace(DECISION, "other_id")})
    assert bad.status_code == 422 and "xml" in bad.json()["fields"]
    assert _versions(rt) == 0


def test_deploy_is_refused_while_a_case_fails_and_passes_once_the_cases_match(browser, rt):
    admin = _admin(browser)
    refused = _json(admin, "POST", f"{API}/deploy", {"xml": BROKEN})
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert DECISION in detail and "证照已核验、随母落户：秒批" in detail and "未发布" in detail
    assert "not deployed" in refused.json()["detail_en"] and _versions(rt) == 0
    cases = admin.client.get(API).json()["cases"]
    for case in cases:
        if case["expected"]["check_decision"] == "approved":
            case["expected"] = {"check_decision": "review"}
    saved = _json(admin, "PUT", f"{API}/cases", {"cases": cases})
    assert saved.status_code == 200 and len(saved.json()) == 4
    deployed = _json(admin, "POST", f"{API}/deploy", {"xml": BROKEN, "comment": "全部人工审核"})
    assert deployed.status_code == 201 and deployed.json()["version"] == 1
    found = admin.client.get(API).json()
    assert found["xml"] == BROKEN and found["deployed_version"] == 1


def test_saving_cases_names_the_field_and_an_empty_list_refuses_deploy(browser, rt):
    admin = _admin(browser)
    wrong = {"cases": [{"name": "x", "inputs": {"nope": 1}, "expected": {"check_decision": "a"}}]}
    refused = _json(admin, "PUT", f"{API}/cases", wrong)
    assert refused.status_code == 422 and "cases[0].inputs.nope" in refused.json()["fields"]
    assert _json(admin, "PUT", f"{API}/cases", {"cases": []}).json() == []
    none = _json(admin, "POST", f"{API}/deploy", {"xml": DMN})
    assert none.status_code == 422 and "没有测试用例" in none.json()["detail"]
    assert _versions(rt) == 0


def _form(cases: list[dict], action: str, xml: str = DMN) -> dict:
    data = {"action": action, "xml": xml}
    for n, case in enumerate(cases):
        data[f"case_{n}_name"] = case.get("name", "")
        for key, value in case.get("inputs", {}).items():
            data[f"case_{n}_in_{key}"] = value
        for key, value in case.get("expected", {}).items():
            data[f"case_{n}_out_{key}"] = value
    return data


def test_the_plain_form_adds_runs_and_deploys(browser, rt):
    admin = _admin(browser)
    approved = {
        "name": "随父落户",
        "inputs": {"prefilled": '{"child_birth_cert_number": "Q1"}', "household_parent": "father"},
        "expected": {"check_decision": "approved"},
    }
    wrong = {**approved, "name": "错误期望", "expected": {"check_decision": "review"}}
    run = admin.post(PAGE, _form([approved, wrong], "run"))
    assert run.status_code == 200
    assert 'data-result="pass"' in run.text and 'data-result="fail"' in run.text
    assert "有 1 个用例未通过" in run.text
    refused = admin.post(PAGE, _form([approved, wrong], "deploy"))
    assert refused.status_code == 422 and "错误期望" in refused.text and _versions(rt) == 0
    data = _form([approved, wrong], "deploy")
    data["case_1_remove"] = "1"
    deployed = admin.post(PAGE, data, follow_redirects=False)
    assert deployed.status_code == 303 and deployed.headers["location"].endswith("?deployed=1")
    cases = admin.client.get(API).json()["cases"]
    assert cases == [
        {
            "name": "随父落户",
            "inputs": {
                "prefilled": {"child_birth_cert_number": "Q1"},
                "household_parent": "father",
            },
            "expected": {"check_decision": "approved"},
        }
    ]
    saved = admin.post(PAGE, _form(cases and [approved], "save"))
    assert saved.status_code == 200 and 'id="saved"' in saved.text


def test_the_page_reads_in_english(browser):
    admin = _admin(browser)
    page = admin.get(f"{PAGE}?lang=en").text
    for label in ("Test cases", "Check (run the test cases)", "Deploy", "Expected outputs"):
        assert label in page, label
    assert "测试用例" not in page and '"lang": "en"' in page
