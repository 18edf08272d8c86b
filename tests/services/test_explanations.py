"""Explanations for every decision (services/cases/explanations.py): the rule in words, generated
from the catalog's conditions and the decision tables, the facts it read with their source, and
the decision."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session, select

from services.cases.decisions import decide
from services.cases.explanations import (
    _fact_read,
    explain_for_applicant,
    explain_for_clerk,
    explain_item,
)
from services.cases.models import Case, CaseItem
from services.configuration.matters import set_condition
from services.errors import NotFound
from services.registries.models import DataAccess
from tests.forms.test_matters import APPLICATIONS
from tests.services.test_case_path import item_row, send_back_pension_claim, submit

# What must never reach a reader of the Chinese text: Python's own syntax.
LEAKS = re.compile(r"==|!=|\band\b|\bor\b|\bnot\b|\[|\]|\bTrue\b|\bFalse\b|\bNone\b|'")

FIRST_ROLE = {}
for _code, _role, *_rest in APPLICATIONS:
    FIRST_ROLE.setdefault(_code, _role)


def explanation(rt, case_id: int, item_code: str, *, for_applicant: bool = True):
    with Session(rt.db) as session:
        case = session.get(Case, case_id)
        return explain_item(
            session, rt, case=case, item_code=item_code, for_applicant=for_applicant
        )


def no_leak(text: str) -> None:
    assert text.strip(), "empty rule text"
    assert not LEAKS.search(text), text


@pytest.mark.parametrize("code", sorted(FIRST_ROLE))
def test_every_item_of_every_matter_has_a_rule_in_words(rt, user_of, code):
    case_id = submit(rt, user_of, code, FIRST_ROLE[code])
    for item_code in rt.catalog.matters[code].items:
        found = explanation(rt, case_id, item_code)
        no_leak(found.condition.text)
        no_leak(found.summary)
        assert found.condition.text_en.strip() and found.summary_en.strip()
        assert found.outcome.label
        if found.decision is not None:
            for row in found.decision.rows:
                for phrase in (*row.inputs, *row.outputs):
                    no_leak(phrase.label)
                    no_leak(phrase.text)


def test_a_condition_reads_as_fact_labels_with_the_facts_it_read(rt, user_of):
    case_id = submit(rt, user_of, "retirement", "applicant", only_child_parent=False)
    found = explanation(rt, case_id, "hrss_only_child_bonus")
    label = rt.catalog.facts["only_child_parent"].label
    assert not found.applies and found.outcome.state == "not_needed"
    assert found.condition.text == f"{label} = 是" and not found.condition.holds
    assert found.condition.origin == "item" and found.condition.catalog_version == 0
    assert [(f.key, f.shown, f.shown_en) for f in found.facts] == [
        ("only_child_parent", "否", "No")
    ]
    assert found.summary.startswith("本事项仅在")


def test_an_unconditioned_item_applies_to_every_application(rt, user_of):
    case_id = submit(rt, user_of, "retirement", "applicant")
    found = explanation(rt, case_id, "hrss_pension_claim")
    assert found.applies and found.condition.always and found.condition.holds
    assert found.outcome.state == "processing"


def test_the_newborn_check_shows_its_decision_table_rows_and_the_matched_one(rt, user_of):
    case_id = submit(rt, user_of, "newborn", "father")
    found = explanation(rt, case_id, "medical_resident_enrollment")
    table = found.decision
    assert table.decision_id == "newborn_medical_enrollment_check"
    assert table.dmn_files == ("newborn.dmn",) and len(table.process_key) == 12
    assert [row.number for row in table.rows] == [1, 2, 3]
    first = table.rows[0]
    household = rt.catalog.facts["household_parent"]
    mother, father = (
        next(o for o in household.options if o.value == v) for v in ("mother", "father")
    )
    assert [(p.label, p.text) for p in first.inputs] == [
        ("出生医学证明已共享核验", "出生医学证明已共享核验 = 是"),
        ("落户方", f"落户方 属于 {mother.label}、{father.label}"),
    ]
    assert (
        first.inputs[1].text_en == f"{household.label_en} in {mother.label_en}, {father.label_en}"
    )
    assert table.rows[1].inputs[1].text == "任意"
    assert table.rows[2].inputs[1].text == f"落户方 不属于 {mother.label}、{father.label}"
    assert [row.number for row in table.matched] == [1]
    assert first.outputs[0].text == "通过，即时办结（秒批）"
    # The instant approval names the checks that passed and the facts with their registry.
    outcome = found.outcome
    assert outcome.state == "approved_auto" and "秒批" in outcome.label
    assert [c.text for c in outcome.checks] == [p.text for p in first.inputs]
    facts = {f.key: f for f in found.facts}
    assert facts["child_birth_cert_number"].source == "registry"
    assert facts["child_birth_cert_number"].retrieved_at
    assert (
        facts["household_parent"].shown in ("母亲户", "父亲户") or facts["household_parent"].shown
    )


def test_the_retirement_check_reads_its_rows_and_hands_its_finding_to_the_clerk(rt, user_of):
    case_id = submit(rt, user_of, "retirement", "applicant")
    found = explanation(rt, case_id, "hrss_pension_claim")
    table = found.decision
    assert table.decision_id == "retirement_pension_eligibility"
    months = rt.catalog.facts["pension_contribution_months"].label
    assert table.rows[0].inputs[0].text == "累计缴费月数 ≥ 180"
    assert table.rows[2].inputs[0].text == "累计缴费月数 < 180"
    # an input labelled in Chinese only reads in English from its expression
    assert table.rows[0].inputs[1].label_en == "Retirement date ≥ Statutory retirement date"
    assert [p.label_en for p in table.rows[0].outputs] == ["Conclusion", "Finding"]
    assert len(table.matched) == 1
    # an unmatched row's finding reads with the facts it would print named, not as code
    other = next(row for row in table.rows if not row.matched)
    assert f"〈{months}〉" in other.outputs[1].text or "〈" in other.outputs[1].text
    assert other.outputs[0].text == "转窗口人员审核"
    assert found.outcome.state == "processing" and found.outcome.finding
    assert "pension_contribution_months" in {f.key for f in found.facts}


def test_a_clerk_sees_personal_numbers_masked_and_the_view_is_logged(rt, user_of):
    case_id = submit(rt, user_of, "newborn", "mother")
    row = item_row(rt, case_id, "medical_maternity_allowance")
    with Session(rt.db) as session:
        clerk = explain_for_clerk(session, rt, user=user_of("medical01"), item_id=row.id)
        logged = session.exec(select(DataAccess).where(DataAccess.case_id == case_id)).all()
    assert any("办理依据" in entry.purpose for entry in logged)
    with Session(rt.db) as session:
        case = session.get(Case, case_id)
        owner = explain_for_applicant(
            session,
            rt,
            user=user_of(case.applicant_id_number),
            case_id=case_id,
            item_code="medical_maternity_allowance",
        )
    assert clerk.applies and not clerk.for_applicant
    assert [f.key for f in clerk.facts] == ["mother_maternity_insurance"]
    assert clerk.facts[0].source == "registry"
    # A personal number: the applicant sees it whole, a clerk of an item using it masked.
    with Session(rt.db) as session:
        case = session.get(Case, case_id)
        fact = rt.catalog.facts["mother_id_number"]
        masked = _fact_read(fact, case, {"mother_id_number"})
        whole = _fact_read(fact, case, None)
    assert masked.masked and "*" in masked.shown
    assert not whole.masked and "*" not in whole.shown
    assert owner.for_applicant and owner.facts[0].shown == clerk.facts[0].shown


def test_a_clerk_of_another_department_and_another_citizen_get_not_found(rt, user_of):
    case_id = submit(rt, user_of, "newborn", "mother")
    row = item_row(rt, case_id, "medical_maternity_allowance")
    with Session(rt.db) as session, pytest.raises(NotFound):
        explain_for_clerk(session, rt, user=user_of("police01"), item_id=row.id)
    with Session(rt.db) as session, pytest.raises(NotFound):
        explain_for_applicant(
            session,
            rt,
            user=user_of("310104199511020172"),
            case_id=case_id,
            item_code="medical_maternity_allowance",
        )
    with Session(rt.db) as session, pytest.raises(NotFound):
        case = session.get(Case, case_id)
        explain_item(session, rt, case=case, item_code="hrss_pension_claim", for_applicant=True)


def test_a_rejected_item_shows_its_catalog_reason(rt, user_of):
    case_id = submit(rt, user_of, "newborn", "mother")
    row = item_row(rt, case_id, "medical_maternity_allowance")
    reason = rt.catalog.items["medical_maternity_allowance"].reject_reasons[1]
    with Session(rt.db) as session:
        decide(
            session,
            rt,
            user=user_of("medical01"),
            item_id=row.id,
            decision="rejected",
            reason=reason,
            comment="参保记录与出生日期不符",
        )
    found = explanation(rt, case_id, "medical_maternity_allowance")
    assert found.outcome.state == "rejected"
    assert (found.outcome.reason_code, found.outcome.reason) == ("02", reason)
    assert found.outcome.reason_en and found.outcome.comment == "参保记录与出生日期不符"


def test_a_correction_shows_what_to_correct(rt, user_of):
    case_id = submit(rt, user_of, "retirement", "applicant")
    send_back_pension_claim(rt, user_of, case_id)
    found = explanation(rt, case_id, "hrss_pension_claim")
    assert found.outcome.state == "correction"
    label = rt.catalog.facts["retirement_date"].label
    assert [c.text for c in found.outcome.correct] == [label]
    assert found.outcome.comment == "请核对退休日期"


def test_an_item_approved_by_a_clerk_says_so(rt, user_of):
    case_id = submit(rt, user_of, "retirement", "applicant")
    row = item_row(rt, case_id, "hrss_pension_claim")
    with Session(rt.db) as session:
        decide(session, rt, user=user_of("hrss01"), item_id=row.id, decision="approved")
    found = explanation(rt, case_id, "hrss_pension_claim")
    assert found.outcome.state == "approved" and found.outcome.decided_at
    assert found.task_id == row.id


def test_items_of_a_case_are_keyed_by_code(rt, user_of):
    case_id = submit(rt, user_of, "retirement", "applicant")
    with Session(rt.db) as session:
        rows = session.exec(select(CaseItem).where(CaseItem.case_id == case_id)).all()
    assert rows
    with Session(rt.db) as session, pytest.raises(NotFound):
        case = session.get(Case, case_id)
        explain_item(session, rt, case=case, item_code="no_such_item", for_applicant=True)


def test_a_condition_set_in_the_matters_settings_is_the_rule_explained(rt, user_of):
    case_id = submit(rt, user_of, "retirement", "applicant", only_child_parent=False)
    with Session(rt.db) as session:
        set_condition(
            session,
            rt,
            user=user_of("admin"),
            code="retirement",
            item_code="hrss_only_child_bonus",
            condition="",
        )
    found = explanation(rt, case_id, "hrss_only_child_bonus")
    assert found.condition.origin == "matter" and found.condition.always
    assert found.condition.text == "本一件事的每一份申请都办理本事项（无适用条件）"


def test_a_registry_fact_the_rule_read_without_asking_is_shown_with_its_registry(rt, user_of):
    """The father's form does not ask whether the mother has employee maternity insurance: the
    registry says she has not, and the maternity allowance does not apply. The case keeps that
    fact with its source, so the explanation names it and where it came from (not 'not in the
    application'), and the rule is judged on what the case was judged on."""
    case_id = submit(rt, user_of, "newborn", "father")
    found = explanation(rt, case_id, "medical_maternity_allowance")
    assert not found.applies and found.outcome.state == "not_needed"
    [fact] = [f for f in found.facts if f.key == "mother_maternity_insurance"]
    assert fact.source == "registry" and fact.registry and fact.shown == "否"
    with Session(rt.db) as session:
        case = session.get(Case, case_id)
        assert case.data["mother_maternity_insurance"] is False
        assert case.provenance["mother_maternity_insurance"]["registry"] == fact.registry
