"""Correction (补正): a department reopens some facts and materials, the applicant corrects only
those, and only that department's item resumes; the others' work is not redone."""

from __future__ import annotations

import re
from html import unescape

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from engine.store import HumanTask
from forms.values import mask_id
from services.accounts.models import User
from services.cases.models import Case, CaseItem, Upload
from tests.api.test_staff_api import sign_in
from tests.web.conftest import MOTHER, NEWBORN_ANSWERS, OTHER_CITIZEN

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
    # The corrected fact's source is the correction, no longer a registry or plain typing.
    assert case.provenance["household_parent"]["source"] == "correction"
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


MASKED_NEW_FATHER = "310110********0510"


def _send_back(police, item_id: int, reopen: list[str]) -> None:
    police.get(f"/clerk/items/{item_id}")
    sent = police.post(
        f"/clerk/items/{item_id}/decision",
        data={
            "decision": "correction",
            "comment": "请核对父亲身份证号并上传结婚证",
            "reopen": reopen,
        },
    )
    assert sent.status_code == 303, sent.text[:500]


def _corrected_case(browser, rt):
    """The police send the newborn's birth registration back for the father's ID, the joined
    household and the marriage certificate (fetched from the marriage registry); the mother
    corrects all three, with a note. Returns (citizen, police, case id, police item id, the
    father's ID before)."""
    citizen, case_id = _submit(browser)
    item = _item(rt, case_id, "police")
    with Session(rt.db) as session:
        before = session.get(Case, case_id).data["father_id_number"]
    assert before and before != OTHER_CITIZEN
    police = browser("police01")
    _send_back(
        police, item.id, ["father_id_number", "household_parent", "material_marriage_certificate"]
    )
    citizen.get(f"/cases/{case_id}")
    done = citizen.post(
        f"/cases/{case_id}/items/{item.id}/correction",
        data={
            "father_id_number": OTHER_CITIZEN,
            "household_parent": "mother",
            "correction_note": "已更正父亲证件号",
        },
        files=[("material_marriage_certificate", PDF)],
    )
    assert done.status_code == 303, done.text[:800]
    return citizen, police, case_id, item.id, before


def _text(html: str) -> str:
    """A page's visible text, roughly: tags, scripts and styles removed, entities decoded."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", html))


def _material_line(html: str, code: str) -> str:
    found = re.search(rf'<li class="[^"]*" data-material="{code}">(.*?)</li>', html, re.S)
    assert found, f"no checklist entry for {code}"
    return _text(found.group(1))


def test_a_corrected_material_is_shown_as_uploaded_in_the_correction(browser, rt):
    citizen, police, case_id, item_id, _ = _corrected_case(browser, rt)
    with Session(rt.db) as session:
        upload = session.exec(select(Upload).where(Upload.case_id == case_id)).one()
        case = session.get(Case, case_id)
    entry = next(e for e in case.checklist if e["code"] == "marriage_certificate")
    assert entry["upload_id"] == upload.id and entry["status"] == "upload"
    for page in (citizen.get(f"/cases/{case_id}").text, police.get(f"/clerk/items/{item_id}").text):
        line = _material_line(page, "marriage_certificate")
        assert "申请人补正时上传" in line and "marriage.pdf" in line
        assert "获取" not in line and "免于提交" not in line  # no longer "fetched from a registry"
        assert f'href="/uploads/{upload.id}"' in page
        assert "补正时上传：" in page  # the file itself, in the uploads list
        # The corrected fact's source is the correction, not the registry that supplied it.
        label = re.escape(rt.catalog.facts["father_id_number"].label)
        fact = re.search(rf"<dt>{label}</dt>.*?</dd>", page, re.S)
        assert fact and "申请人补正时填写" in fact.group(0) and "来源" not in fact.group(0)
    english = _material_line(citizen.get(f"/cases/{case_id}?lang=en").text, "marriage_certificate")
    assert "Uploaded by the applicant in the correction" in english
    assert "Marriage certificate" in english


def test_the_case_api_shows_the_material_and_the_fact_from_the_correction(browser, rt, app):
    _, _, case_id, _, _ = _corrected_case(browser, rt)
    with TestClient(app) as api:
        detail = api.get(f"/api/v1/cases/{case_id}", headers=sign_in(api, MOTHER)).json()
    entry = next(e for e in detail["checklist"] if e["code"] == "marriage_certificate")
    assert entry["reason"].startswith("申请人补正时上传") and entry["corrected_at"]
    assert entry["reason_en"].startswith("Uploaded by the applicant in the correction")
    assert entry["name_en"] == "Marriage certificate" and entry["upload_id"]
    facts = {f["key"]: f for f in detail["application"]}
    assert facts["household_parent"]["source"] is None
    assert facts["household_parent"]["corrected_at"]
    assert facts["mother_name"]["source"]["registry"] == "population"
    assert facts["mother_name"]["corrected_at"] is None


def test_the_clerk_sees_what_changed_masked_until_the_decision(browser, rt, app):
    _, police, case_id, item_id, father = _corrected_case(browser, rt)
    queue = police.get("/clerk").text
    row = re.search(rf'<tr data-case="[^"]+" data-item="{item_id}"[^>]*>.*?</tr>', queue, re.S)
    assert row and 'data-corrected="1"' in row.group(0) and "已补正" in _text(row.group(0))
    page = police.get(f"/clerk/items/{item_id}").text
    notice = re.search(r'<section class="notice corrected".*?</section>', page, re.S)
    assert notice, "no 已补正 notice on the task page"
    shown = _text(notice.group(0))
    assert "已补正" in shown and "已更正父亲证件号" in shown and "请核对父亲身份证号" in shown
    changed = re.search(r'<tr data-fact="father_id_number">.*?</tr>', notice.group(0), re.S)
    assert changed, "the father's ID is not among the changes"
    assert mask_id(father) in changed.group(0) and MASKED_NEW_FATHER in changed.group(0)
    assert father not in page and OTHER_CITIZEN not in page  # never in full without a reason
    parent = re.search(r'<tr data-fact="household_parent">.*?</tr>', notice.group(0), re.S)
    assert parent and "父亲" in parent.group(0) and "母亲" in parent.group(0)
    assert "结婚证" in shown and "marriage.pdf" in shown
    # Revealed for a logged reason, the number is shown in full, in the notice as well.
    revealed = police.post(
        f"/clerk/items/{item_id}/reveal",
        data={"fact": "father_id_number", "reason": "核对父亲身份"},
    ).text
    notice = re.search(r'<section class="notice corrected".*?</section>', revealed, re.S).group(0)
    assert father in notice and OTHER_CITIZEN in notice

    with TestClient(app) as api:
        clerk = sign_in(api, "police01")
        listed = api.get("/api/v1/queue", headers=clerk).json()["tasks"]
        task = next(t for t in listed if t["id"] == item_id)
        assert task["corrected"] is True
        assert {c["key"] for c in task["changes"]} == {
            "father_id_number",
            "household_parent",
            "material_marriage_certificate",
        }
        detail = api.get(f"/api/v1/tasks/{item_id}", headers=clerk).json()
        assert detail["corrected"] is True and detail["corrected_by"]["note"] == "已更正父亲证件号"
        changes = {c["key"]: c for c in detail["changes"]}
        assert changes["father_id_number"]["old"] == mask_id(father)
        assert changes["father_id_number"]["new"] == MASKED_NEW_FATHER
        assert changes["father_id_number"]["masked"] is True
        assert changes["household_parent"]["old_en"] and changes["household_parent"]["new"]
        material = changes["material_marriage_certificate"]
        assert material["kind"] == "material" and material["filename"] == "marriage.pdf"
        assert father not in str(detail) and OTHER_CITIZEN not in str(detail)
        assert "answered" not in (detail["correction"] or {})
        ready = [t for t in api.get("/api/v1/tasks", headers=clerk).json() if t["id"] == item_id]
        assert ready and ready[0]["corrected"] is True

    # Decided again, the task is no longer marked; the history keeps the correction.
    police.get(f"/clerk/items/{item_id}")
    assert (
        police.post(f"/clerk/items/{item_id}/decision", data={"decision": "approved"}).status_code
        == 303
    )
    done = police.get("/clerk?status=approved").text
    row = re.search(rf'<tr data-case="[^"]+" data-item="{item_id}"[^>]*>.*?</tr>', done, re.S)
    assert row and "data-corrected" not in row.group(0) and "已补正" not in row.group(0)
    page = police.get(f"/clerk/items/{item_id}").text
    assert 'class="notice corrected"' not in page
    assert "提交补正：出生登记（新生儿落户）（修改：" in page  # in the history
    with TestClient(app) as api:
        detail = api.get(f"/api/v1/tasks/{item_id}", headers=sign_in(api, "police01")).json()
    assert detail["corrected"] is False and detail["changes"] == []


CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]+")


def _main_text(html: str) -> str:
    """The page's main content as text: the header and footer (base.html) are not the clerk's
    pages'. The history's sentences, stored in Chinese, are read in English (web/i18n.py)."""
    return _text(re.search(r"<main\b.*?</main>", html, re.S).group(0))


def test_the_clerk_pages_in_english_show_no_chinese_but_the_applicants_own_words(browser, rt):
    _, police, case_id, item_id, _ = _corrected_case(browser, rt)
    police.get("/clerk")
    assert police.post(f"/clerk/items/{item_id}/claim", data={"back": "/clerk"}).status_code == 303
    with Session(rt.db) as session:
        case = session.get(Case, case_id)
        typed = [str(v) for v in case.data.values() if isinstance(v, str)]
        typed += [case.applicant_name, "已更正父亲证件号", "请核对父亲身份证号并上传结婚证"]
        typed += list(session.exec(select(User.display_name)).all())  # the clerks' names
    pages = {}
    lead, centre = browser("police-lead"), browser("center01")
    for who, url in (
        (police, "/clerk?lang=en"),
        (police, f"/clerk/items/{item_id}?lang=en"),
        (police, "/clerk?status=all&lang=en"),
        (lead, "/clerk?lang=en&status=all"),  # a supervisor's: reassigning
        (lead, "/clerk/follow-ups?lang=en"),
        (centre, "/clerk/deliveries?lang=en"),
    ):
        response = who.get(url)
        assert response.status_code == 200, url
        pages[url] = response.text
        text = _main_text(pages[url])
        for value in sorted(typed, key=len, reverse=True):
            text = text.replace(value, " ")
        left = CJK.findall(text)
        assert not left, f"{url}: Chinese left in the English page: {left}"
    queue, task = _text(pages["/clerk?lang=en"]), _text(pages[f"/clerk/items/{item_id}?lang=en"])
    assert "Corrected" in queue and "Birth household registration" in queue
    assert "Public Security Bureau" in queue  # the department's name in the heading
    for english in (
        "Please choose",  # the reject reason's first option
        "The applicant does not meet the legal conditions",  # a reject reason
        "Public Security Bureau",  # a department in the progress table
        "Population registry",  # a registry, as a fact's source
        "Marriage certificate — Uploaded by the applicant in the correction",  # a material
        "Typed by the applicant in the correction",  # a corrected fact's source
        "Mother",  # an option's label (the joined household), in the changes
        "Legal basis: Regulations of the PRC on Household Registration, Article 7",
        "Submitted a correction: Birth household registration (changed: ",  # the history
    ):
        assert english in task, english


def test_a_fact_sent_back_unchanged_is_marked_so(browser, rt):
    citizen, case_id = _submit(browser)
    item = _item(rt, case_id, "police")
    police = browser("police01")
    _send_back(police, item.id, ["applicant_phone"])
    citizen.get(f"/cases/{case_id}")
    url = f"/cases/{case_id}/items/{item.id}/correction"
    same = NEWBORN_ANSWERS["applicant_phone"]
    long_note = citizen.post(url, data={"applicant_phone": same, "correction_note": "长" * 501})
    assert long_note.status_code == 422 and "补正说明不能超过500字" in long_note.text
    assert citizen.post(url, data={"applicant_phone": same}).status_code == 303
    page = police.get(f"/clerk/items/{item.id}").text
    phone = re.search(r'<tr data-fact="applicant_phone">.*?</tr>', page, re.S)
    assert phone and "（未修改）" in phone.group(0)
