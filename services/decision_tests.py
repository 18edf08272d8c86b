"""Test cases of a matter's decision tables (DMN): inputs and the outputs they must give.

Every case of every decision a process version calls must pass before that version is deployed
(`services.processes.deploy` asks `deploy_problems`), so a changed table cannot silently change
what the automatic checks decide. A decision's cases are the row an administrator saved
(`DecisionTestSuite`), else the seed beside the DMN file in bpmn/ (`<matter>.dmn.tests.toml`),
so a fresh install has them; a saved empty list means "no cases", which refuses deploy.
"""

from __future__ import annotations

import json
import logging
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, select

from engine.clock import utcnow
from engine.decisions import DecisionFailed, TableInfo, evaluate, tables
from engine.specs import Decisions
from engine.validation import Problem
from services.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)

MAX_CASES = 200  # per decision
MAX_NAME = 200  # characters of a case's name
MAX_VALUE = 10_000  # characters of one input or output value, as JSON
SEED_SUFFIX = ".dmn.tests.toml"


class DecisionTestSuite(SQLModel, table=True):
    """The test cases an administrator saved for one decision of one matter's process."""

    __tablename__ = "decision_test_suite"
    __table_args__ = (
        UniqueConstraint("matter", "decision_id", name="uq_decision_test_suite_decision"),
    )
    id: int | None = Field(default=None, primary_key=True)
    matter: str = Field(max_length=64)
    decision_id: str = Field(max_length=200)
    cases: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    author_user_id: int = Field(foreign_key="user_account.id")
    updated_at: datetime = Field(default_factory=utcnow)


# ---------------------------------------------------------------- reading and saving


def seed_file(bpmn_dir: Path, bpmn: str) -> Path:
    """The seed cases of the process file `bpmn` (e.g. newborn.bpmn -> newborn.dmn.tests.toml)."""
    return bpmn_dir / (Path(bpmn).stem + SEED_SUFFIX)


def seed_cases(bpmn_dir: Path, bpmn: str, decision_id: str) -> list[dict]:
    path = seed_file(bpmn_dir, bpmn)
    if not path.is_file():
        return []
    with path.open("rb") as f:
        found = tomllib.load(f).get("case", [])
    return [
        {
            "name": case.get("name", ""),
            "inputs": case.get("inputs", {}),
            "expected": case.get("expected", {}),
        }
        for case in found
        if case.get("decision") == decision_id
    ]


def _suite(session: Session, matter: str, decision_id: str) -> DecisionTestSuite | None:
    return session.exec(
        select(DecisionTestSuite).where(
            DecisionTestSuite.matter == matter, DecisionTestSuite.decision_id == decision_id
        )
    ).first()


def cases_of(session: Session, bpmn_dir: Path, *, matter: str, bpmn: str, decision_id: str):
    """The decision's test cases: those saved, else the seed file's."""
    suite = _suite(session, matter, decision_id)
    if suite is not None:
        return list(suite.cases)
    return seed_cases(bpmn_dir, bpmn, decision_id)


def _refused(where: str, zh: str, en: str) -> InvalidInput:
    return InvalidInput(where, f"{where}：{zh}", f"{where}: {en}")


def _value(where: str, value: Any) -> Any:
    try:
        size = len(json.dumps(value, ensure_ascii=False))
    except (TypeError, ValueError):
        raise _refused(where, "不是 JSON 值", "is not a JSON value") from None
    if size > MAX_VALUE:
        raise _refused(
            where, f"值过长（上限 {MAX_VALUE} 字符）", f"is too long (at most {MAX_VALUE})"
        )
    return value


def checked_cases(info: TableInfo, cases: list) -> list[dict]:
    """`cases` as stored: each a name, inputs among the variables the table reads and at least
    one expected output among the table's outputs. Raises InvalidInput naming the field
    (`cases[2].inputs.x`)."""
    if not isinstance(cases, list):
        raise InvalidInput("cases", "测试用例应为列表", "cases must be a list")
    if len(cases) > MAX_CASES:
        raise InvalidInput(
            "cases", f"测试用例最多 {MAX_CASES} 个", f"at most {MAX_CASES} test cases"
        )
    outputs = [column.text for column in info.outputs]
    found = []
    for i, case in enumerate(cases):
        where = f"cases[{i}]"
        if not isinstance(case, dict):
            raise _refused(where, "应为对象", "must be an object")
        name = case.get("name") or ""
        if not isinstance(name, str) or len(name) > MAX_NAME:
            raise _refused(
                f"{where}.name",
                f"名称应为文字，最多 {MAX_NAME} 字",
                f"must be text of at most {MAX_NAME} characters",
            )
        inputs, expected = case.get("inputs") or {}, case.get("expected") or {}
        if not isinstance(inputs, dict) or not isinstance(expected, dict):
            raise _refused(where, "inputs 与 expected 应为对象", "inputs and expected: objects")
        for key in inputs:
            if key not in info.variables:
                raise _refused(
                    f"{where}.inputs.{key}",
                    f"决策表不读取变量 {key}（可用：{'、'.join(info.variables)}）",
                    f"the table reads no variable {key} (it reads: {', '.join(info.variables)})",
                )
            _value(f"{where}.inputs.{key}", inputs[key])
        if not expected:
            raise _refused(
                f"{where}.expected",
                f"至少填写一个期望输出（{'、'.join(outputs)}）",
                f"give at least one expected output ({', '.join(outputs)})",
            )
        for key in expected:
            if key not in outputs:
                raise _refused(
                    f"{where}.expected.{key}",
                    f"决策表没有输出 {key}（输出：{'、'.join(outputs)}）",
                    f"the table has no output {key} (its outputs: {', '.join(outputs)})",
                )
            _value(f"{where}.expected.{key}", expected[key])
        found.append({"name": name.strip() or f"#{i + 1}", "inputs": inputs, "expected": expected})
    return found


def table_of(decisions: Decisions, decision_id: str) -> TableInfo:
    info = tables(decisions).get(decision_id)
    if info is None:
        raise NotFound(f"没有决策表 {decision_id}", f"no decision table {decision_id}")
    return info


def save_cases(
    session: Session, *, matter: str, decision_id: str, cases: list[dict], author_id: int
) -> DecisionTestSuite:
    """Store `cases` (already checked) as the decision's test cases, replacing the previous."""
    suite = _suite(session, matter, decision_id)
    if suite is None:
        suite = DecisionTestSuite(matter=matter, decision_id=decision_id, author_user_id=author_id)
    suite.cases = cases
    suite.author_user_id = author_id
    suite.updated_at = utcnow()
    session.add(suite)
    session.commit()
    session.refresh(suite)
    return suite


# ---------------------------------------------------------------- running


@dataclass(frozen=True)
class CaseResult:
    """One case run: its outputs, and what differs from the expected (empty: it passed)."""

    name: str
    inputs: dict
    expected: dict
    actual: dict
    mismatches: list[str] = field(default_factory=list)  # output names that differ
    error: tuple[str, str] | None = None  # (zh, en) when the table could not be evaluated

    @property
    def passed(self) -> bool:
        return not self.mismatches and self.error is None


EVALUATION_FAILED = (
    "决策表无法对这些输入求值（某个表达式出错或输入值类型不符）",
    "the table could not be evaluated on these inputs (an expression failed or an input has "
    "the wrong type)",
)


def run_case(decisions: Decisions, decision_id: str, case: dict) -> CaseResult:
    try:
        actual = evaluate(decisions, decision_id, case["inputs"])
    except DecisionFailed as exc:
        log.info("decision test %s of %s failed to evaluate: %s", case["name"], decision_id, exc)
        return CaseResult(case["name"], case["inputs"], case["expected"], {}, [], EVALUATION_FAILED)
    expected = case["expected"]
    differ = [name for name in expected if name not in actual or actual[name] != expected[name]]
    return CaseResult(case["name"], case["inputs"], expected, actual, differ)


def run_cases(decisions: Decisions, decision_id: str, cases: list[dict]) -> list[CaseResult]:
    """Every case of `decision_id` run on `decisions`' tables, in order."""
    return [run_case(decisions, decision_id, case) for case in cases]


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "…"


def failure_problem(decision: TableInfo, result: CaseResult) -> Problem:
    """Why `result` failed, naming the decision and the case."""
    head = f"决策表 {decision.name}（{decision.id}）的测试用例「{result.name}」未通过"
    head_en = f"test case '{result.name}' of decision table {decision.id} fails"
    if result.error is not None:
        return Problem(decision.id, f"{head}：{result.error[0]}", f"{head_en}: {result.error[1]}")
    zh, en = [], []
    for name in result.mismatches:
        got = _shown(result.actual[name]) if name in result.actual else "无（没有规则命中）"
        got_en = _shown(result.actual[name]) if name in result.actual else "none (no rule matched)"
        zh.append(f"{name} 期望 {_shown(result.expected[name])}，实际 {got}")
        en.append(f"{name} expected {_shown(result.expected[name])}, got {got_en}")
    return Problem(decision.id, f"{head}：{'；'.join(zh)}", f"{head_en}: {'; '.join(en)}")


def deploy_problems(
    session: Session, bpmn_dir: Path, *, matter: str, bpmn: str, decisions: Decisions
) -> list[Problem]:
    """What stops `decisions` being deployed for `matter`: a decision without test cases, or a
    case that fails on these tables (its saved cases, else the seed's). Empty: all pass."""
    problems = []
    for decision in tables(decisions).values():
        cases = cases_of(session, bpmn_dir, matter=matter, bpmn=bpmn, decision_id=decision.id)
        if not cases:
            problems.append(
                Problem(
                    decision.id,
                    f"决策表 {decision.name}（{decision.id}）没有测试用例：请先添加并通过测试用例",
                    f"decision table {decision.id} has no test cases: add cases that pass first",
                )
            )
            continue
        problems += [
            failure_problem(decision, result)
            for result in run_cases(decisions, decision.id, cases)
            if not result.passed
        ]
    return problems
