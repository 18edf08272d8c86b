"""The staff's side of the JSON API, driven as an integrator would (bearer tokens, JSON bodies):
a clerk's view of a task (need to know, logged), a number revealed for a reason, every kind of
decision, postal deliveries, follow-ups of bad reviews, the citizen's evaluation."""

from __future__ import annotations

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

import services.evaluations.models  # noqa: F401 - tables exist before `rt` creates the schema
from demo.seed import DEMO_PASSWORD
from services.cases.models import CaseItem, Upload
from services.registries.models import DataAccess
from tests.web.conftest import MOTHER, NEWBORN_ANSWERS, NEWBORN_DEPARTMENTS
from tests.web.test_route_walk import iter_route_contexts

SCAN = ("marriage.pdf", b"%PDF-1.4 the applicant's own copy", "application/pdf")
MASKED_MOTHER = "310105********028X"


def sign_in(client: TestClient, username: str) -> dict[str, str]:
    body = {"username": username, "password": DEMO_PASSWORD}
    response = client.post("/api/v1/login", json=body)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def apply_with_a_scan(browser) -> int:
    """The mother applies on the page with her own copy of the marriage certificate (a file the
    police item needs); returns the case id."""
    citizen = browser(MOTHER)
    citizen.consent("newborn")
    citizen.get("/matters/newborn/apply")
    response = citizen.post(
        "/matters/newborn/apply",
        data=NEWBORN_ANSWERS,
        files=[("material_marriage_certificate", SCAN)],
    )
    assert response.status_code == 303, response.text[:500]
    return int(response.headers["location"].rsplit("/", 1)[1])


def apply(api: TestClient, applicant: str = MOTHER) -> int:
    body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
    response = api.post("/api/v1/cases", json=body, headers=sign_in(api, applicant))
    assert response.status_code == 201, response.text
    return response.json()["id"]


def task_of(api: TestClient, clerk: dict, case_id: int, item: str | None = None) -> dict:
    """The case's open task in the clerk's department queue (the item's, if named)."""
    found = [
        task
        for task in api.get("/api/v1/tasks", headers=clerk).json()
        if task["case_id"] == case_id and item in (None, task["item"])
    ]
    assert len(found) == 1, found
    return found[0]


def decide(api: TestClient, clerk: dict, task_id: int, **body):
    return api.post(f"/api/v1/tasks/{task_id}/complete", json=body, headers=clerk)


def approve_all(api: TestClient, case_id: int) -> None:
    """Every department approves its open tasks of the case."""
    for department in NEWBORN_DEPARTMENTS:
        clerk = sign_in(api, f"{department}01")
        for task in api.get("/api/v1/tasks", headers=clerk).json():
            if task["case_id"] == case_id:
                done = decide(api, clerk, task["id"], decision="approved")
                assert done.status_code == 200, done.text


def views_of(rt, case_id: int) -> list[DataAccess]:
    with Session(rt.db) as session:
        return list(
            session.exec(
                select(DataAccess)
                .where(DataAccess.case_id == case_id, DataAccess.source_registry == "onething")
                .order_by(col(DataAccess.id))
            ).all()
        )


def test_task_view_shows_the_items_facts_and_materials_masked_and_is_logged(api, browser, rt):
    case_id = apply_with_a_scan(browser)
    police = sign_in(api, "police01")
    task = task_of(api, police, case_id)
    before = len(views_of(rt, case_id))
    response = api.get(f"/api/v1/tasks/{task['id']}", headers=police)
    assert response.status_code == 200, response.text
    view = response.json()
    assert view["item"]["code"] == "police_birth_registration"
    assert view["item"]["legal_basis"] and view["item"]["time_limit_days"] > 0
    assert view["status"] == "processing" and view["due_date"] == task["due_date"]
    assert "其他（见说明）" in view["reject_reasons"]
    assert {"household_parent", "material_marriage_certificate"} <= {
        c["key"] for c in view["correctable"]
    }
    facts = {fact["key"]: fact for fact in view["facts"]}
    # The facts the police item needs, and who applied: nothing of the other items.
    assert "mother_name" in facts and "marriage_cert_number" in facts
    assert "bank_card_number" not in facts and "child_hospital" not in facts
    assert facts["mother_name"]["value"] == "王芳" and not facts["mother_name"]["masked"]
    mother_id = facts["mother_id_number"]
    assert mother_id["masked"] and mother_id["value"] == MASKED_MOTHER
    assert mother_id["source"]["registry"] == "population"
    assert mother_id["source"]["record"] == MASKED_MOTHER  # a record number that is an ID
    assert MOTHER not in response.text  # the full number appears nowhere
    assert facts["household_parent"]["source"] is None  # typed by the applicant
    assert facts["household_parent"]["display"] != facts["household_parent"]["value"]
    # The item's materials, with the file the applicant uploaded and where to get it.
    police_materials = {"birth_medical_certificate", "parents_id_cards", "household_booklet"}
    assert {e["code"] for e in view["checklist"]} <= police_materials | {"marriage_certificate"}
    [upload] = view["uploads"]
    assert upload["material"] == "marriage_certificate" and upload["filename"] == "marriage.pdf"
    assert upload["url"] == f"/api/v1/uploads/{upload['id']}"
    # The other items: their progress, never their comments or results.
    progress = {entry["item"]: entry for entry in view["progress"]}
    assert progress["police_birth_registration"]["own"]
    others = [entry for entry in view["progress"] if not entry["own"]]
    assert others and all(e["comment"] is None and e["result_number"] is None for e in others)
    assert view["history"] and view["history"][0]["message"]
    # Logged for the applicant, with the case number.
    [logged] = views_of(rt, case_id)[before:]
    assert logged.case_number == view["case_number"] and "审核办件" in logged.purpose


def test_a_task_of_another_department_does_not_exist_for_the_clerk(api, rt):
    case_id = apply(api)
    task = task_of(api, sign_in(api, "police01"), case_id)
    before = len(views_of(rt, case_id))
    for username in ("cdc01", "center01"):
        refused = api.get(f"/api/v1/tasks/{task['id']}", headers=sign_in(api, username))
        assert refused.status_code == 404
    citizen = api.get(f"/api/v1/tasks/{task['id']}", headers=sign_in(api, MOTHER))
    assert citizen.status_code == 403
    assert len(views_of(rt, case_id)) == before  # nothing was shown, nothing logged


def test_a_number_is_revealed_only_for_a_stated_reason_which_is_logged(api, rt):
    case_id = apply(api)
    medical = sign_in(api, "medical01")
    task = task_of(api, medical, case_id, "medical_maternity_allowance")
    url = f"/api/v1/tasks/{task['id']}/reveal"
    before = len(views_of(rt, case_id))
    for reason in ("", " ", "x"):
        refused = api.post(
            url, json={"fact": "bank_card_number", "reason": reason}, headers=medical
        )
        assert refused.status_code == 422, refused.text
        assert "reason" in refused.json()["fields"]
    missing = api.post(url, json={"fact": "bank_card_number"}, headers=medical)
    assert missing.status_code == 422 and "reason" in missing.json()["fields"]
    not_masked = api.post(url, json={"fact": "mother_name", "reason": "核对"}, headers=medical)
    assert not_masked.status_code == 422 and "reveal" in not_masked.json()["fields"]
    assert len(views_of(rt, case_id)) == before  # refused: nothing shown, nothing logged
    shown = api.post(
        url, json={"fact": "bank_card_number", "reason": "核对生育津贴发放账户"}, headers=medical
    )
    assert shown.status_code == 200, shown.text
    assert shown.json()["value"] == NEWBORN_ANSWERS["bank_card_number"]
    [logged] = views_of(rt, case_id)[before:]
    assert "核对生育津贴发放账户" in logged.purpose and "银行卡" in logged.purpose
    # The task view still shows it masked.
    view = api.get(f"/api/v1/tasks/{task['id']}", headers=medical).json()
    [card] = [fact for fact in view["facts"] if fact["key"] == "bank_card_number"]
    assert card["masked"] and card["value"] != NEWBORN_ANSWERS["bank_card_number"]


def test_a_task_is_approved_or_rejected_with_a_catalog_reason(api):
    case_id = apply(api)
    police, cdc = sign_in(api, "police01"), sign_in(api, "cdc01")
    police_task = task_of(api, police, case_id)
    approved = decide(api, police, police_task["id"], decision="approved")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["result_number"]
    again = decide(api, police, police_task["id"], decision="approved")
    assert again.status_code == 409
    cdc_task = task_of(api, cdc, case_id)
    for body in (
        {"decision": "rejected"},  # neither reason nor comment
        {"decision": "rejected", "reason": "没有这个理由"},
        {"decision": "rejected", "reason": "其他（见说明）"},  # "other" needs a comment
    ):
        refused = decide(api, cdc, cdc_task["id"], **body)
        assert refused.status_code == 422, (body, refused.text)
        assert set(refused.json()["fields"]) & {"reason", "comment"}
    view = api.get(f"/api/v1/tasks/{cdc_task['id']}", headers=cdc).json()
    reason = view["reject_reasons"][1]
    rejected = decide(
        api, cdc, cdc_task["id"], decision="rejected", reason=reason, comment="出生信息不一致"
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["comment"] == f"{reason}：出生信息不一致"


def test_the_earlier_body_rejects_with_a_comment_as_the_other_reason(api):
    case_id = apply(api)
    police = sign_in(api, "police01")
    task = task_of(api, police, case_id)
    rejected = decide(api, police, task["id"], decision="rejected", comment="材料不全")
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["comment"] == "其他（见说明）：材料不全"


def test_a_correction_reopens_what_the_clerk_named_and_the_applicant_sees_it(api):
    case_id = apply(api)
    police = sign_in(api, "police01")
    task = task_of(api, police, case_id)
    no_reopen = decide(api, police, task["id"], decision="correction", comment="请补正")
    assert no_reopen.status_code == 422 and "reopen" in no_reopen.json()["fields"]
    foreign = decide(
        api, police, task["id"], decision="correction", comment="请补正", reopen=["bank_name"]
    )
    assert foreign.status_code == 422  # not a fact of this item
    no_comment = decide(api, police, task["id"], decision="correction", reopen=["applicant_phone"])
    assert no_comment.status_code == 422 and "comment" in no_comment.json()["fields"]
    sent_back = decide(
        api,
        police,
        task["id"],
        decision="correction",
        comment="请上传结婚证并核对电话",
        reopen=["applicant_phone", "material_marriage_certificate"],
    )
    assert sent_back.status_code == 200, sent_back.text
    assert sent_back.json()["status"] == "correction"
    view = api.get(f"/api/v1/tasks/{task['id']}", headers=police).json()
    assert view["correction"] == {
        "facts": ["applicant_phone"],
        "materials": ["marriage_certificate"],
        "note": "请上传结婚证并核对电话",
    }
    case = api.get(f"/api/v1/cases/{case_id}", headers=sign_in(api, MOTHER)).json()
    assert case["status"] == "correction"
    [item] = [i for i in case["items"] if i["id"] == task["id"]]
    assert item["status"] == "correction" and item["comment"] == "请上传结婚证并核对电话"
    asked = item["correction"]  # what to correct, as data the applicant's app can show
    assert asked["note"] == "请上传结婚证并核对电话"
    assert [fact["key"] for fact in asked["facts"]] == ["applicant_phone"]
    assert [material["code"] for material in asked["materials"]] == ["marriage_certificate"]


def test_the_centre_ships_and_delivers_results_by_post(api, rt):
    case_id = apply(api)
    approve_all(api, case_id)
    centre = sign_in(api, "center01")
    assert api.get("/api/v1/deliveries", headers=sign_in(api, "police01")).status_code == 404
    before = len(views_of(rt, case_id))
    [row] = api.get("/api/v1/deliveries", headers=centre).json()
    assert row["case_id"] == case_id and row["status"] == "preparing"
    assert row["address"] == NEWBORN_ANSWERS["delivery_address"] and row["recipient"] == "王芳"
    assert len(views_of(rt, case_id)) == before + 1  # the address shown is logged
    assert api.get("/api/v1/deliveries?status=lost", headers=centre).status_code == 422
    url = f"/api/v1/deliveries/{row['id']}"
    skipped = api.post(url, json={"status": "delivered"}, headers=centre)
    assert skipped.status_code == 409
    untracked = api.post(url, json={"status": "shipped"}, headers=centre)
    assert untracked.status_code == 422 and "tracking_number" in untracked.json()["fields"]
    police = api.post(
        url, json={"status": "shipped", "tracking_number": "SF1"}, headers=sign_in(api, "police01")
    )
    assert police.status_code == 404
    shipped = api.post(url, json={"status": "shipped", "tracking_number": "SF100"}, headers=centre)
    assert shipped.status_code == 200, shipped.text
    assert shipped.json()["status"] == "shipped" and shipped.json()["tracking_number"] == "SF100"
    assert api.get("/api/v1/deliveries", headers=centre).json() == []
    [listed] = api.get("/api/v1/deliveries?status=shipped", headers=centre).json()
    assert listed["id"] == row["id"]
    delivered = api.post(url, json={"status": "delivered"}, headers=centre)
    assert delivered.status_code == 200 and delivered.json()["status"] == "delivered"


def test_the_citizen_rates_a_completed_case_once(api):
    case_id = apply(api)
    citizen = sign_in(api, MOTHER)
    url = f"/api/v1/cases/{case_id}/evaluation"
    form = api.get(url, headers=citizen).json()
    assert not form["can_evaluate"] and form["evaluation"] is None
    early = api.post(url, json={"level": 5}, headers=citizen)
    assert early.status_code == 409
    approve_all(api, case_id)
    form = api.get(url, headers=citizen).json()
    assert form["can_evaluate"]
    levels = {level["level"]: level for level in form["levels"]}
    assert set(levels) == {1, 2, 3, 4, 5} and levels[1]["bad"] and not levels[5]["bad"]
    assert "slow" in levels[1]["reasons"] and "slow" not in levels[5]["reasons"]
    mismatched = api.post(url, json={"level": 5, "reasons": ["slow"]}, headers=citizen)
    assert mismatched.status_code == 422 and "reasons" in mismatched.json()["fields"]
    other = sign_in(api, "310110198910220510")
    assert api.post(url, json={"level": 5}, headers=other).status_code == 404
    rated = api.post(url, json={"level": 5, "reasons": ["quick"]}, headers=citizen)
    assert rated.status_code == 201, rated.text
    assert rated.json()["level"] == 5 and rated.json()["reasons"][0]["code"] == "quick"
    form = api.get(url, headers=citizen).json()
    assert not form["can_evaluate"] and form["evaluation"]["level"] == 5
    assert api.post(url, json={"level": 4}, headers=citizen).status_code == 409


def test_a_bad_review_is_listed_for_supervisors_and_resolved(api, rt):
    case_id = apply(api)
    approve_all(api, case_id)
    citizen = sign_in(api, MOTHER)
    rated = api.post(
        f"/api/v1/cases/{case_id}/evaluation",
        json={"level": 1, "reasons": ["slow"], "comment": "太慢"},
        headers=citizen,
    )
    assert rated.status_code == 201, rated.text
    assert api.get("/api/v1/follow-ups", headers=sign_in(api, "police01")).status_code == 403
    lead = sign_in(api, "police-lead")
    before = len(views_of(rt, case_id))
    [row] = api.get("/api/v1/follow-ups", headers=lead).json()
    assert row["case_id"] == case_id and row["status"] == "open" and not row["overdue"]
    assert row["applicant_phone"] == NEWBORN_ANSWERS["applicant_phone"]
    assert row["level"] == 1 and row["reasons"][0]["code"] == "slow" and row["comment"] == "太慢"
    assert len(views_of(rt, case_id)) == before + 1  # the phone number shown is logged
    url = f"/api/v1/follow-ups/{row['id']}/resolve"
    no_call = api.post(url, json={"resolution": "已整改", "callback_done": False}, headers=lead)
    assert no_call.status_code == 422 and "callback_done" in no_call.json()["fields"]
    other_lead = sign_in(api, "cdc-lead")
    foreign = api.post(url, json={"resolution": "x", "callback_done": True}, headers=other_lead)
    assert foreign.status_code == 404
    done = api.post(url, json={"resolution": "已整改并致歉", "callback_done": True}, headers=lead)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "resolved" and done.json()["resolution"] == "已整改并致歉"
    assert (
        api.post(url, json={"resolution": "再次", "callback_done": True}, headers=lead).status_code
        == 409
    )
    assert api.get("/api/v1/follow-ups", headers=lead).json() == []
    [resolved] = api.get("/api/v1/follow-ups?status=resolved", headers=lead).json()
    assert resolved["id"] == row["id"] and resolved["callback_done"]


def test_a_department_system_gets_the_download_address_of_each_material(api, browser, rt):
    case_id = apply_with_a_scan(browser)
    system = sign_in(api, "police-system")
    body = {"worker_id": "w1", "max_tasks": 5}
    [task] = api.post("/api/v1/external-tasks/fetch-and-lock", json=body, headers=system).json()
    assert task["case_id"] == case_id
    with Session(rt.db) as session:
        upload = session.exec(select(Upload).where(Upload.case_id == case_id)).one()
        items = session.exec(select(CaseItem).where(CaseItem.case_id == case_id)).all()
    assert [u["url"] for u in task["uploads"]] == [f"/api/v1/uploads/{upload.id}"]
    assert task["uploads"][0]["content_type"] == "application/pdf"
    assert len(items) == 6
    before = len(views_of(rt, case_id))
    opened = api.get(task["uploads"][0]["url"], headers=system)
    assert opened.status_code == 200 and opened.content == SCAN[1]
    assert opened.headers["content-type"] == "application/pdf"
    [logged] = views_of(rt, case_id)[before:]  # the system's look, in the applicant's log
    assert "marriage_certificate" in logged.purpose
    other = api.get(task["uploads"][0]["url"], headers=sign_in(api, "cdc-system"))
    assert other.status_code == 404  # the cdc item does not need the marriage certificate


def test_every_staff_and_evaluation_page_names_existing_api_twins(app):
    operations = {
        f"{method.upper()} {path}"
        for path, methods in app.openapi()["paths"].items()
        for method in methods
    }
    pages = [
        route
        for route in iter_route_contexts(app.routes)
        if isinstance(getattr(route, "original_route", route), APIRoute)
        and route.endpoint.__module__
        in ("web.routes.clerk", "web.routes.evaluations", "web.routes.frontdesk")
    ]
    assert len(pages) == 20
    for route in pages:
        twins = getattr(route.endpoint, "api_twins", None)
        assert twins, f"{route.path} has no @twin"
        assert set(twins) <= operations, (route.path, set(twins) - operations)
        for twin in twins:  # a page that changes something has an operation that does
            assert twin.split(" ")[0] in route.methods, (route.path, twin)
