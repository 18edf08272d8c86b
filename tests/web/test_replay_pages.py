"""Replaying a candidate process on recent cases from the browser and the API: the plain page
(a form, a file, a table; no script) and the JSON operation the process editor calls."""

from __future__ import annotations

from sqlmodel import Session

from services.cases.models import Case
from services.replay import MAX_CASES
from tests.services.test_replay import MATTER, current_bpmn, store_case

API = f"/api/v1/admin/replay/{MATTER}"
PAGE = f"/admin/replay/{MATTER}"


def _admin(browser):
    admin = browser("admin")
    assert admin.get(PAGE).status_code == 200  # also picks up the CSRF token
    return admin


def _post_json(client, body: dict):
    return client.client.post(API, json=body, headers={"X-CSRF-Token": client.csrf})


def _without_bank(rt) -> bytes:
    return current_bpmn(rt).replace(b"wants_bank_account == True", b"wants_bank_account == False")


def test_api_lists_the_cases_a_candidate_changes_by_number_and_item_name_only(browser, rt, user_of):
    case_id = store_case(rt, user_of, 1)
    with Session(rt.db) as session:
        case = session.get(Case, case_id)
        number, applicant = case.number, case.applicant_name
    admin = _admin(browser)
    answer = _post_json(admin, {"xml": _without_bank(rt).decode(), "limit": 5})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["summary"] == {
        "compared": 1,
        "differing": 1,
        "appearing": 0,
        "vanishing": 1,
        "moved": 0,
        "failed": 0,
    }
    (row,) = body["cases"]
    assert row["case_number"] == number and row["differs"] is True
    assert [item["code"] for item in row["vanishing"]] == ["bank_account_opening"]
    assert applicant not in answer.text  # never the applicant's facts
    unchanged = _post_json(admin, {"limit": 5}).json()
    assert unchanged["summary"]["differing"] == 0 and not unchanged["process_changed"]


def test_api_refuses_too_many_cases_a_broken_process_and_other_roles(browser, rt):
    admin = _admin(browser)
    too_many = _post_json(admin, {"limit": MAX_CASES + 1})
    assert too_many.status_code == 422 and "limit" in too_many.text
    broken = current_bpmn(rt).replace(b'value="bank_account_opening"', b'value="no_such_item"', 1)
    refused = _post_json(admin, {"xml": broken.decode()})
    assert refused.status_code == 422 and refused.json()["problems"]
    assert "Traceback" not in refused.text
    clerk = browser("police01")
    assert clerk.client.post(API, json={}).status_code == 403
    assert clerk.client.get(PAGE).status_code == 403


def test_page_replays_an_uploaded_process_and_shows_the_table(browser, rt, user_of):
    case_id = store_case(rt, user_of, 2)
    with Session(rt.db) as session:
        number = session.get(Case, case_id).number
    admin = _admin(browser)
    page = admin.post(
        PAGE,
        {"limit": "10"},
        files={"file": ("candidate.bpmn", _without_bank(rt), "application/xml")},
    )
    assert page.status_code == 200, page.text
    assert 'id="replay-cases"' in page.text and f'data-case="{number}"' in page.text
    assert 'data-differs="yes"' in page.text
    assert rt.catalog.items["bank_account_opening"].name in page.text
    as_now = admin.post(PAGE, {"limit": "10"})
    assert as_now.status_code == 200 and 'data-differs="no"' in as_now.text


def test_page_says_why_it_refuses_too_many_cases(browser):
    admin = _admin(browser)
    page = admin.post(PAGE, {"limit": str(MAX_CASES + 1)})
    assert page.status_code == 422 and 'id="replay-error"' in page.text
    assert str(MAX_CASES) in page.text


def test_the_editor_offers_the_replay_with_its_operation_url(browser):
    admin = _admin(browser)
    page = admin.get(f"/admin/processes/{MATTER}")
    assert page.status_code == 200
    assert 'id="replay"' in page.text and 'id="replay-cases"' in page.text
    assert API in page.text and "/static/editor/replay.js" in page.text


def test_api_replays_candidate_item_conditions(browser, rt, user_of):
    store_case(rt, user_of, 3)
    admin = _admin(browser)
    answer = _post_json(admin, {"conditions": {"bank_account_opening": "False"}})
    assert answer.status_code == 200, answer.text
    (row,) = answer.json()["cases"]
    assert [item["code"] for item in row["applies_lost"]] == ["bank_account_opening"]
    refused = _post_json(admin, {"conditions": {"bank_account_opening": "open('x')"}})
    assert refused.status_code == 422
    assert "condition_bank_account_opening" in refused.json()["fields"]


def test_the_versions_page_links_the_replay_page(browser):
    admin = _admin(browser)
    page = admin.get(f"/admin/processes/{MATTER}/versions")
    assert f'href="{PAGE}"' in page.text
