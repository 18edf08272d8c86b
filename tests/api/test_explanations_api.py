"""Explanations over the API and as pages (issue 22): the applicant's, keyed by item code, and
the clerk's through their task, the same service underneath."""

from __future__ import annotations

from sqlmodel import Session, select

from services.registries.models import DataAccess
from tests.api.test_citizen_api import _apply_newborn, sign_in
from tests.services.test_case_path import item_row
from tests.web.conftest import FATHER, OTHER_CITIZEN


def test_the_applicant_reads_why_an_item_was_approved_at_once(api, rt):
    mother, case_id = _apply_newborn(api)
    url = f"/api/v1/cases/{case_id}/items/medical_resident_enrollment/explanation"
    found = api.get(url, headers=mother).json()
    assert found["applies"] and found["for_applicant"]
    assert found["outcome"]["state"] == "approved_auto" and found["outcome"]["checks"]
    table = found["decision"]
    assert table["decision_id"] == "newborn_medical_enrollment_check"
    assert [row["matched"] for row in table["rows"]] == [True, False, False]
    assert {f["key"] for f in found["facts"]} >= {"child_birth_cert_number", "household_parent"}


def test_an_item_that_does_not_apply_is_explained_by_its_code(api, rt):
    father, case_id = _apply_newborn(api, FATHER)
    url = f"/api/v1/cases/{case_id}/items/medical_maternity_allowance/explanation"
    found = api.get(url, headers=father).json()
    assert not found["applies"] and found["task_id"] is None
    assert found["outcome"]["state"] == "not_needed"
    assert [f["key"] for f in found["facts"]] == ["mother_maternity_insurance"]
    assert found["facts"][0]["source"] in ("registry", "typed", "missing")


def test_someone_elses_case_and_unknown_items_are_not_found(api, rt):
    _mother, case_id = _apply_newborn(api)
    other = sign_in(api, OTHER_CITIZEN)
    url = f"/api/v1/cases/{case_id}/items/medical_resident_enrollment/explanation"
    assert api.get(url, headers=other).status_code == 404
    clerk = sign_in(api, "medical01")
    assert api.get(url, headers=clerk).status_code == 403  # the applicant's route: citizens only
    mother = sign_in(api, "31010519940908028X")
    bad = f"/api/v1/cases/{case_id}/items/no_such_item/explanation"
    assert api.get(bad, headers=mother).status_code == 404


def test_the_clerk_reads_their_task_masked_and_the_view_is_logged(api, rt):
    _mother, case_id = _apply_newborn(api)
    row = item_row(rt, case_id, "medical_maternity_allowance")
    clerk = sign_in(api, "medical01")
    found = api.get(f"/api/v1/tasks/{row.id}/explanation", headers=clerk).json()
    assert found["task_id"] == row.id and not found["for_applicant"]
    assert found["condition"]["holds"] and found["outcome"]["state"] == "processing"
    with Session(rt.db) as session:
        logged = session.exec(select(DataAccess).where(DataAccess.case_id == case_id)).all()
    assert any("办理依据" in entry.purpose for entry in logged)
    police = sign_in(api, "police01")
    assert api.get(f"/api/v1/tasks/{row.id}/explanation", headers=police).status_code == 404


def test_the_pages_show_the_rule_and_link_from_the_case_and_the_task(api, rt, browser):
    _mother, case_id = _apply_newborn(api, FATHER)
    applicant = browser(FATHER)
    case_page = applicant.get(f"/cases/{case_id}").text
    assert f"/cases/{case_id}/items/medical_maternity_allowance/why" in case_page
    why = applicant.get(f"/cases/{case_id}/items/medical_maternity_allowance/why")
    assert why.status_code == 200
    label = rt.catalog.facts["mother_maternity_insurance"].label
    assert f"{label} = 是" in why.text and 'data-fact="mother_maternity_insurance"' in why.text
    row = item_row(rt, case_id, "police_birth_registration")
    clerk = browser("police01")
    assert f"/clerk/items/{row.id}/why" in clerk.get(f"/clerk/items/{row.id}").text
    page = clerk.get(f"/clerk/items/{row.id}/why?lang=en")
    assert page.status_code == 200 and "The rule" in page.text
    assert browser("health01").get(f"/clerk/items/{row.id}/why").status_code == 404
