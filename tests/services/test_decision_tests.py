"""Decision tables' test cases: the shipped tables pass their seeded cases, evaluated by the
engine's own business-rule machinery; a table that breaks a case, or a decision without cases,
cannot be deployed, and the refusal names the decision and the case."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session

from engine.decisions import evaluate, tables
from services import decision_tests, decisions
from services.errors import InvalidInput
from services.processes import current_version, deploy, deploy_file

BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"
NEWBORN_DECISION = "newborn_medical_enrollment_check"
PENSION_DECISION = "retirement_pension_eligibility"


def _dmn(name: str):
    return ((f"{name}.dmn", (BPMN_DIR / f"{name}.dmn").read_bytes()),)


@pytest.mark.parametrize(
    ("matter", "decision"), [("newborn", NEWBORN_DECISION), ("retirement", PENSION_DECISION)]
)
def test_the_shipped_tables_pass_their_seeded_cases_and_each_rule_is_covered(matter, decision):
    cases = decision_tests.seed_cases(BPMN_DIR, f"{matter}.bpmn", decision)
    info = tables(_dmn(matter))[decision]
    assert len(cases) >= info.rules
    checked = decision_tests.checked_cases(info, cases)
    results = decision_tests.run_cases(_dmn(matter), decision, checked)
    assert [r.name for r in results if not r.passed] == []
    # every rule is hit by some case: remove one rule and some case must fail
    for rule in range(info.rules):
        text = _dmn(matter)[0][1].decode()
        start = [i for i in range(len(text)) if text.startswith("<rule ", i)][rule]
        end = text.index("</rule>", start) + len("</rule>")
        without = ((f"{matter}.dmn", (text[:start] + text[end:]).encode()),)
        after = decision_tests.run_cases(without, decision, checked)
        assert any(not r.passed for r in after), f"no case covers rule {rule + 1}"


def test_evaluation_gives_the_table_outputs_and_missing_names_are_none():
    outputs = evaluate(_dmn("newborn"), NEWBORN_DECISION, {"prefilled": {}})
    assert outputs["check_decision"] == "review"
    assert set(outputs) == {"check_decision", "check_finding"}
    assert tables(_dmn("retirement"))[PENSION_DECISION].variables == (
        "applicant_statutory_retirement_date",
        "pension_contribution_months",
        "retirement_date",
    )


def test_a_case_that_cannot_be_evaluated_fails_without_exception_text():
    case = {"name": "坏输入", "inputs": {"prefilled": 5}, "expected": {"check_decision": "review"}}
    [result] = decision_tests.run_cases(_dmn("newborn"), NEWBORN_DECISION, [case])
    assert not result.passed and result.error == decision_tests.EVALUATION_FAILED
    problem = decision_tests.failure_problem(tables(_dmn("newborn"))[NEWBORN_DECISION], result)
    assert "坏输入" in problem.message and "TypeError" not in problem.message_en


def test_cases_are_checked_field_by_field():
    info = tables(_dmn("newborn"))[NEWBORN_DECISION]
    bad = [
        ([{"inputs": {"nope": 1}, "expected": {"check_decision": "x"}}], "cases[0].inputs.nope"),
        ([{"inputs": {}, "expected": {}}], "cases[0].expected"),
        ([{"inputs": {}, "expected": {"verdict": "x"}}], "cases[0].expected.verdict"),
        (["text"], "cases[0]"),
    ]
    for cases, field in bad:
        with pytest.raises(InvalidInput) as refused:
            decision_tests.checked_cases(info, cases)
        assert refused.value.field == field


def _broken_newborn() -> bytes:
    """newborn.dmn with the instant approval's rule turned into a review."""
    text = _dmn("newborn")[0][1].decode()
    assert text.count("<text>'approved'</text>") == 1
    return text.replace("<text>'approved'</text>", "<text>'review'</text>").encode()


def test_a_table_that_breaks_a_case_is_refused_naming_the_decision_and_case(rt, user_of):
    admin = user_of("admin")
    content = (BPMN_DIR / "newborn.bpmn").read_bytes()
    with Session(rt.db) as session:
        with pytest.raises(InvalidInput) as refused:
            deploy(
                session,
                rt,
                matter_code="newborn",
                content=content,
                decisions=(("newborn.dmn", _broken_newborn()),),
                author=admin,
            )
        assert current_version(session, matter_code="newborn") is None
    error = refused.value
    assert error.field == NEWBORN_DECISION
    assert "证照已核验、随母落户：秒批" in error.message and "未发布" in error.message
    assert 'check_decision 期望 "approved"，实际 "review"' in error.message
    assert NEWBORN_DECISION in error.message_en and "not deployed" in error.message_en
    assert 'expected "approved", got "review"' in error.message_en


def test_a_decision_without_cases_is_refused(rt, user_of):
    admin = user_of("admin")
    with Session(rt.db) as session:
        saved = decisions.save_cases(
            session, rt, matter_code="newborn", decision_id=NEWBORN_DECISION, cases=[], author=admin
        )
        assert saved == []
        with pytest.raises(InvalidInput) as refused:
            deploy(
                session,
                rt,
                matter_code="newborn",
                content=(BPMN_DIR / "newborn.bpmn").read_bytes(),
                author=admin,
            )
    assert "没有测试用例" in refused.value.message and "no test cases" in refused.value.message_en


def test_a_changed_table_with_matching_cases_deploys_as_a_new_version(rt, user_of):
    admin = user_of("admin")
    with Session(rt.db) as session:
        current = decisions.get(session, rt, matter_code="newborn", decision_id=NEWBORN_DECISION)
        assert current.deployed is None and len(current.cases) == 4
        cases = [
            {**case, "expected": {"check_decision": "review"}}
            if case["expected"]["check_decision"] == "approved"
            else case
            for case in current.cases
        ]
        broken = _broken_newborn().decode()
        before = decisions.run(
            session, rt, matter_code="newborn", decision_id=NEWBORN_DECISION, xml=broken
        )
        assert [r.passed for r in before] == [False, False, True, True]
        decisions.save_cases(
            session,
            rt,
            matter_code="newborn",
            decision_id=NEWBORN_DECISION,
            cases=cases,
            author=admin,
        )
        version = decisions.deploy(
            session,
            rt,
            matter_code="newborn",
            decision_id=NEWBORN_DECISION,
            xml=broken,
            author=admin,
        )
        assert version.version == 1 and NEWBORN_DECISION in version.comment
        again = decisions.get(session, rt, matter_code="newborn", decision_id=NEWBORN_DECISION)
        assert again.xml == broken and again.deployed.id == version.id
        # the BPMN is the matter's, unchanged
        assert (
            decisions.processes.matter_content(session, rt, matter_code="newborn")
            == (BPMN_DIR / "newborn.bpmn").read_bytes()
        )


def test_an_uploaded_file_is_refused_by_a_saved_case_that_fails(rt, user_of):
    admin = user_of("admin")
    wrong = {
        "name": "错误的期望",
        "inputs": {"prefilled": {}, "household_parent": "mother"},
        "expected": {"check_decision": "approved"},
    }
    with Session(rt.db) as session:
        decisions.save_cases(
            session,
            rt,
            matter_code="newborn",
            decision_id=NEWBORN_DECISION,
            cases=[wrong],
            author=admin,
        )
        with pytest.raises(InvalidInput) as refused:
            deploy_file(
                session,
                rt,
                matter_code="newborn",
                content=(BPMN_DIR / "newborn.bpmn").read_bytes(),
                filename="newborn.bpmn",
                author=admin,
            )
    assert "错误的期望" in refused.value.message
    assert 'expected "approved", got "review"' in refused.value.message_en
