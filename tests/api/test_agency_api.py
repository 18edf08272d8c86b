"""Acting for someone else (代办) over the API and on the pages: the parent authorizes the child,
the child applies for the parent, each sees what they may, and withdrawal ends the child's
access; the front desk records a written authorization with its scan."""

from __future__ import annotations

from sqlmodel import Session, select

from services.agency.models import Authorization
from tests.api.test_staff_api import sign_in
from tests.services.test_agency import CHILD, OTHER, PARENT, answers_for, until

SCAN = ("授权书.pdf", b"%PDF-1.4 signed on paper", "application/pdf")


def grant(api, parent, **body):
    sent = {
        "agent_id_number": CHILD,
        "agent_name": "陈思远",
        "matters": ["retirement"],
        "valid_until": until().isoformat(),
        **body,
    }
    return api.post("/api/v1/authorizations", json=sent, headers=parent)


def test_child_applies_for_parent_over_the_api_until_withdrawn(api, rt, user_of):
    parent, child, other = (sign_in(api, who) for who in (PARENT, CHILD, OTHER))
    assert grant(api, parent, agent_name="别人").status_code == 422
    granted = grant(api, parent)
    assert granted.status_code == 201, granted.text
    shown = granted.json()
    assert shown["agent_id_number"] == "310106********095X" and shown["in_force"]
    authorization_id = shown["id"]
    held = api.get("/api/v1/authorizations", headers=child).json()["held"]
    assert [a["id"] for a in held] == [authorization_id]
    base = f"/api/v1/authorizations/{authorization_id}"
    assert api.get(f"{base}/matters/retirement/form", headers=other).status_code == 404
    assert api.get(f"{base}/matters/employment/form", headers=child).status_code == 403
    form = api.get(f"{base}/matters/retirement/form", headers=child)
    assert form.status_code == 200 and form.json()["prefilled"], form.text
    answers, uploads = answers_for(rt, user_of(CHILD), authorization_id)
    tokens = {}
    for upload in uploads:
        sent = {"matter": "retirement", "material": upload.material_code}
        file = (upload.filename, upload.content, "application/pdf")
        kept = api.post(f"{base}/uploads", data=sent, files={"file": file}, headers=child)
        assert kept.status_code == 201, kept.text
        tokens[upload.material_code] = kept.json()["token"]
    application = {"matter": "retirement", "answers": answers, "materials": tokens}
    filed = api.post(f"{base}/cases", json=application, headers=child)
    assert filed.status_code == 201, filed.text
    case_id = filed.json()["case_id"]
    assert filed.json()["applicant_name"] == "孙国强"
    # the parent's own case; the child's view of it, not the applicant's
    assert api.get(f"/api/v1/cases/{case_id}", headers=parent).status_code == 200
    assert api.get(f"/api/v1/cases/{case_id}", headers=child).status_code == 404
    seen = api.get(f"/api/v1/agency/cases/{case_id}", headers=child)
    assert seen.status_code == 200 and seen.json()["items"], seen.text
    assert [c["id"] for c in api.get("/api/v1/agency/cases", headers=child).json()] == [case_id]
    assert api.get(f"/api/v1/agency/cases/{case_id}", headers=other).status_code == 404
    record = api.get("/api/v1/agency/record", headers=parent).json()
    assert {act["agent_name"] for act in record} == {"陈思远"}
    assert any(act["case_id"] == case_id and "代办《" in act["what"] for act in record)
    assert api.post(f"{base}/withdraw", headers=child).status_code == 404
    withdrawn = api.post(f"{base}/withdraw", headers=parent)
    assert withdrawn.status_code == 200 and not withdrawn.json()["in_force"]
    assert api.get(f"/api/v1/agency/cases/{case_id}", headers=child).status_code == 404
    assert api.get(f"{base}/matters/retirement/form", headers=child).status_code == 403
    assert api.get(f"/api/v1/cases/{case_id}", headers=parent).status_code == 200


def test_front_desk_records_a_written_authorization_over_the_api(api, rt):
    desk, clerk = sign_in(api, "center01"), sign_in(api, "police01")
    fields = {
        "principal_id_number": PARENT,
        "agent_id_number": CHILD,
        "matters": ["retirement"],
        "valid_until": until().isoformat(),
    }
    url = "/api/v1/frontdesk/authorizations"
    assert api.post(url, data=fields, files={"file": SCAN}, headers=clerk).status_code == 403
    text = ("scan.pdf", b"not a scan", "application/pdf")
    assert api.post(url, data=fields, files={"file": text}, headers=desk).status_code == 422
    recorded = api.post(url, data=fields, files={"file": SCAN}, headers=desk)
    assert recorded.status_code == 201, recorded.text
    assert recorded.json()["recorded_via"] == "frontdesk"
    with Session(rt.db) as session:
        row = session.exec(select(Authorization)).one()
        assert row.scan_filename == "授权书.pdf" and rt.files.get(session, row.scan_stored_name)


def test_pages_grant_apply_and_show_the_record(browser, rt):
    parent = browser(PARENT)
    page = parent.get("/agency")
    assert page.status_code == 200 and 'id="grant"' in page.text
    form = {
        "agent_id_number": CHILD,
        "agent_name": "陈思远",
        "matters": "retirement",
        "valid_until": until().isoformat(),
    }
    unconfirmed = parent.post("/agency/authorizations", form)
    assert unconfirmed.status_code == 422 and "请确认授权内容" in unconfirmed.text
    assert parent.post("/agency/authorizations", {**form, "confirm": "1"}).status_code == 303
    child = browser(CHILD)
    listed = child.get("/agency")
    assert 'id="apply-1-retirement"' in listed.text and "孙国强" in listed.text
    apply_page = child.get("/agency/apply/1/retirement")
    assert apply_page.status_code == 200 and "代办：您正在为委托人办理" in apply_page.text
    assert parent.get("/agency/record").status_code == 200
    assert parent.post("/agency/authorizations/1/withdraw").status_code == 303
    assert child.get("/agency/apply/1/retirement").status_code == 403
    desk = browser("center01")
    assert desk.get("/agency/frontdesk").status_code == 200
