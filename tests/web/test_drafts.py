"""Forms without friction over HTTP: drafts saved and resumed (across sign-ins, for a limited
time, for their owner only, gone on submission or expiry, the same through the API), the
form's live update, the confirmation after submitting, and 请选择 at the front desk."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from demo.seed import DEMO_PASSWORD
from engine import clock
from services.cases.models import ApplicationDraft, DraftUpload
from services.maintenance.retention import purge
from tests.forms.test_matters import PDF
from tests.web.conftest import MOTHER, NEWBORN_ANSWERS, OTHER_CITIZEN

SHOPKEEPER = "310107198008080615"  # the convenience-store demo applicant
STORE = "convenience_store"
DRAFT_ANSWERS = {"business_form": "llc", "registered_capital": "500000", "manual": "1"}


def save_store_draft(citizen, **files):
    citizen.get(f"/matters/{STORE}/apply?manual=1")
    response = citizen.post(
        f"/matters/{STORE}/apply",
        data={**DRAFT_ANSWERS, "save_draft": "1"},
        files=files or None,
    )
    assert response.status_code == 303, response.text[:2000]
    assert response.headers["location"] == f"/matters/{STORE}/apply?draft=saved&manual=1"
    return response


def api_client(app, username: str) -> TestClient:
    client = TestClient(app)
    login = client.post("/api/v1/login", json={"username": username, "password": DEMO_PASSWORD})
    assert login.status_code == 200, login.text
    client.headers["Authorization"] = f"Bearer {login.json()['token']}"
    return client


def drafts_in(rt) -> list[ApplicationDraft]:
    with Session(rt.db) as session:
        return list(session.exec(select(ApplicationDraft)).all())


def test_a_saved_draft_is_resumed_with_its_file_after_signing_in_again(browser, rt):
    citizen = browser(SHOPKEEPER)
    lease = ("material_premises_lease", ("租赁合同.pdf", PDF, "application/pdf"))
    save_store_draft(citizen, material_premises_lease=lease[1])
    saved = citizen.get(f"/matters/{STORE}/apply?draft=saved&manual=1").text
    assert "草稿已保存" in saved and 'value="500000"' in saved

    again = browser(SHOPKEEPER)  # another sign-in, as after signing out
    page = again.get(f"/matters/{STORE}/apply?manual=1").text  # after the consent page's choice
    assert 'id="draft-offer"' in page and 'id="resume-draft"' in page
    assert 'value="500000"' not in page  # offered, not filled in unasked
    resumed = again.get(f"/matters/{STORE}/apply?draft=resume&manual=1").text
    assert '<option value="llc" selected>' in resumed
    assert 'id="f_registered_capital"' in resumed and 'value="500000"' in resumed
    assert 'id="kept-premises_lease"' in resumed and "租赁合同.pdf" in resumed
    assert "已上传" in resumed and 'name="draft_premises_lease"' in resumed


def test_another_citizen_never_sees_the_draft(browser, app, rt):
    save_store_draft(browser(SHOPKEEPER))
    other = browser(OTHER_CITIZEN)
    page = other.get(f"/matters/{STORE}/apply?manual=1&draft=resume").text
    assert 'id="draft-offer"' not in page and "500000" not in page
    with api_client(app, OTHER_CITIZEN) as client:
        assert client.get(f"/api/v1/matters/{STORE}/draft").status_code == 404
        assert client.delete(f"/api/v1/matters/{STORE}/draft").status_code == 404
    assert len(drafts_in(rt)) == 1  # the owner's draft is untouched


def test_a_draft_expires_and_the_daily_purge_deletes_it(browser, app, rt):
    lease = ("租赁合同.pdf", PDF, "application/pdf")
    save_store_draft(browser(SHOPKEEPER), material_premises_lease=lease)
    clock.advance(timedelta(days=rt.settings.draft_days, minutes=1))
    page = browser(SHOPKEEPER).get(f"/matters/{STORE}/apply?manual=1").text
    assert 'id="draft-offer"' not in page
    with api_client(app, SHOPKEEPER) as client:
        assert client.get(f"/api/v1/matters/{STORE}/draft").status_code == 404
    assert len(drafts_in(rt)) == 1  # not shown, still stored until the maintenance run
    report = purge(rt.db, rt.files, days=rt.settings.retention_days)
    assert report.counts["application drafts"] == 1
    assert report.counts["draft uploads"] == 1  # the file kept with it expired with it
    assert drafts_in(rt) == []


def test_the_draft_can_be_discarded_from_the_page(browser, rt):
    citizen = browser(SHOPKEEPER)
    save_store_draft(citizen, material_premises_lease=("a.pdf", PDF, "application/pdf"))
    citizen.get(f"/matters/{STORE}/apply")
    response = citizen.post(f"/matters/{STORE}/draft/discard")
    assert response.status_code == 303
    assert drafts_in(rt) == []
    with Session(rt.db) as session:
        assert session.exec(select(DraftUpload)).all() == []
    assert 'id="draft-offer"' not in citizen.get(f"/matters/{STORE}/apply?manual=1").text


def test_submitting_removes_the_draft_and_shows_the_confirmation_once(browser, rt):
    citizen = browser(MOTHER)
    citizen.consent("newborn")
    citizen.get("/matters/newborn/apply")
    partial = {"applicant_phone": NEWBORN_ANSWERS["applicant_phone"], "save_draft": "1"}
    assert citizen.post("/matters/newborn/apply", data=partial).status_code == 303
    assert len(drafts_in(rt)) == 1
    citizen.get("/matters/newborn/apply?draft=resume")
    response = citizen.post("/matters/newborn/apply", data=NEWBORN_ANSWERS)
    assert response.status_code == 303
    case_url = response.headers["location"]
    assert re.fullmatch(r"/cases/\d+", case_url)
    assert drafts_in(rt) == []

    confirmation = citizen.get(case_url)
    assert confirmation.status_code == 200
    page = confirmation.text
    number = re.search(r'id="submitted-number">(YJS\d+)<', page).group(1)
    assert re.search(f'id="case-number"[^>]*>{number}<', page)  # the case page follows
    assert 'data-department="police"' in page and "承诺时限" in page
    assert 'data-kind="wait"' in page and 'href="/inbox"' in page and 'href="/cases"' in page
    assert 'class="due">2026-' in page or 'class="due">20' in page
    # shown once: the next visit is the plain case page
    assert 'id="submitted"' not in citizen.get(case_url).text


def test_the_api_twin_saves_reads_and_discards_what_the_page_shows(app, browser, rt):
    with api_client(app, SHOPKEEPER) as client:
        bad = client.put(f"/api/v1/matters/{STORE}/draft", json={"answers": {"no_such": "x"}})
        assert bad.status_code == 422
        saved = client.put(
            f"/api/v1/matters/{STORE}/draft",
            json={
                "answers": {"business_form": "llc", "registered_capital": 500000},
                "manual": True,
            },
        )
        assert saved.status_code == 200, saved.text
        body = saved.json()
        assert body["answers"] == {"business_form": "llc", "registered_capital": 500000}
        assert body["manual"] is True and body["expires_at"] > body["saved_at"]
        assert client.get(f"/api/v1/matters/{STORE}/draft").json()["answers"] == body["answers"]
        page = browser(SHOPKEEPER).get(f"/matters/{STORE}/apply?draft=resume&manual=1").text
        assert 'value="500000"' in page and '<option value="llc" selected>' in page
        assert client.delete(f"/api/v1/matters/{STORE}/draft").status_code == 204
        assert client.get(f"/api/v1/matters/{STORE}/draft").status_code == 404
    assert drafts_in(rt) == []


def test_the_api_submission_says_what_happens_next(app, rt):
    with api_client(app, MOTHER) as client:
        assert client.post("/api/v1/matters/newborn/consent").status_code == 200
        answers = {**NEWBORN_ANSWERS}
        response = client.post(
            "/api/v1/cases", json={"matter": "newborn", "answers": answers, "consent": True}
        )
        assert response.status_code == 201, response.text
        body = response.json()
    kinds = [step["kind"] for step in body["next_steps"]]
    assert "wait" in kinds and "inbox" in kinds and "track" in kinds
    assert body["case_url"] == f"/cases/{body['id']}"
    assert all(step["text"] and step["text_en"] for step in body["next_steps"])


def test_the_live_update_answers_with_the_parts_the_answers_make(browser):
    citizen = browser(SHOPKEEPER)
    citizen.get(f"/matters/{STORE}/apply?manual=1")
    before = citizen.post(f"/matters/{STORE}/apply/preview", data={"manual": "1"})
    assert before.status_code == 200 and 'id="f_registered_capital"' not in before.text
    after = citizen.post(
        f"/matters/{STORE}/apply/preview", data={"manual": "1", "business_form": "llc"}
    )
    assert after.status_code == 200
    assert 'id="f_registered_capital"' in after.text
    assert 'id="mat-articles_of_association"' in after.text
    assert 'id="items-panel"' in after.text and "<html" not in after.text
    refused = citizen.client.post(f"/matters/{STORE}/apply/preview", data={"manual": "1"})
    assert refused.status_code == 403  # no CSRF token


def test_the_front_desk_asks_to_choose_the_matter(browser):
    desk = browser("center01")
    page = desk.get("/frontdesk").text
    assert '<option value="">请选择</option>' in page
    response = desk.post("/frontdesk", data={"id_number": "310104199205160353", "present": "1"})
    assert response.status_code == 422 and "请选择办理事项" in response.text


def test_the_front_desk_form_updates_for_the_walk_in_applicant_without_drafts(browser):
    desk = browser("center01")
    desk.get("/frontdesk")
    opened = desk.post(
        "/frontdesk",
        data={"id_number": SHOPKEEPER, "matter": STORE, "present": "1"},
    )
    assert opened.status_code == 303, opened.text[:1000]
    form_url = opened.headers["location"]
    page = desk.get(form_url).text
    assert f'data-preview="{form_url}/preview"' in page and 'id="save-draft"' not in page
    preview = desk.post(f"{form_url}/preview", data={"business_form": "llc"})
    assert preview.status_code == 200 and 'id="f_registered_capital"' in preview.text


def test_the_front_desk_receipt_says_what_happens_next(browser):
    desk = browser("center01")
    desk.get("/frontdesk")
    walk_in = "310104199205160353"
    opened = desk.post(
        "/frontdesk",
        data={"id_number": walk_in, "matter": "newborn", "consent": "1", "present": "1"},
    )
    form_url = opened.headers["location"]
    desk.get(form_url)
    scan = ("scan.pdf", PDF, "application/pdf")
    accepted = desk.post(
        form_url,
        data={**NEWBORN_ANSWERS, "household_parent": "father"},
        files=[("material_marriage_certificate", scan)],
    )
    assert accepted.status_code == 303, accepted.text[:1000]
    receipt = desk.get(accepted.headers["location"]).text
    assert 'id="next-steps"' in receipt and 'data-kind="wait"' in receipt
    assert "最晚于20" in receipt  # the latest due date of the routed items
