"""Where time goes over the API and the pages without script (web/api/admin_overlay.py,
web/routes/overlay.py): administrators only; an element the process lacks is 404 without its
id repeated; figures and case numbers, no applicant's data."""

from __future__ import annotations

from sqlmodel import Session

from services.cases.models import Case
from tests.web.conftest import FATHER, MOTHER
from tests.web.test_newborn import submit_newborn

API = "/api/v1/admin/processes/newborn/overlay"
PAGE = "/admin/processes/newborn/times"
POLICE = "Task_birth_registration"


def test_admin_sees_figures_and_case_numbers_only(browser, rt):
    _mother, case_id = submit_newborn(browser, MOTHER)
    with Session(rt.db) as session:
        case = session.get(Case, case_id)
        number, name, id_number = case.number, case.applicant_name, case.applicant_id_number
    admin = browser("admin")
    answer = admin.client.get(API)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    police = next(e for e in body["elements"] if e["element_id"] == POLICE)
    assert (police["cases"], police["waiting"], police["median_days"]) == (1, 1, 0)
    assert police["department"] == "police" and police["limit_days"] == 5
    listed = admin.client.get(f"{API}/{POLICE}/cases")
    assert listed.status_code == 200, listed.text
    assert [c["number"] for c in listed.json()["cases"]] == [number]
    page = admin.get(PAGE)
    assert page.status_code == 200 and f'data-element-id="{POLICE}"' in page.text
    cases_page = admin.get(f"{PAGE}/{POLICE}")
    assert cases_page.status_code == 200 and f'data-case="{number}"' in cases_page.text
    for text in (answer.text, listed.text, page.text, cases_page.text):
        assert name not in text and id_number not in text


def test_other_roles_are_refused(browser):
    for username in ("police01", "operator", FATHER):
        other = browser(username)
        assert other.client.get(API).status_code == 403
        assert other.client.get(f"{API}/{POLICE}/cases").status_code == 403
        assert other.client.get(PAGE).status_code == 403


def test_an_unknown_or_hostile_element_is_refused_without_repeating_it(browser):
    admin = browser("admin")
    missing = admin.client.get(f"{API}/Task_nowhere/cases")
    assert missing.status_code == 404 and "Task_nowhere" not in missing.text
    page = admin.client.get(f"{PAGE}/Task_nowhere")
    assert page.status_code == 404 and "Task_nowhere" not in page.text
    hostile = admin.client.get(f"{API}/%3Cscript%3E/cases")
    assert hostile.status_code == 422 and "<script>" not in hostile.text
    backwards = admin.client.get(f"{API}?since=2026-12-01&until=2026-11-01")
    assert backwards.status_code == 422
