"""The newborn matter end to end over HTTP: one form, five departments, one result page."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from services.cases.models import Case, CaseItem
from services.registries.models import DataAccess
from tests.web.conftest import FATHER, MOTHER, NEWBORN_ANSWERS, NEWBORN_DEPARTMENTS, OTHER_CITIZEN


def submit_newborn(browser_, applicant=MOTHER, answers=NEWBORN_ANSWERS):
    citizen = browser_(applicant)
    citizen.consent("newborn")
    form = citizen.get("/matters/newborn/apply")
    assert form.status_code == 200
    response = citizen.post("/matters/newborn/apply", data=answers)
    assert response.status_code == 303, response.text
    case_id = int(response.headers["location"].rsplit("/", 1)[1])
    return citizen, case_id


def test_form_shows_registry_facts_read_only_with_their_source(browser):
    mother = browser(MOTHER)
    mother.consent("newborn")
    page = mother.get("/matters/newborn/apply").text
    # Facts from the birth record, the population and marriage registries are shown, not asked.
    assert 'data-fact="child_hospital"' in page
    assert 'data-fact="mother_name"' in page and "王芳" in page
    assert 'data-fact="marriage_cert_number"' in page
    assert "来源：出生医学信息库" in page and "来源：人口库" in page and "来源：婚姻登记库" in page
    assert 'name="mother_name"' not in page
    # Only what no registry holds is asked.
    for key in ("household_parent", "applicant_phone", "bank_card_number", "delivery_method"):
        assert f'name="{key}"' in page
    # The mother has employee maternity insurance: the maternity allowance is part of the matter.
    assert "生育津贴" in page


def test_father_without_maternity_insurance_gets_five_items_and_names_the_child(browser):
    father = browser(FATHER)
    father.consent("newborn")
    page = father.get("/matters/newborn/apply").text
    assert 'name="child_name"' in page  # no name in the birth record yet
    assert "根据您的情况无需办理" in page and 'name="bank_card_number"' not in page


def test_invalid_input_gets_field_messages_and_nothing_is_stored(browser, rt):
    citizen = browser(MOTHER)
    citizen.consent("newborn")
    citizen.get("/matters/newborn/apply")
    bad = {**NEWBORN_ANSWERS, "applicant_phone": "12345", "bank_card_number": "6222020200112233442"}
    bad.pop("household_parent")
    response = citizen.post("/matters/newborn/apply", data=bad)
    assert response.status_code == 422
    assert "请填写11位手机号码" in response.text
    assert "银行卡号校验不通过" in response.text
    assert "请选择随父或随母落户" in response.text  # a drop-down: choose, not fill in
    assert 'value="12345"' in response.text  # what was typed is kept
    with Session(rt.db) as session:
        assert session.exec(select(Case)).all() == []


def test_submission_routes_one_task_per_item_to_each_department(browser, rt):
    _citizen, case_id = submit_newborn(browser)
    with Session(rt.db) as session:
        case = session.get(Case, case_id)
        items = session.exec(select(CaseItem).where(CaseItem.case_id == case_id)).all()
        accesses = session.exec(select(DataAccess).where(DataAccess.case_id == case_id)).all()
    assert case.number.startswith("YJS") and case.status == "processing"
    assert {i.department for i in items} == set(NEWBORN_DEPARTMENTS)
    assert len(items) == 6  # maternity allowance included for this mother
    assert case.provenance["mother_name"]["registry"] == "population"
    assert case.data["household_parent"] == "father"
    assert {a.source_registry for a in accesses} >= {
        "population",
        "birth",
        "marriage",
        "medical_insurance",
    }
    # the reads made for the form are stamped with the case: none is made again on submission
    assert all(a.purpose.startswith("预填") for a in accesses)
    assert {a.case_number for a in accesses} == {case.number}


def test_clerk_sees_only_own_department_and_cannot_act_on_others(browser, rt):
    _citizen, case_id = submit_newborn(browser)
    police = browser("police01")
    queue = police.get("/clerk").text
    assert "出生登记（新生儿落户）" in queue and "社会保障卡申领" not in queue
    assert "310105********028X" in queue and MOTHER not in queue
    with Session(rt.db) as session:
        hrss_item = session.exec(
            select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.department == "hrss")
        ).one()
    assert police.get(f"/clerk/items/{hrss_item.id}").status_code == 404
    response = police.post(f"/clerk/items/{hrss_item.id}/decision", data={"decision": "approved"})
    assert response.status_code == 404
    education = browser("education01")
    assert education.get(f"/cases/{case_id}").status_code == 404
    api = police.client.get("/api/v1/tasks").json()
    assert [t["item"] for t in api] == ["police_birth_registration"]


def test_citizen_cannot_see_another_citizens_case(browser):
    _citizen, case_id = submit_newborn(browser)
    other = browser(OTHER_CITIZEN)
    assert other.get(f"/cases/{case_id}").status_code == 404
    assert other.client.get(f"/api/v1/cases/{case_id}").status_code == 404
    assert other.get("/cases").text.count("YJS") == 0


def test_every_department_approves_and_the_citizen_downloads_results(browser):
    citizen, case_id = submit_newborn(browser)
    for department in NEWBORN_DEPARTMENTS:
        clerk = browser(f"{department}01")
        for task in clerk.client.get("/api/v1/tasks").json():
            page = clerk.get(f"/clerk/items/{task['id']}")
            assert "来源：人口库" in page.text  # the clerk sees where each fact came from
            done = clerk.post(f"/clerk/items/{task['id']}/decision", data={"decision": "approved"})
            assert done.status_code == 303
    page = citizen.get(f"/cases/{case_id}").text
    assert 'data-status="completed"' in page
    links = re.findall(r'href="(/cases/\d+/items/\d+/result)"', page)
    assert len(links) == 6
    document = citizen.get(links[0])
    assert document.status_code == 200 and "attachment" in document.headers["content-disposition"]
    assert document.headers["content-type"] == "application/pdf"
    assert document.content.startswith(b"%PDF")


def test_rejection_needs_a_reason_and_is_shown_to_the_citizen(browser):
    citizen, case_id = submit_newborn(browser)
    cdc = browser("cdc01")
    task = cdc.client.get("/api/v1/tasks").json()[0]
    cdc.get(f"/clerk/items/{task['id']}")
    refused = cdc.post(f"/clerk/items/{task['id']}/decision", data={"decision": "rejected"})
    assert refused.status_code == 422 and "不予办理时必须选择理由" in refused.text
    assert "申请人不符合法定条件" in refused.text  # the item's list of reasons is offered
    other = cdc.post(
        f"/clerk/items/{task['id']}/decision",
        data={"decision": "rejected", "reason": "其他（见说明）"},
    )
    assert other.status_code == 422 and "请写明理由" in other.text
    cdc.post(
        f"/clerk/items/{task['id']}/decision",
        data={
            "decision": "rejected",
            "reason": "申请人不符合法定条件",
            "comment": "请到接种单位现场建卡",
        },
    )
    status = citizen.client.get(f"/api/v1/cases/{case_id}").json()
    cdc_item = next(i for i in status["items"] if i["department"] == "cdc")
    assert cdc_item["status"] == "rejected"
    assert cdc_item["comment"] == "申请人不符合法定条件：请到接种单位现场建卡"


def test_deciding_an_already_decided_task_is_a_conflict(browser):
    submit_newborn(browser)
    health = browser("health01")
    task = health.client.get("/api/v1/tasks").json()[0]
    health.get(f"/clerk/items/{task['id']}")
    assert (
        health.post(
            f"/clerk/items/{task['id']}/decision", data={"decision": "approved"}
        ).status_code
        == 303
    )
    again = health.post(f"/clerk/items/{task['id']}/decision", data={"decision": "approved"})
    assert again.status_code == 409 and "已由他人办理" in again.text


def test_form_post_without_csrf_token_is_refused(browser, rt):
    citizen = browser(MOTHER)
    response = citizen.client.post("/matters/newborn/apply", data=NEWBORN_ANSWERS)
    assert response.status_code == 403
    with Session(rt.db) as session:
        assert session.exec(select(Case)).all() == []


def test_json_api_lifecycle_with_bearer_tokens(app):
    from fastapi.testclient import TestClient

    from demo.seed import DEMO_PASSWORD

    with TestClient(app) as client:

        def token(username):
            body = {"username": username, "password": DEMO_PASSWORD}
            response = client.post("/api/v1/login", json=body)
            assert response.status_code == 200
            return {"Authorization": f"Bearer {response.json()['token']}"}

        assert (
            client.post("/api/v1/login", json={"username": MOTHER, "password": "x"}).status_code
            == 403
        )
        mother = token(FATHER)
        bad = client.post(
            "/api/v1/cases",
            json={"matter": "newborn", "answers": {}, "consent": True},
            headers=mother,
        )
        assert bad.status_code == 422 and "household_parent" in bad.json()["fields"]
        created = client.post(
            "/api/v1/cases",
            json={
                "matter": "newborn",
                "answers": {**NEWBORN_ANSWERS, "delivery_method": "online"},
                "consent": True,
            },
            headers=mother,
        )
        assert created.status_code == 201, created.text
        case = created.json()
        assert len([i for i in case["items"] if i["status"] == "processing"]) == 4
        enrollment = next(i for i in case["items"] if i["item"] == "medical_resident_enrollment")
        assert enrollment["status"] == "approved" and enrollment["auto"]  # 秒批 by the DMN rule
        assert "即时办结" in enrollment["finding"]
        for department in NEWBORN_DEPARTMENTS:
            clerk = token(f"{department}01")
            for task in client.get("/api/v1/tasks", headers=clerk).json():
                done = client.post(
                    f"/api/v1/tasks/{task['id']}/complete",
                    json={"decision": "approved"},
                    headers=clerk,
                )
                assert done.status_code == 200 and done.json()["status"] == "approved"
        final = client.get(f"/api/v1/cases/{case['id']}", headers=mother).json()
        assert final["status"] == "completed" and final["outcome"] == "approved"
        statuses = {i["item"]: i["status"] for i in final["items"]}
        assert statuses["medical_maternity_allowance"] == "not_applicable"
        assert client.get("/api/v1/cases", headers=mother).json()[0]["id"] == case["id"]


def test_an_older_childs_birth_record_is_not_taken_for_a_newborn(browser, rt):
    # 李明's only birth record is his six-year-old's: the newborn form must not prefill it.
    births = rt.registry.births_to(OTHER_CITIZEN)
    assert births and (births[0].source.retrieved_at.date() - births[0].birth_date).days > 365
    citizen = browser(OTHER_CITIZEN)
    citizen.consent("newborn")
    page = citizen.get("/matters/newborn/apply").text
    assert 'data-fact="child_birth_cert_number"' not in page
    assert 'name="child_birth_date"' in page
