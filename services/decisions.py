"""A matter's decision tables as the administrator edits them: the table's current DMN with its
test cases, saving the cases, running them on a candidate table, and deploying a changed table.

A changed table is deployed as a new version of the matter's process: the same BPMN as the
newest version (or the file in bpmn/), with the DMN file that holds the decision replaced, so
every check of `services.processes.deploy` (the engine's, the catalog's, every decision's test
cases) applies to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lxml import etree
from sqlmodel import Session

from engine.decisions import TableInfo, tables
from engine.specs import Decisions
from engine.validation import parse_xml, xml_bytes
from services import decision_tests, processes
from services.accounts.models import User
from services.decision_tests import CaseResult
from services.errors import Forbidden, InvalidInput, NotFound
from services.processes_models import ProcessVersion

if TYPE_CHECKING:
    from services.runtime import Runtime

MAX_DMN_BYTES = 1_000_000  # the largest DMN file an administrator may deploy


@dataclass(frozen=True)
class MatterDecision:
    """One decision of a matter's process as the editor shows it."""

    matter: str
    table: TableInfo
    filename: str  # the DMN file that holds it
    xml: str  # that file's text
    cases: list[dict]
    deployed: ProcessVersion | None  # None: the file in bpmn/


def matter_tables(session: Session, rt: Runtime, *, matter_code: str) -> list[TableInfo]:
    """The decision tables the matter's process may call now (see `processes.matter_decisions`)."""
    decisions = processes.matter_decisions(session, rt, matter_code=matter_code)
    return list(tables(decisions).values())


def _file_of(decisions: Decisions, decision_id: str) -> tuple[str, bytes] | None:
    for name, text in decisions:
        if decision_id in tables(((name, text),)):
            return name, text
    return None


def get(session: Session, rt: Runtime, *, matter_code: str, decision_id: str) -> MatterDecision:
    """The decision's current table (the deployed version's, else bpmn/'s) and its cases."""
    matter = processes.matter_of(rt, matter_code)
    decisions = processes.matter_decisions(session, rt, matter_code=matter.code)
    found = _file_of(decisions, decision_id)
    if found is None:
        raise NotFound(
            f"一件事 {matter.code} 的流程没有决策表 {decision_id}",
            f"the process of matter {matter.code} has no decision table {decision_id}",
        )
    name, text = found
    return MatterDecision(
        matter=matter.code,
        table=tables(((name, text),))[decision_id],
        filename=name,
        xml=text.decode(),
        cases=decision_tests.cases_of(
            session,
            rt.settings.bpmn_dir,
            matter=matter.code,
            bpmn=matter.bpmn,
            decision_id=decision_id,
        ),
        deployed=processes.current_version(session, matter_code=matter.code),
    )


def candidate(current: MatterDecision, xml: str | None) -> Decisions:
    """The DMN file holding the decision, as `xml` (None: as it is now), checked to still hold
    the decision table. Raises InvalidInput ("xml") otherwise."""
    if xml is None:
        return ((current.filename, current.xml.encode()),)
    text = xml_bytes(xml)  # the text was decoded: its declaration must say UTF-8
    if len(text) > MAX_DMN_BYTES:
        raise InvalidInput(
            "xml",
            f"决策表文件过大，上限 {MAX_DMN_BYTES // 1000} KB",
            f"the decision file is too large; the limit is {MAX_DMN_BYTES // 1000} KB",
        )
    try:
        parse_xml(text)
    except (etree.XMLSyntaxError, ValueError):
        raise InvalidInput(
            "xml", "决策表不是有效的 DMN XML", "the table is not valid DMN XML"
        ) from None
    if current.table.id not in tables(((current.filename, text),)):
        raise InvalidInput(
            "xml",
            f"文件中没有决策表 {current.table.id}（决策的 id 不能修改）",
            f"the file has no decision table {current.table.id} (a decision's id cannot change)",
        )
    return ((current.filename, text),)


def save_cases(
    session: Session, rt: Runtime, *, matter_code: str, decision_id: str, cases: list, author: User
) -> list[dict]:
    """Check and store the decision's test cases (they take effect at the next deploy)."""
    _require_admin(author)
    current = get(session, rt, matter_code=matter_code, decision_id=decision_id)
    checked = decision_tests.checked_cases(current.table, cases)
    decision_tests.save_cases(
        session, matter=current.matter, decision_id=decision_id, cases=checked, author_id=author.id
    )
    return checked


def run(
    session: Session,
    rt: Runtime,
    *,
    matter_code: str,
    decision_id: str,
    xml: str | None = None,
    cases: list | None = None,
) -> list[CaseResult]:
    """The decision's cases (`cases`, else those stored) run on the table `xml` (None: the
    current one); nothing is stored."""
    current = get(session, rt, matter_code=matter_code, decision_id=decision_id)
    decisions = candidate(current, xml)
    table = tables(decisions)[decision_id]
    checked = decision_tests.checked_cases(table, current.cases if cases is None else cases)
    return decision_tests.run_cases(decisions, decision_id, checked)


def deploy(
    session: Session,
    rt: Runtime,
    *,
    matter_code: str,
    decision_id: str,
    xml: str,
    author: User,
    comment: str = "",
) -> ProcessVersion:
    """Deploy the table `xml` as a new version of the matter's process (same BPMN, this DMN
    file replaced); refused like any deploy, including when a test case fails."""
    _require_admin(author)
    current = get(session, rt, matter_code=matter_code, decision_id=decision_id)
    [(name, text)] = candidate(current, xml)
    decisions = processes.matter_decisions(session, rt, matter_code=current.matter)
    changed = tuple((n, text if n == name else t) for n, t in decisions)
    return processes.deploy(
        session,
        rt,
        matter_code=current.matter,
        content=processes.matter_content(session, rt, matter_code=current.matter),
        decisions=changed,
        author=author,
        comment=comment or f"修改决策表 {decision_id}",
    )


def _require_admin(user: User) -> None:
    if user.role != "admin":
        raise Forbidden("只有管理员可以修改决策表", "only administrators change decision tables")
