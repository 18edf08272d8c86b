"""The whole case in view (services/cases/path.py): every item of the matter, in process
order, each with its state, what it waits for, or the rule and facts that made it unneeded."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, select

from forms.catalog import default_catalog
from services.cases.decisions import decide
from services.cases.models import Case, CaseItem
from services.cases.path import case_path, describe_condition, not_needed_reason
from services.cases.submission import prepare_form, submit_application
from services.cases.uploads import UploadedFile
from tests.forms.test_matters import APPLICATIONS, LOGINS, PDF, _sample, common_for


def submit(rt, user_of, code: str, role: str, *, consented: bool = True, **overrides: Any) -> int:
    """A demo applicant's case for `code`, submitted as the demo application with `overrides`
    (without `consented`, nothing is prefilled: registry facts too are answered)."""
    person = next(p for p in LOGINS if p.matter == code and p.role == role)
    answers = next(a[2] for a in APPLICATIONS if a[0] == code and a[1] == role)
    citizen = user_of(person.id_number)
    filled = {**common_for(code), **answers, **overrides}
    for _round in range(3):
        with Session(rt.db) as session:
            form = prepare_form(
                session, rt, user=citizen, matter_code=code, answers=filled, consented=consented
            )
        filled.update(
            {
                f.key: _sample(f.fact)
                for f in form.fields
                if f.known is None and f.required and f.key not in filled
            }
        )
    uploads = [UploadedFile(entry.code, f"{entry.code}.pdf", PDF) for entry in form.uploads]
    with Session(rt.db) as session:
        case = submit_application(
            session,
            rt,
            user=citizen,
            matter_code=code,
            answers=filled,
            uploads=uploads,
            consented=consented,
        )
        return case.id


def path_of(rt, case_id: int, *, for_applicant: bool = True):
    with Session(rt.db) as session:
        case = session.get(Case, case_id)
        return {
            step.item.code: step
            for step in case_path(session, rt, case=case, for_applicant=for_applicant)
        }


def approve_open(rt, user_of, case_id: int) -> None:
    with Session(rt.db) as session:
        rows = session.exec(
            select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.status == "processing")
        ).all()
    for row in rows:
        with Session(rt.db) as session:
            decide(
                session,
                rt,
                user=user_of(f"{row.department}01"),
                item_id=row.id,
                decision="approved",
            )


def test_retirement_case_lists_all_five_items_the_later_ones_waiting_for_the_pension(rt, user_of):
    case_id = submit(rt, user_of, "retirement", "applicant")
    steps = path_of(rt, case_id)
    assert list(steps) == list(rt.catalog.matters["retirement"].items)  # all 5, pension first
    assert steps["hrss_pension_claim"].state == "in_progress"
    assert steps["hrss_pension_claim"].position == 1
    for code in list(steps)[1:]:
        assert steps[code].state == "waiting"
        assert [i.code for i in steps[code].waits_for] == ["hrss_pension_claim"]
    approve_open(rt, user_of, case_id)
    steps = path_of(rt, case_id)
    assert steps["hrss_pension_claim"].state == "done"
    assert steps["hrss_pension_claim"].outcome_label == ("准予办理", "Approved")
    assert {s.state for c, s in steps.items() if c != "hrss_pension_claim"} == {"in_progress"}
    approve_open(rt, user_of, case_id)
    assert {s.state for s in path_of(rt, case_id).values()} == {"done"}


def test_retirement_item_not_needed_names_its_rule_and_the_fact(rt, user_of):
    case_id = submit(rt, user_of, "retirement", "applicant", only_child_parent=False)
    step = path_of(rt, case_id)["hrss_only_child_bonus"]
    assert step.state == "not_needed" and step.waits_for == ()
    label = rt.catalog.facts["only_child_parent"].label
    assert f"{label} = 是" in step.reason.rule
    assert [(f.key, f.shown, f.shown_en) for f in step.reason.facts] == [
        ("only_child_parent", "否", "No")
    ]
    # A clerk reads the rule, never the applicant's answer.
    clerk_step = path_of(rt, case_id, for_applicant=False)["hrss_only_child_bonus"]
    assert clerk_step.reason.rule == step.reason.rule and clerk_step.reason.facts == ()


def test_convenience_store_case_lists_all_eight_items(rt, user_of):
    case_id = submit(rt, user_of, "convenience_store", "applicant")
    steps = path_of(rt, case_id)
    assert len(steps) == 8
    assert set(steps) == set(rt.catalog.matters["convenience_store"].items)
    assert next(iter(steps)) == "market_business_licence"
    assert steps["market_business_licence"].state == "in_progress"
    not_needed = {c for c, s in steps.items() if s.state == "not_needed"}
    assert not_needed == {"market_food_business_licence", "housing_fund_employer_registration"}
    food = steps["market_food_business_licence"].reason
    assert food.rule == "本事项仅在“经营食品情况 = 销售散装食品或现制现售”时办理"
    assert [f.key for f in food.facts] == ["food_sales"]
    assert "预包装" in food.facts[0].shown
    fund = steps["housing_fund_employer_registration"].reason
    assert {f.key for f in fund.facts} == {"employee_count", "business_form"}
    waiting = {c for c, s in steps.items() if s.state == "waiting"}
    assert len(waiting) == 5
    for code in waiting:
        assert [i.code for i in steps[code].waits_for] == ["market_business_licence"]
    approve_open(rt, user_of, case_id)
    steps = path_of(rt, case_id)
    assert steps["market_business_licence"].state == "done"
    assert {steps[c].state for c in waiting} <= {"in_progress", "done"}


def test_newborn_case_lists_every_item_routed_at_once(rt, user_of):
    case_id = submit(rt, user_of, "newborn", "father")
    steps = path_of(rt, case_id)
    assert set(steps) == set(rt.catalog.matters["newborn"].items)
    assert steps["medical_resident_enrollment"].state == "done"  # instant approval
    assert steps["medical_maternity_allowance"].state == "not_needed"
    assert steps["medical_maternity_allowance"].reason.facts
    assert {s.state for c, s in steps.items() if c != "medical_maternity_allowance"} <= {
        "in_progress",
        "done",
    }


@pytest.mark.parametrize(
    ("expression", "zh", "en"),
    [
        (
            "food_sales == 'bulk'",
            "经营食品情况 = 销售散装食品或现制现售",
            "Food sold = Loose food or food prepared on site",
        ),
        (
            "(employee_count or 0) > 0 and business_form != 'individual'",
            "拟招用员工人数 > 0 且 组织形式 ≠ 个体工商户",
            "Employees to hire > 0 and Legal form ≠ Individual business",
        ),
    ],
)
def test_conditions_read_as_fact_labels_and_option_names(expression, zh, en):
    catalog = default_catalog()
    words, words_en = describe_condition(catalog, expression)
    assert (words, words_en) == (zh, en)


def item_row(rt, case_id: int, item_code: str) -> CaseItem:
    """The case's row of the item `item_code`."""
    with Session(rt.db) as session:
        return session.exec(
            select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.item_code == item_code)
        ).one()


def send_back_pension_claim(rt, user_of, case_id: int) -> None:
    """The pension claim of a retirement case sent back for the retirement date."""
    row = item_row(rt, case_id, "hrss_pension_claim")
    with Session(rt.db) as session:
        decide(
            session,
            rt,
            user=user_of("hrss01"),
            item_id=row.id,
            decision="correction",
            comment="请核对退休日期",
            reopen=["retirement_date"],
        )


def test_item_sent_back_for_correction_keeps_the_later_items_waiting_for_it(rt, user_of):
    case_id = submit(rt, user_of, "retirement", "applicant")
    send_back_pension_claim(rt, user_of, case_id)
    steps = path_of(rt, case_id)
    assert steps["hrss_pension_claim"].state == "correction"
    assert steps["hrss_pension_claim"].state_label == ("待补正", "Awaiting correction")
    assert [i.code for i in steps["hrss_personnel_file_transfer"].waits_for] == [
        "hrss_pension_claim"
    ]


def test_a_rule_over_a_personal_number_shows_it_masked_to_the_applicant():
    catalog = default_catalog()
    data = {"buyer_id_number": "310101199201250766"}
    reason = not_needed_reason(catalog, "buyer_id_number == ''", data, for_applicant=True)
    assert [f.shown for f in reason.facts] == ["310101********0766"]
    assert "310101199201250766" not in reason.rule
    clerk = not_needed_reason(catalog, "buyer_id_number == ''", data, for_applicant=False)
    assert clerk.facts == () and clerk.rule == reason.rule
