"""The front desk (综合窗口) over the API: the walk-in applicant recorded at the window, their
form as data, the scanned materials, the acceptance and the receipt; nothing of a person
without a recorded visit."""

from __future__ import annotations

from sqlmodel import Session, col, select

from services.accounts.models import User
from services.cases.models import Case, CaseEvent, Upload
from services.registries.models import DataAccess
from tests.api.test_staff_api import apply, sign_in
from tests.web.conftest import MOTHER, NEWBORN_ANSWERS

WALK_IN = "310104199205160353"  # 张伟: in the registry, never signed in online
SCAN = ("scan.pdf", b"%PDF-1.4 scanned at the window", "application/pdf")
ANSWERS = {**NEWBORN_ANSWERS, "household_parent": "father"}


def record(api, desk, **body):
    visit = {"id_number": WALK_IN, "matter": "newborn", "present": True, "consent": True}
    return api.post("/api/v1/frontdesk/visits", json={**visit, **body}, headers=desk)


def upload(api, desk, url, material="marriage_certificate", file=SCAN):
    return api.post(url, data={"material": material}, files={"file": file}, headers=desk)


def test_a_walk_in_is_recorded_accepted_and_given_a_receipt(api, rt):
    desk = sign_in(api, "center01")
    absent = record(api, desk, present=False)
    assert absent.status_code == 422 and "present" in absent.json()["fields"]
    wrong = record(api, desk, id_number="310104199205160354")
    assert wrong.status_code == 422 and "id_number" in wrong.json()["fields"]
    with Session(rt.db) as session:  # refused: no account was opened
        assert session.exec(select(User).where(User.username == WALK_IN)).first() is None
    opened = record(api, desk)
    assert opened.status_code == 201, opened.text
    visit = opened.json()
    assert visit["applicant"]["name"] == "张伟" and visit["consented"]
    assert visit["applicant"]["id_number"] == "310104********0353"
    form = api.get(visit["form_url"], headers=desk)
    assert form.status_code == 200, form.text
    shown = form.json()
    assert shown["form"]["prefilled"] and shown["drafts"] == []
    assert shown["form"]["upload"]["url"] == visit["uploads_url"]
    facts = {f["key"]: f for s in shown["form"]["sections"] for f in s["facts"]}
    assert facts["mother_name"]["readonly"] and facts["mother_name"]["provenance"]
    unknown = api.post(visit["form_url"], json={"answers": {"no_such_fact": 1}}, headers=desk)
    assert unknown.status_code == 422 and "no_such_fact" in unknown.json()["fields"]
    refreshed = api.post(
        visit["form_url"], json={"answers": {"household_parent": "father"}}, headers=desk
    )
    assert refreshed.status_code == 200, refreshed.text
    # The scan: multipart only, checked by content, kept for this clerk.
    as_json = api.post(visit["uploads_url"], json={"material": "x"}, headers=desk)
    assert as_json.status_code == 415
    not_pdf = upload(api, desk, visit["uploads_url"], file=("scan.pdf", b"text", "application/pdf"))
    assert not_pdf.status_code == 422, not_pdf.text
    kept = upload(api, desk, visit["uploads_url"])
    assert kept.status_code == 201, kept.text
    token = kept.json()["token"]
    [draft] = api.get(visit["form_url"], headers=desk).json()["drafts"]
    assert draft["material"] == "marriage_certificate" and draft["token"] == token
    accepted = api.post(
        visit["application_url"],
        json={"answers": ANSWERS, "materials": {"marriage_certificate": token}},
        headers=desk,
    )
    assert accepted.status_code == 201, accepted.text
    done = accepted.json()
    assert done["channel"] == "window" and done["case_number"].startswith("YJS")
    receipt = api.get(done["receipt_url"], headers=desk)
    assert receipt.status_code == 200, receipt.text
    printed = receipt.json()
    assert printed["case_number"] == done["case_number"]
    assert printed["applicant_id_number"] == "310104********0353"
    assert any(
        i["name"] == "出生登记（新生儿落户）" and i["time_limit_days"] > 0 for i in printed["items"]
    )
    assert printed["received"] == [
        {
            "material": "marriage_certificate",
            "name": printed["received"][0]["name"],
            "filename": "scan.pdf",
        }
    ]
    assert printed["exempt"] and printed["track_url"].endswith(f"/cases/{done['case_id']}")
    assert printed["qr_svg"].startswith("<svg")
    with Session(rt.db) as session:
        case = session.get(Case, done["case_id"])
        applicant = session.exec(select(User).where(User.username == WALK_IN)).one()
        clerk = session.exec(select(User).where(User.username == "center01")).one()
        [stored] = session.exec(select(Upload).where(Upload.case_id == case.id)).all()
        events = session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id)).all()
        logged = session.exec(
            select(DataAccess).where(
                DataAccess.case_id == case.id, col(DataAccess.purpose).contains("受理回执")
            )
        ).all()
    assert case.channel == "window" and case.applicant_user_id == applicant.id
    assert stored.filename == "scan.pdf" and stored.material_code == "marriage_certificate"
    assert any("综合窗口受理" in e.message and e.actor_user_id == clerk.id for e in events)
    assert [row.case_number for row in logged] == [case.number]  # the receipt read, logged


def test_the_front_desk_sees_nobody_without_a_recorded_visit(api, rt):
    desk = sign_in(api, "center01")
    case_id = apply(api, MOTHER)
    with Session(rt.db) as session:
        mother = session.exec(select(User).where(User.username == MOTHER)).one()
        before = len(session.exec(select(DataAccess)).all())
    url = f"/api/v1/frontdesk/visits/{mother.id}/newborn"
    assert api.get(f"{url}/form", headers=desk).status_code == 403
    assert api.post(f"{url}/form", json={"answers": {}}, headers=desk).status_code == 403
    assert upload(api, desk, f"{url}/uploads").status_code == 403
    refused = api.post(f"{url}/application", json={"answers": ANSWERS}, headers=desk)
    assert refused.status_code == 403
    # An online case has no receipt.
    assert api.get(f"/api/v1/frontdesk/receipts/{case_id}", headers=desk).status_code == 404
    with Session(rt.db) as session:
        assert len(session.exec(select(DataAccess)).all()) == before  # nothing was read
    # Another clerk's visit opens nothing for this one; other departments are not the desk.
    opened = record(api, desk).json()
    other_desk = sign_in(api, "center02")
    assert api.get(opened["form_url"], headers=other_desk).status_code == 403
    police = sign_in(api, "police01")
    assert api.get(opened["form_url"], headers=police).status_code == 403
    assert record(api, police).status_code == 403
