"""Correction (补正): a department reopens some facts and materials, the applicant corrects only
those, and only that department's item resumes; the others' work is not redone."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from engine.store import HumanTask
from services.cases.models import Case, CaseItem, Upload
from tests.web.conftest import MOTHER, NEWBORN_ANSWERS

PDF = ("marriage.pdf", b"%PDF-1.4 corrected copy", "application/pdf")


def _submit(browser):
    citizen = browser(MOTHER)
    citizen.consent("newborn")
    citizen.get("/matters/newborn/apply")
    response = citizen.post("/matters/newborn/apply", data=NEWBORN_ANSWERS)
    return citizen, int(response.headers["location"].rsplit("/", 1)[1])


def _item(rt, case_id, department):
    with Session(rt.db) as session:
        return session.exec(
            select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.department == department)
        ).one()


def test_correction_round_trip_resumes_only_the_sending_department(browser, rt):
    citizen, case_id = _submit(browser)
    police_item = _item(rt, case_id, "police")
    police = browser("police01")
    police.get(f"/clerk/items/{police_item.id}")
    # A correction must say what and mark which facts or materials are wrong.
    refused = police.post(
        f"/clerk/items/{police_item.id}/decision", data={"decision": "correction"}
    )
    assert refused.status_code == 422
    sent = police.post(
        f"/clerk/items/{police_item.id}/decision",
        data={
            "decision": "correction",
            "comment": "落户方与户口簿不一致，请确认并上传结婚证",
            "reopen": ["household_parent", "material_marriage_certificate"],
        },
    )
    assert sent.status_code == 303
    # Meanwhile the health commission goes on and approves its own item.
    health_item = _item(rt, case_id, "health")
    health = browser("health01")
    health.get(f"/clerk/items/{health_item.id}")
    health.post(f"/clerk/items/{health_item.id}/decision", data={"decision": "approved"})

    page = citizen.get(f"/cases/{case_id}").text
    assert 'data-status="correction"' in page and "落户方与户口簿不一致" in page
    form = re.search(r'<section class="panel notice error".*?</section>', page, re.S).group(0)
    assert 'name="household_parent"' in form and 'name="material_marriage_certificate"' in form
    assert 'name="applicant_phone"' not in form  # nothing else is reopened
    url = f"/cases/{case_id}/items/{police_item.id}/correction"
    missing = citizen.post(url, data={"household_parent": "mother"})
    assert missing.status_code == 422 and "请上传补正材料" in missing.text
    done = citizen.post(
        url, data={"household_parent": "mother"}, files=[("material_marriage_certificate", PDF)]
    )
    assert done.status_code == 303

    resumed = _item(rt, case_id, "police")
    assert resumed.id == police_item.id and resumed.status == "processing"
    assert resumed.engine_task_id != police_item.engine_task_id and resumed.corrections == 1
    with Session(rt.db) as session:
        case = session.get(Case, case_id)
        health_tasks = session.exec(
            select(HumanTask).where(
                HumanTask.instance_id == case.instance_id, HumanTask.item == health_item.item_code
            )
        ).all()
        uploads = session.exec(select(Upload).where(Upload.case_id == case_id)).all()
    assert case.status == "processing" and case.data["household_parent"] == "mother"
    assert "household_parent" not in case.provenance
    assert len(health_tasks) == 1  # the health commission's work was not redone
    assert _item(rt, case_id, "health").status == "approved"
    assert [u.material_code for u in uploads] == ["marriage_certificate"]
    police.get(f"/clerk/items/{police_item.id}")
    assert (
        police.post(
            f"/clerk/items/{police_item.id}/decision", data={"decision": "approved"}
        ).status_code
        == 303
    )
    assert _item(rt, case_id, "police").status == "approved"


def test_only_the_applicant_corrects_and_only_when_asked(browser, rt):
    citizen, case_id = _submit(browser)
    police_item = _item(rt, case_id, "police")
    url = f"/cases/{case_id}/items/{police_item.id}/correction"
    assert citizen.post(url, data={"household_parent": "mother"}).status_code == 409
    other = browser("310104199511020172")
    assert other.post(url, data={"household_parent": "mother"}).status_code == 404


def test_uploaded_materials_are_shown_to_the_case_and_no_one_else(browser, rt):
    citizen, case_id = _submit(browser)
    police_item = _item(rt, case_id, "police")
    police = browser("police01")
    police.get(f"/clerk/items/{police_item.id}")
    police.post(
        f"/clerk/items/{police_item.id}/decision",
        data={
            "decision": "correction",
            "comment": "请上传结婚证",
            "reopen": ["material_marriage_certificate"],
        },
    )
    citizen.get(f"/cases/{case_id}")
    citizen.post(
        f"/cases/{case_id}/items/{police_item.id}/correction",
        files=[("material_marriage_certificate", PDF)],
    )
    with Session(rt.db) as session:
        upload = session.exec(select(Upload)).one()
    page = police.get(f"/clerk/items/{police_item.id}").text
    assert f'href="/uploads/{upload.id}"' in page
    shown = police.get(f"/uploads/{upload.id}")
    assert shown.status_code == 200 and shown.content == PDF[1]
    assert shown.headers["content-type"] == "application/pdf"
    assert "inline" in shown.headers["content-disposition"]
    assert browser("education01").get(f"/uploads/{upload.id}").status_code == 404
    assert browser("310104199511020172").get(f"/uploads/{upload.id}").status_code == 404
