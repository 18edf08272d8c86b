"""Personal data on a need-to-know basis, and every look logged: a clerk sees what their own
item needs (numbers masked unless a reason is given and logged), opens only their item's
materials and results; the front desk reads a person's data only while that person is at the
window; the external-task API is the department systems'."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from demo.seed import DEMO_PASSWORD
from services.cases.models import CaseItem, Upload
from services.registries.models import DataAccess
from tests.web.conftest import MOTHER, NEWBORN_ANSWERS

PDF = ("booklet.pdf", b"%PDF-1.4 household register page", "application/pdf")
MOTHER_MASKED = "310105********028X"
BANK_CARD = NEWBORN_ANSWERS["bank_card_number"]
WALK_IN = "310104199205160353"


def _submitted(browser, files=()):
    citizen = browser(MOTHER)
    citizen.consent("newborn")
    citizen.get("/matters/newborn/apply")
    done = citizen.post("/matters/newborn/apply", data=NEWBORN_ANSWERS, files=list(files))
    assert done.status_code == 303, done.text[:500]
    return citizen, int(done.headers["location"].rsplit("/", 1)[1])


def _item(rt, case_id: int, code: str) -> CaseItem:
    with Session(rt.db) as session:
        return session.exec(
            select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.item_code == code)
        ).one()


def _views(rt, case_id: int) -> list[DataAccess]:
    with Session(rt.db) as session:
        return list(
            session.exec(
                select(DataAccess).where(
                    DataAccess.case_id == case_id, DataAccess.source_registry == "onething"
                )
            ).all()
        )


def test_a_clerk_sees_only_the_facts_of_their_item_with_numbers_masked(browser, rt):
    _citizen, case_id = _submitted(browser)
    police = browser("police01")
    row = _item(rt, case_id, "police_birth_registration")
    page = police.get(f"/clerk/items/{row.id}").text
    assert 'data-fact="mother_id_number"' in page and MOTHER_MASKED in page
    assert MOTHER not in page  # not the full number
    assert BANK_CARD not in page and 'data-fact="bank_card_number"' not in page  # not police's
    assert 'data-fact="delivery_address"' not in page  # the social security card's
    [view] = _views(rt, case_id)
    assert view.case_number and view.case_number.startswith("YJS") and "审核办件" in view.purpose


def test_a_full_number_is_shown_only_for_a_stated_reason_which_is_logged(browser, rt):
    _citizen, case_id = _submitted(browser)
    medical = browser("medical01")
    row = _item(rt, case_id, "medical_maternity_allowance")
    page = medical.get(f"/clerk/items/{row.id}").text
    assert 'data-fact="bank_card_number"' in page and BANK_CARD not in page
    no_reason = medical.post(
        f"/clerk/items/{row.id}/reveal", data={"fact": "bank_card_number", "reason": ""}
    )
    assert no_reason.status_code == 422 and BANK_CARD not in no_reason.text
    not_needed = medical.post(
        f"/clerk/items/{row.id}/reveal", data={"fact": "father_id_number", "reason": "核对"}
    )
    assert not_needed.status_code == 422
    shown = medical.post(
        f"/clerk/items/{row.id}/reveal",
        data={"fact": "bank_card_number", "reason": "核对发放账户，申请人来电更正"},
    )
    assert shown.status_code == 200 and BANK_CARD in shown.text
    assert shown.headers["cache-control"].startswith("no-store")
    assert any(
        "核对发放账户" in v.purpose and "查看完整号码" in v.purpose for v in _views(rt, case_id)
    )
    citizen = browser(MOTHER)
    tracker = citizen.get("/my-data-access").text
    assert "核对发放账户" in tracker  # the applicant sees who looked, and why


def test_a_clerk_opens_only_the_materials_their_item_needs(browser, rt):
    _citizen, case_id = _submitted(browser, [("material_household_booklet", PDF)])
    with Session(rt.db) as session:
        [upload] = session.exec(select(Upload).where(Upload.case_id == case_id)).all()
    hrss = browser("hrss01")  # the social security card needs no household register
    assert hrss.get(f"/uploads/{upload.id}").status_code == 404
    hrss_row = _item(rt, case_id, "hrss_social_security_card")
    assert "booklet.pdf" not in hrss.get(f"/clerk/items/{hrss_row.id}").text
    police = browser("police01")
    seen = police.get(f"/uploads/{upload.id}")
    assert seen.status_code == 200 and seen.content == PDF[1]
    assert any("查看申请材料" in v.purpose for v in _views(rt, case_id))


def test_a_clerk_gets_their_own_result_only_and_never_the_whole_archive(browser, rt):
    _citizen, case_id = _submitted(browser)
    police_row = _item(rt, case_id, "police_birth_registration")
    police = browser("police01")
    police.get(f"/clerk/items/{police_row.id}")
    assert (
        police.post(
            f"/clerk/items/{police_row.id}/decision", data={"decision": "approved"}
        ).status_code
        == 303
    )
    cdc_row = _item(rt, case_id, "cdc_vaccination_certificate")
    cdc = browser("cdc01")
    cdc.get(f"/clerk/items/{cdc_row.id}")
    assert (
        cdc.post(f"/clerk/items/{cdc_row.id}/decision", data={"decision": "approved"}).status_code
        == 303
    )
    own = police.get(f"/cases/{case_id}/items/{police_row.id}/result")
    assert own.status_code == 200 and own.headers["content-type"] == "application/pdf"
    assert police.get(f"/cases/{case_id}/items/{cdc_row.id}/result").status_code == 404
    assert police.get(f"/cases/{case_id}/results.zip").status_code == 404
    assert any("下载本部门办理结果" in v.purpose for v in _views(rt, case_id))


def test_a_clerk_opening_the_case_is_taken_to_their_item_and_logged(browser, rt):
    _citizen, case_id = _submitted(browser)
    police = browser("police01")
    sent = police.get(f"/cases/{case_id}")
    row = _item(rt, case_id, "police_birth_registration")
    assert sent.status_code == 303 and sent.headers["location"] == f"/clerk/items/{row.id}"
    assert browser("admin").get(f"/cases/{case_id}").status_code == 404


def test_the_front_desk_reads_nobody_who_is_not_at_the_window(browser, rt, user_of):
    desk = browser("center01")
    mother = user_of(MOTHER)
    url = f"/frontdesk/apply/newborn/{mother.id}"
    assert desk.get(url).status_code == 403
    assert desk.post(url, data=NEWBORN_ANSWERS).status_code == 403
    desk.get("/frontdesk")
    absent = desk.post(
        "/frontdesk", data={"id_number": MOTHER, "matter": "newborn", "consent": "1"}
    )
    assert absent.status_code == 422 and "本人到场" in absent.text
    with Session(rt.db) as session:
        assert session.exec(select(DataAccess)).all() == []  # nothing was read
    present = desk.post(
        "/frontdesk",
        data={"id_number": MOTHER, "matter": "newborn", "consent": "1", "present": "1"},
    )
    assert present.status_code == 303 and desk.get(url).status_code == 200
    # the visit is this clerk's, for this matter
    assert browser("center02").get(url).status_code == 403
    assert desk.get(f"/frontdesk/apply/school_enrollment/{mother.id}").status_code == 403


def test_the_front_desk_prints_receipts_of_window_cases_only(browser, rt):
    _citizen, case_id = _submitted(browser)  # an online case
    assert browser("center01").get(f"/frontdesk/receipts/{case_id}").status_code == 404


def _bearer(client: TestClient, username: str) -> dict[str, str]:
    login = client.post("/api/v1/login", json={"username": username, "password": DEMO_PASSWORD})
    return {"Authorization": f"Bearer {login.json()['token']}"}


def test_the_external_task_api_is_for_department_systems_only(app, rt):
    body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
    with TestClient(app) as client:
        case = client.post("/api/v1/cases", json=body, headers=_bearer(client, MOTHER)).json()
        clerk = _bearer(client, "police01")
        fetch = {"worker_id": "clerk-script"}
        locked = client.post("/api/v1/external-tasks/fetch-and-lock", json=fetch, headers=clerk)
        assert locked.status_code == 403
        police = [i for i in case["items"] if i["department"] == "police"][0]
        assert client.post(f"/api/v1/tasks/{police['id']}/claim", headers=clerk).status_code == 200
        system = _bearer(client, "police-system")
        row = _item(rt, case["id"], "police_birth_registration")
        with Session(rt.db) as session:  # a lock taken before the clerk's claim
            stored = session.get(CaseItem, row.id)
            stored.locked_by = "w1"
            from datetime import timedelta

            from engine.clock import utcnow

            stored.lock_expires_at = utcnow() + timedelta(minutes=5)
            session.add(stored)
            session.commit()
        done = client.post(
            f"/api/v1/external-tasks/{police['id']}/complete",
            json={"worker_id": "w1", "decision": "approved"},
            headers=system,
        )
        assert done.status_code == 409 and "认领" in done.json()["detail"]


def test_a_department_system_gets_its_items_facts_and_materials_only(browser, app, rt):
    _citizen, case_id = _submitted(browser, [("material_household_booklet", PDF)])
    with TestClient(app) as client:
        system = _bearer(client, "hrss-system")
        [task] = client.post(
            "/api/v1/external-tasks/fetch-and-lock", json={"worker_id": "w"}, headers=system
        ).json()
    assert "bank_card_number" not in task["facts"] and "mother_id_number" not in task["facts"]
    assert task["facts"]["child_name"] and task["uploads"] == []  # no household register
    assert any("获取待办" in v.purpose for v in _views(rt, case_id))


def test_lists_that_show_addresses_log_a_view_of_each_case(browser, rt):
    from tests.web.test_results import _complete_case

    citizen, case_id = _complete_case(browser)  # the results go by post
    assert 'data-case="YJS' in browser("center01").get("/clerk/deliveries").text
    assert any("寄递办理结果" in v.purpose for v in _views(rt, case_id))
    assert "寄递办理结果" in citizen.get("/my-data-access").text
