"""The process editor's server side: read, validate, deploy (JSON for the bpmn-js page, a plain
upload form too), versions, diff and rollback; an old case finishes on its own version."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, func, select

from engine.store import HumanTask
from services.cases.models import Case, CaseItem
from services.processes_models import ProcessVersion
from tests.bpmn_edit import add_item_task
from tests.engine.test_interchange import camunda_copy
from tests.web.conftest import FATHER, MOTHER, NEWBORN_ANSWERS, NEWBORN_DEPARTMENTS
from tests.web.test_newborn import submit_newborn

NEWBORN = (Path(__file__).resolve().parents[2] / "bpmn" / "newborn.bpmn").read_bytes()
NEW_ITEM = "hrss_social_insurance_enrollment"
WITH_NEW_ITEM = add_item_task(
    NEWBORN,
    item=NEW_ITEM,
    lane="hrss",
    task_id="Task_social_insurance_enrollment",
    fork="Gateway_fanout",
    join="Gateway_fanin",
    name="社会保险参保登记",
)
API = "/api/v1/admin/processes/newborn"


def _admin(browser):
    admin = browser("admin")
    assert admin.get("/admin/processes").status_code == 200  # also picks up the CSRF token
    return admin


def _post_json(client, url: str, body: dict):
    return client.client.post(url, json=body, headers={"X-CSRF-Token": client.csrf})


def _versions(rt) -> int:
    with Session(rt.db) as session:
        return session.exec(select(func.count()).select_from(ProcessVersion)).one()


def test_only_administrators_reach_the_editor_and_its_operations(browser):
    for username in (MOTHER, "police01", "hrss-system"):
        user = browser(username)
        for url in ("/admin/processes", "/admin/processes/newborn", f"{API}/bpmn"):
            assert user.client.get(url).status_code == 403, (username, url)
        refused = user.client.post(f"{API}/deploy", json={"xml": NEWBORN.decode()})
        assert refused.status_code == 403


def test_the_editor_page_carries_departments_items_and_operation_urls(browser):
    admin = _admin(browser)
    page = admin.get("/admin/processes/newborn")
    assert page.status_code == 200
    assert 'id="editor-config"' in page.text
    assert f"{API}/validate" in page.text and NEW_ITEM in page.text
    assert "newborn_medical_enrollment_check" in page.text  # the DMN decision the task may call
    assert admin.client.get(f"{API}/bpmn").content == NEWBORN


def test_validate_names_the_offending_element_and_stores_nothing(browser, rt):
    admin = _admin(browser)
    ok = _post_json(admin, f"{API}/validate", {"xml": NEWBORN.decode()})
    assert ok.status_code == 200
    assert {k: ok.json()[k] for k in ("ok", "problems", "notes", "runs", "fits")} == {
        "ok": True,
        "problems": [],
        "notes": [],
        "runs": [],
        "fits": [],
    }
    malicious = NEWBORN.replace(
        b"mother_maternity_insurance == True", b"__import__('os').system('id')"
    )
    found = _post_json(admin, f"{API}/validate", {"xml": malicious.decode()}).json()
    assert found["ok"] is False
    assert any(p["element_id"] == "Flow_has_maternity" for p in found["problems"]), found
    refused = _post_json(admin, f"{API}/deploy", {"xml": malicious.decode(), "comment": "x"})
    assert refused.status_code == 422
    assert "未发布" in refused.json()["detail"]
    assert refused.json()["problems"] and _versions(rt) == 0


def test_an_item_in_the_wrong_departments_lane_is_pointed_at(browser):
    admin = _admin(browser)
    wrong = add_item_task(
        NEWBORN,
        item=NEW_ITEM,
        lane="police",
        task_id="Task_wrong_lane",
        fork="Gateway_fanout",
        join="Gateway_fanin",
    )
    found = _post_json(admin, f"{API}/validate", {"xml": wrong.decode()}).json()
    assert [p["element_id"] for p in found["problems"]] == ["Task_wrong_lane"]
    assert "belongs to hrss" in found["problems"][0]["message_en"]


def test_bad_input_gets_a_clear_error(browser):
    admin = _admin(browser)
    not_xml = _post_json(admin, f"{API}/validate", {"xml": "<bpmn"}).json()
    assert not_xml["ok"] is False and "not valid XML" in not_xml["problems"][0]["message_en"]
    huge = _post_json(admin, f"{API}/validate", {"xml": "x" * 2_000_001})
    assert huge.status_code == 422
    missing = admin.client.get("/api/v1/admin/processes/no_such_matter/bpmn")
    assert missing.status_code == 404 and "no_such_matter" in missing.json()["detail"]
    unknown_version = admin.client.get(f"{API}/bpmn?version=7")
    assert unknown_version.status_code == 404


def _approve_all(browser, case_id: int, departments) -> None:
    for department in departments:
        clerk = browser(f"{department}01")
        for task in clerk.client.get("/api/v1/tasks").json():
            if task["case_id"] != case_id:
                continue
            clerk.get(f"/clerk/items/{task['id']}")
            decided = clerk.post(
                f"/clerk/items/{task['id']}/decision", data={"decision": "approved"}
            )
            assert decided.status_code == 303, decided.text[:300]


def test_a_new_version_routes_new_cases_while_an_old_case_finishes_on_its_own(browser, rt):
    _, old_case = submit_newborn(browser)
    admin = _admin(browser)
    deployed = _post_json(
        admin, f"{API}/deploy", {"xml": WITH_NEW_ITEM.decode(), "comment": "增加社保参保登记"}
    )
    assert deployed.status_code == 201, deployed.text
    assert deployed.json()["version"] == 1 and deployed.json()["comment"] == "增加社保参保登记"
    assert admin.client.get(f"{API}/bpmn").content == WITH_NEW_ITEM

    _, new_case = submit_newborn(
        browser,
        applicant=FATHER,
        answers={**NEWBORN_ANSWERS, **EMPLOYER, "delivery_method": "online"},
    )
    with Session(rt.db) as session:
        items = {
            case_id: set(
                session.exec(select(CaseItem.item_code).where(CaseItem.case_id == case_id)).all()
            )
            for case_id in (old_case, new_case)
        }
        assert NEW_ITEM in items[new_case] and NEW_ITEM not in items[old_case]
        new_tasks = session.exec(
            select(HumanTask.bpmn_id).where(HumanTask.lane == "hrss", HumanTask.state == "ready")
        ).all()
        assert "Task_social_insurance_enrollment" in new_tasks

    _approve_all(browser, old_case, NEWBORN_DEPARTMENTS)
    _approve_all(browser, new_case, NEWBORN_DEPARTMENTS)
    with Session(rt.db) as session:
        for case_id in (old_case, new_case):
            case = session.get(Case, case_id)
            assert (case.status, case.outcome) == ("completed", "approved"), case_id


EMPLOYER = {
    "employer_name": "上海示例科技有限公司",
    "employer_uscc": "91310000MA1FL8LX26",
    "employment_start_date": "2024-03-01",
}


def test_versions_page_diff_and_rollback(browser, rt):
    admin = _admin(browser)
    assert (
        _post_json(admin, f"{API}/deploy", {"xml": NEWBORN.decode(), "comment": "v1"}).status_code
        == 201
    )
    assert _post_json(admin, f"{API}/deploy", {"xml": WITH_NEW_ITEM.decode()}).status_code == 201
    page = admin.get("/admin/processes/newborn/versions")
    assert 'data-version="2"' in page.text and 'data-version="1"' in page.text
    diff = admin.get("/admin/processes/newborn/diff?a=1&b=2").text
    assert (
        "Task_social_insurance_enrollment" in diff
        and "Flow_Task_social_insurance_enrollment_in" in diff
    )
    assert admin.client.get(f"{API}/diff?a=1&b=2").json()["added"] == sorted(
        [
            "Flow_Task_social_insurance_enrollment_in",
            "Flow_Task_social_insurance_enrollment_out",
            "Task_social_insurance_enrollment",
        ]
    )
    rolled = admin.post("/admin/processes/newborn/rollback", data={"version": "1"})
    assert rolled.status_code == 303 and rolled.headers["location"].endswith("deployed=3")
    assert admin.client.get(f"{API}/bpmn").content == NEWBORN
    listed = admin.client.get(f"{API}/versions").json()
    assert [v["version"] for v in listed] == [3, 2, 1] and listed[0]["comment"] == "回滚到版本 1"


def test_a_camunda_modeler_file_is_accepted_through_the_upload_form(browser, rt):
    admin = _admin(browser)
    admin.get("/admin/processes/newborn/versions")
    uploaded = admin.client.post(
        "/admin/processes/newborn/upload",
        data={"csrf_token": admin.csrf, "comment": "Camunda Modeler"},
        files={"file": ("newborn.bpmn", camunda_copy(), "application/xml")},
    )
    assert uploaded.status_code == 303, uploaded.text[:500]
    stored = admin.client.get(f"{API}/bpmn").content
    assert b"camunda:property" not in stored and b'<bpmn:process id="newborn"' in stored

    juel = camunda_copy().replace(
        b"decision_health_birth_medical_certificate == 'correction'", b"${needsCorrection}"
    )
    refused = admin.client.post(
        "/admin/processes/newborn/upload",
        data={"csrf_token": admin.csrf},
        files={"file": ("juel.bpmn", juel, "application/xml")},
    )
    assert refused.status_code == 422
    assert 'data-element-id="Flow_birth_certificate_correction"' in refused.text
    assert _versions(rt) == 1
