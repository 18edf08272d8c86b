"""The whole case in view on the pages and in the API: the applicant's case page, the clerk's
task page and the case JSON list every item of the matter with its state, what it waits for
or why it is not needed; only the applicant reads the facts behind a rule."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from services.cases.models import CaseItem
from tests.services.test_case_path import approve_open, submit
from tests.web.conftest import Browser

CONVENIENCE = "310107198008080615"  # 徐海波
RETIREE = "310107196607150399"  # 孙国强
STEP = re.compile(r'<li class="path-step [a-z_]+" data-item="([a-z_]+)" data-state="([a-z_]+)">')


def steps_on(page: str) -> list[tuple[str, str]]:
    return STEP.findall(page)


def licence_row(rt, case_id: int) -> CaseItem:
    with Session(rt.db) as session:
        return session.exec(
            select(CaseItem).where(
                CaseItem.case_id == case_id, CaseItem.item_code == "market_business_licence"
            )
        ).one()


def test_applicant_page_lists_all_eight_items_with_waits_and_reasons(rt, user_of, browser):
    case_id = submit(rt, user_of, "convenience_store", "applicant")
    citizen: Browser = browser(CONVENIENCE)
    page = citizen.get(f"/cases/{case_id}").text
    steps = steps_on(page)
    assert len(steps) == 8
    assert steps[0] == ("market_business_licence", "in_progress")
    assert dict(steps)["market_food_business_licence"] == "not_needed"
    assert dict(steps)["tax_new_taxpayer_registration"] == "waiting"
    assert "状态：待前序完成" in page and "等待前序事项办结：经营主体设立登记（营业执照）" in page
    assert "本事项仅在“经营食品情况 = 销售散装食品或现制现售”时办理" in page
    assert "您的申请：经营食品情况 = " in page
    english = citizen.get(f"/cases/{case_id}?lang=en").text
    assert "State: Waiting for an earlier step" in english
    assert "Waits for: Registration of a new business (business licence)" in english
    assert "Your application: Food sold = " in english


def test_clerk_page_shows_the_path_and_rules_but_not_the_applicants_facts(rt, user_of, browser):
    case_id = submit(rt, user_of, "convenience_store", "applicant")
    row = licence_row(rt, case_id)
    clerk: Browser = browser(f"{row.department}01")
    page = clerk.get(f"/clerk/items/{row.id}").text
    assert len(steps_on(page)) == 8
    assert "本事项仅在“经营食品情况 = 销售散装食品或现制现售”时办理" in page
    assert "您的申请" not in page


def test_case_json_carries_the_path_facts_for_the_applicant_only(rt, user_of, browser):
    case_id = submit(rt, user_of, "retirement", "applicant", only_child_parent=False)
    citizen: Browser = browser(RETIREE)
    path = citizen.get(f"/api/v1/cases/{case_id}").json()["path"]
    assert [s["item"] for s in path] == list(rt.catalog.matters["retirement"].items)
    assert [s["state"] for s in path] == [
        "in_progress",
        "waiting",
        "waiting",
        "waiting",
        "not_needed",
    ]
    assert path[1]["waits_for"] == ["hrss_pension_claim"]
    bonus = path[4]
    assert bonus["rule"] and bonus["facts"] == [
        {
            "key": "only_child_parent",
            "label": rt.catalog.facts["only_child_parent"].label,
            "label_en": rt.catalog.facts["only_child_parent"].label_en,
            "shown": "否",
            "shown_en": "No",
        }
    ]
    clerk: Browser = browser("hrss01")
    seen = clerk.get(f"/api/v1/cases/{case_id}").json()["path"]
    assert [s["state"] for s in seen] == [s["state"] for s in path]
    assert seen[4]["rule"] == bonus["rule"] and seen[4]["facts"] == []
    approve_open(rt, user_of, case_id)
    moved = citizen.get(f"/api/v1/cases/{case_id}").json()["path"]
    assert [s["state"] for s in moved] == [
        "done",
        "in_progress",
        "in_progress",
        "in_progress",
        "not_needed",
    ]
