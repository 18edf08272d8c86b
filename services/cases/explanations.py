"""Why an item of a case applies or not, and why it was decided so (issue 22).

Everything is generated from the rules themselves, never written per item: the item's condition
in the matter (the catalog's `when` or the matter's configured condition) read in words over
the data dictionary's labels (`path.describe_condition`), or, for an item an automatic check
decides, the decision table of the case's process version with each row's input entries read
the same way and the row(s) the case's facts match; the facts the rule read with their values
and their source (a registry record, typed by the applicant, corrected); and the decision: a
clerk's approval, an instant one (秒批) with the checks that passed, a refusal with the reason
from the item's list, a correction with what to correct, or still pending.

The applicant sees their own facts in full; a department's clerk sees the facts through their
own item only (personal numbers masked, facts the item does not use withheld), and the view is
logged like every other clerk view.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from datetime import datetime
from typing import Any

from lxml import etree
from sqlmodel import Session, col, func, select

from engine.sandbox import evaluate
from engine.specs import DMN_PLACEHOLDER, ProcessSpec
from forms.catalog import REJECT_REASONS_EN, Catalog, Fact, Item, Matter
from forms.compiler import condition_holds
from forms.sources import registry_name
from forms.values import mask_id
from services.accounts.models import User
from services.cases.access import (
    MASKED_TYPES,
    load_case,
    load_case_item,
    log_view,
    needed_facts,
)
from services.cases.corrections import CORRECTION_SOURCE
from services.cases.models import Case, CaseItem
from services.cases.path import _facts_read, _spec_of, describe_condition, not_needed_reason
from services.cases.repair import REPAIR_SOURCE
from services.configuration.catalog import CatalogVersion
from services.configuration.matters import matter_conditions
from services.errors import NotFound
from services.processes_models import ProcessVersion
from services.runtime import Runtime

# An outcome of an item, in words (zh, en).
OUTCOMES = {
    "approved": ("准予办理（窗口人员审核通过）", "Approved by a clerk"),
    "approved_auto": ("自动核验通过，即时办结（秒批）", "Approved at once by automatic checks"),
    "rejected": ("不予办理", "Rejected"),
    "correction": ("退回补正", "Sent back for correction"),
    "processing": ("办理中", "In progress"),
    "waiting": ("待前序事项办结后分送", "Routed once the earlier items are done"),
    "not_needed": ("无需办理", "Not needed"),
    "not_routed": ("办理流程未将本事项分送办理", "The process did not route this item"),
}
# What an automatic check's conclusion (`check_decision`) means, in words.
CHECK_DECISIONS = {
    "approved": ("通过，即时办结（秒批）", "passed: approved at once"),
    "review": ("转窗口人员审核", "handed to a clerk to review"),
}
# The English of the outputs a check gives the process (their labels are the table's own).
OUTPUT_NAMES = {"check_decision": "Conclusion", "check_finding": "Finding"}
_ANY = ("任意", "any")
_WITHHELD = ("（本事项不使用此数据项，仅申请人可见）", "(not used by this item: applicant only)")
_ID_NUMBER = re.compile(r"\d{17}[\dX]")


@dataclasses.dataclass(frozen=True)
class Phrase:
    """A labelled piece of a rule in words: an input and its entry, an output and its value, a
    check that passed, a fact or material to correct."""

    label: str
    label_en: str
    text: str
    text_en: str


@dataclasses.dataclass(frozen=True)
class FactRead:
    """A fact a rule read: its value as the viewer may see it, and where it came from."""

    key: str
    label: str
    label_en: str
    shown: str
    shown_en: str
    masked: bool
    source: str  # "registry", "typed", "correction", "repair", "missing"
    source_label: str
    source_label_en: str
    registry: str | None = None
    record: str | None = None
    retrieved_at: datetime | None = None  # when the registry was read, or the correction made


@dataclasses.dataclass(frozen=True)
class Condition:
    """The item's condition in the matter, in words, and whether it holds on the case."""

    text: str
    text_en: str
    holds: bool
    always: bool  # the item has no condition: it applies to every application of the matter
    origin: str  # "item" (the catalog's item) or "matter" (the matter's configured condition)
    catalog_version: int  # the catalog version whose rule this is (0: the shipped catalog)
    submitted_under: int  # the catalog version in force when the case was submitted


@dataclasses.dataclass(frozen=True)
class DecisionRow:
    """One row of a decision table: its input entries and outputs in words."""

    number: int
    rule_id: str
    inputs: tuple[Phrase, ...]
    outputs: tuple[Phrase, ...]
    matched: bool


@dataclasses.dataclass(frozen=True)
class DecisionTable:
    """The automatic check that decides the item: a DMN decision of the case's process version."""

    decision_id: str
    name: str
    hit_policy: str
    task: str  # the business rule task's name in the process
    process_version: int | None  # the deployed version number (None: the shipped file)
    process_key: str  # the process version's content hash, shortened
    dmn_files: tuple[str, ...]
    rows: tuple[DecisionRow, ...]

    @property
    def matched(self) -> tuple[DecisionRow, ...]:
        return tuple(row for row in self.rows if row.matched)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What became of the item: decided by whom and why, or what it waits for."""

    state: str  # a key of OUTCOMES
    label: str
    label_en: str
    decided_at: datetime | None = None
    checks: tuple[Phrase, ...] = ()  # instant approval: the checks that passed
    reason_code: str | None = None  # rejection: the reason's number in the item's list
    reason: str | None = None
    reason_en: str | None = None
    comment: str = ""  # the clerk's own words (a rejection's addition, a correction's note)
    correct: tuple[Phrase, ...] = ()  # correction: the facts and materials to correct
    finding: str = ""  # the automatic check's finding, if one ran


@dataclasses.dataclass(frozen=True)
class Explanation:
    """Why one item of a case applies or not, and why it was decided so."""

    case_id: int
    case_number: str
    item_code: str
    item_name: str
    item_name_en: str
    department_name: str
    department_name_en: str
    applies: bool
    summary: str
    summary_en: str
    condition: Condition
    decision: DecisionTable | None
    facts: tuple[FactRead, ...]
    outcome: Outcome
    for_applicant: bool
    task_id: int | None  # the item's row (a task for its department), if it was routed


def explain_for_applicant(
    session: Session, rt: Runtime, *, user: User, case_id: int, item_code: str
) -> Explanation:
    """The applicant's explanation of an item of their own case (any other caller: not found)."""
    case = load_case(session, case_id=case_id, user=user)
    return explain_item(session, rt, case=case, item_code=item_code, for_applicant=True)


def explain_for_clerk(session: Session, rt: Runtime, *, user: User, item_id: int) -> Explanation:
    """A department clerk's explanation of their own department's item (a task); logged."""
    row = load_case_item(session, item_id=item_id, user=user)
    case = session.get(Case, row.case_id)
    item = rt.catalog.items[row.item_code]
    log_view(session, user, case, f"{user.display_name}查看事项办理依据说明（{item.name}）")
    return explain_item(
        session, rt, case=case, item_code=row.item_code, for_applicant=False, row=row
    )


def explain_item(
    session: Session,
    rt: Runtime,
    *,
    case: Case,
    item_code: str,
    for_applicant: bool,
    row: CaseItem | None = None,
) -> Explanation:
    """Why `item_code` applies to `case` or not and how it was decided, for the applicant
    (`for_applicant`: their facts in full) or a clerk of the item's department."""
    catalog = rt.catalog
    matter = catalog.matters.get(case.matter)
    rows = session.exec(
        select(CaseItem)
        .where(CaseItem.case_id == case.id, CaseItem.item_code == item_code)
        .order_by(col(CaseItem.id))
    ).all()
    row = row or (rows[-1] if rows else None)
    item = catalog.items.get(item_code)
    if item is None or (row is None and (matter is None or item_code not in matter.items)):
        raise NotFound("本办件没有该事项", "This case has no such item")
    expression, origin = _rule_of(session, matter, item)
    scope = _scope(catalog, case)
    condition = _condition(session, catalog, case, expression, origin)
    spec = _spec_of(session, rt, case)
    decision = _decision_table(session, catalog, case, spec, item, scope)
    keys = _facts_read(catalog, expression) if expression else []
    if decision is not None:
        keys += [key for key in _decision_facts(catalog, spec, item) if key not in keys]
    visible = None if for_applicant else set(needed_facts(item))
    facts = tuple(_fact_read(catalog.facts[key], case, visible) for key in keys)
    outcome = _outcome(catalog, case, item, row, condition, decision)
    applies = outcome.state not in ("not_needed", "not_routed")
    summary = _summary(catalog, expression, condition, outcome, case, for_applicant)
    department = row.department if row is not None else item.department
    found = catalog.departments.get(department)
    return Explanation(
        case_id=case.id,
        case_number=case.number or "",
        item_code=item.code,
        item_name=item.name,
        item_name_en=item.name_en,
        department_name=found.name if found else department,
        department_name_en=found.name_en if found else department,
        applies=applies,
        summary=summary[0],
        summary_en=summary[1],
        condition=condition,
        decision=decision,
        facts=facts,
        outcome=outcome,
        for_applicant=for_applicant,
        task_id=row.id if row is not None else None,
    )


# The rule ----------------------------------------------------------------------------------------


def _scope(catalog: Catalog, case: Case) -> dict[str, Any]:
    """What the case's process read: every dictionary fact (None when unknown), the answers,
    and which facts were verified from the registries (as `forms.compiler.process_data`)."""
    scope: dict[str, Any] = dict.fromkeys(catalog.facts)
    scope.update(case.data)
    scope["matter"] = case.matter
    scope["prefilled"] = sorted(
        key for key, entry in case.provenance.items() if (entry or {}).get("registry")
    )
    return scope


def _rule_of(session: Session, matter: Matter | None, item: Item) -> tuple[str | None, str]:
    """The item's condition in the matter and where it is set: the matter's settings (an
    administrator's, services/configuration/matters.py; "" there: always) or the matter's
    catalog entry ("matter"), else the catalog item's own `when` ("item")."""
    configured = matter_conditions(session, matter.code) if matter is not None else None
    if configured is not None and item.code in configured:
        return configured[item.code] or None, "matter"
    if matter is not None and any(code == item.code for code, _ in matter.conditions):
        return matter.condition_of(item), "matter"
    return item.when, "item"


def _condition(
    session: Session, catalog: Catalog, case: Case, expression: str | None, origin: str
) -> Condition:
    numbers = select(func.max(CatalogVersion.number))
    current = session.exec(numbers).one() or 0
    submitted = session.exec(numbers.where(CatalogVersion.created_at <= case.created_at)).one()
    if expression is None:
        text = (
            "本一件事的每一份申请都办理本事项（无适用条件）",
            "every application for this matter (no condition)",
        )
    else:
        text = describe_condition(catalog, expression)
    return Condition(
        text=text[0],
        text_en=text[1],
        holds=condition_holds(expression, case.data),
        always=expression is None,
        origin=origin,
        catalog_version=current,
        submitted_under=submitted or 0,
    )


def _summary(
    catalog: Catalog,
    expression: str | None,
    condition: Condition,
    outcome: Outcome,
    case: Case,
    for_applicant: bool,
) -> tuple[str, str]:
    if outcome.state == "not_needed":  # the words the case's path uses for the same item
        reason = not_needed_reason(catalog, expression, case.data, for_applicant=for_applicant)
        return reason.rule, reason.rule_en
    if outcome.state == "not_routed":
        return OUTCOMES["not_routed"]
    if condition.always:
        return "本事项对本一件事的每一份申请都办理", "This item applies to every application"
    return (
        f"本事项适用：您的申请符合“{condition.text}”",
        f"This item applies: the application meets “{condition.text_en}”",
    )


# The decision table --------------------------------------------------------------------------------


def _check_task(spec: ProcessSpec | None, item: Item):
    """The business rule task that checks `item` in the process version (None: no check)."""
    if spec is None:
        return None
    for info in spec.checks.values():
        if info.item == item.code:
            for task_spec in spec.spec.task_specs.values():
                if getattr(task_spec, "bpmn_id", None) == info.bpmn_id:
                    return task_spec
    return None


def _decision_table(
    session: Session,
    catalog: Catalog,
    case: Case,
    spec: ProcessSpec | None,
    item: Item,
    scope: dict[str, Any],
) -> DecisionTable | None:
    task_spec = _check_task(spec, item)
    engine = getattr(task_spec, "dmnEngine", None)
    if spec is None or engine is None:
        return None
    table = engine.decision_table
    values = [_evaluated(i.expression, scope) for i in table.inputs]
    rows = []
    for number, rule in enumerate(table.rules, start=1):
        matched = all(
            _entry_matches(entry.text, i.expression, value, scope)
            for entry, i, value in zip(rule.inputEntries, table.inputs, values, strict=False)
        )
        inputs = tuple(
            Phrase(
                *_input_label(catalog, i),
                *_entry_words(catalog, i.expression, entry.text, _input_label(catalog, i)),
            )
            for entry, i in zip(rule.inputEntries, table.inputs, strict=False)
        )
        outputs = tuple(
            Phrase(
                o.label or o.name,
                OUTPUT_NAMES.get(o.name, o.label or o.name),
                *_output_words(catalog, o, entry.text, scope if matched else None),
            )
            for entry, o in zip(rule.outputEntries, table.outputs, strict=False)
        )
        rows.append(DecisionRow(number, rule.id, inputs, outputs, matched))
    version = session.exec(
        select(ProcessVersion.version)
        .where(ProcessVersion.matter == case.matter, ProcessVersion.definition_key == spec.key)
        .order_by(col(ProcessVersion.version).desc())
    ).first()
    decision_id, name = _decision_of(spec, table.id)
    return DecisionTable(
        decision_id=decision_id,
        name=name or table.name or decision_id,
        hit_policy=str(table.hit_policy or "UNIQUE"),
        task=task_spec.bpmn_name or task_spec.bpmn_id,
        process_version=version,
        process_key=spec.key[:12],
        dmn_files=tuple(name for name, _text in spec.decisions),
        rows=tuple(rows),
    )


def _decision_of(spec: ProcessSpec, table_id: str) -> tuple[str, str]:
    """The id and name of the DMN decision holding the table `table_id` (its DMN file's)."""
    for _name, text in spec.decisions:
        for decision in etree.fromstring(text).iter("{*}decision"):
            if any(t.get("id") == table_id for t in decision.iter("{*}decisionTable")):
                return decision.get("id") or table_id, decision.get("name") or ""
    return table_id, ""


def _evaluated(expression: str | None, scope: dict[str, Any]) -> Any:
    try:
        return evaluate(expression or "None", scope)
    except Exception:  # a fact not known: the check saw nothing there either
        return None


def _entry_matches(entry: str | None, expression: str, value: Any, scope: dict[str, Any]) -> bool:
    """Whether a row's input entry holds for the input's value, as SpiffWorkflow's DMN engine
    tests it: empty holds; `?` stands for the input; a plain value is compared for equality."""
    text = (entry or "").strip()
    if not text:
        return True
    try:
        if "?" in text:
            return bool(
                evaluate(text.replace("?", DMN_PLACEHOLDER), {**scope, DMN_PLACEHOLDER: value})
            )
        try:
            ast.parse(text, mode="eval")
        except SyntaxError:  # "> 5": the input then the entry
            return bool(evaluate(f"{DMN_PLACEHOLDER} {text}", {**scope, DMN_PLACEHOLDER: value}))
        return value == evaluate(text, scope)
    except Exception:
        return False


def _input_fact(catalog: Catalog, expression: str) -> Fact | None:
    """The fact an input reads when it reads one (`household_parent`, `(months or 0)`)."""
    try:
        node = ast.parse(expression, mode="eval").body
    except SyntaxError:
        return None
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
        node = node.values[0]
    return catalog.facts.get(node.id) if isinstance(node, ast.Name) else None


def _input_label(catalog: Catalog, table_input) -> tuple[str, str]:
    """An input in words: its label in the table, or its expression read in words."""
    read = describe_condition(catalog, table_input.expression or "")
    if table_input.label:  # its English: the fact's, else the expression read in English
        fact = _input_fact(catalog, table_input.expression or "")
        return table_input.label, fact.label_en if fact else read[1]
    return read


def _entry_words(
    catalog: Catalog, expression: str, entry: str | None, label: tuple[str, str]
) -> tuple[str, str]:
    """A row's input entry in words, the input named by its label (`? in ('mother', 'father')`
    on 落户方: 落户方 属于 母亲、父亲)."""
    text = (entry or "").strip()
    if not text:
        return _ANY
    fact = _input_fact(catalog, expression)
    stand_in = Fact(
        key=DMN_PLACEHOLDER,
        subject="",
        label=label[0],
        label_en=label[1],
        type=fact.type if fact else "bool",
        options=fact.options if fact else (),
    )
    named = dataclasses.replace(catalog, facts={**catalog.facts, DMN_PLACEHOLDER: stand_in})
    if "?" in text:
        return describe_condition(named, text.replace("?", DMN_PLACEHOLDER))
    try:
        ast.parse(text, mode="eval")
    except SyntaxError:
        return describe_condition(named, f"{DMN_PLACEHOLDER} {text}")
    return describe_condition(named, f"{DMN_PLACEHOLDER} == ({text})")


def _output_words(
    catalog: Catalog, output, entry: str | None, scope: dict[str, Any] | None
) -> tuple[str, str]:
    """A row's output in words: a check's conclusion by its meaning; on the matched row the
    value it gave the case (`scope`), on the others the expression read in words."""
    text = (entry or "").strip()
    if scope is not None:
        value = _evaluated(text, scope)
        if output.name == "check_decision" and value in CHECK_DECISIONS:
            return CHECK_DECISIONS[value]
        if value not in (None, ""):
            return str(value), str(value)
    try:
        constant = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        constant = None
    if output.name == "check_decision" and constant in CHECK_DECISIONS:
        return CHECK_DECISIONS[constant]
    return describe_condition(catalog, text) if text else ("（空）", "(empty)")


def _decision_facts(catalog: Catalog, spec: ProcessSpec | None, item: Item) -> list[str]:
    """The facts a check's decision table reads: named in its inputs and outputs, or looked up
    by name (`'child_birth_cert_number' in prefilled`)."""
    engine = getattr(_check_task(spec, item), "dmnEngine", None)
    if engine is None:
        return []
    table = engine.decision_table
    texts = [i.expression or "" for i in table.inputs]
    texts += [entry.text or "" for rule in table.rules for entry in rule.outputEntries]
    found: list[str] = []
    for text in texts:
        try:
            tree = ast.parse(text.replace("?", DMN_PLACEHOLDER), mode="eval")
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            name = node.id if isinstance(node, ast.Name) else getattr(node, "value", None)
            if isinstance(name, str) and name in catalog.facts and name not in found:
                found.append(name)
    return found


# The facts ---------------------------------------------------------------------------------------


def _fact_read(fact: Fact, case: Case, visible: set[str] | None) -> FactRead:
    """A fact as the viewer may see it (`visible`: the clerk's item's facts; None: all, in
    full, for the applicant) with its source."""
    value = case.data.get(fact.key)
    entry = case.provenance.get(fact.key) or {}
    masked = visible is not None and fact.type in MASKED_TYPES
    if visible is not None and fact.key not in visible:
        shown = _WITHHELD
    else:
        shown = _value_words(fact, value, masked=masked)
    record = str(entry.get("record_id") or "") or None
    if record and visible is not None and _ID_NUMBER.fullmatch(record):
        record = mask_id(record)
    if entry.get("registry"):
        registry = entry.get("registry_name") or registry_name(entry["registry"])
        source = ("registry", f"共享数据库：{registry}", registry_name(entry["registry"], "en"))
        at = entry.get("retrieved_at")
    elif entry.get("source") == CORRECTION_SOURCE:
        source = ("correction", "申请人补正时填写", "Typed by the applicant in a correction")
        at, record = entry.get("corrected_at"), None
    elif entry.get("source") == REPAIR_SOURCE:
        source = ("repair", "运维人员更正", "Corrected by an operator")
        at, record = entry.get("corrected_at") or entry.get("at"), None
    elif value in (None, ""):
        source = ("missing", "申请中没有此项数据", "Not in the application")
        at, record = None, None
    else:
        source = ("typed", "申请人填写", "Typed by the applicant")
        at, record = None, None
    return FactRead(
        key=fact.key,
        label=fact.label,
        label_en=fact.label_en,
        shown=shown[0],
        shown_en=shown[1],
        masked=masked,
        source=source[0],
        source_label=source[1],
        source_label_en=source[2],
        registry=entry.get("registry"),
        record=record,
        retrieved_at=_parsed(at),
    )


def _parsed(value: Any) -> datetime | None:
    """A stored ISO time (None if absent or unreadable)."""
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _value_words(fact: Fact, value: Any, *, masked: bool) -> tuple[str, str]:
    if value is None or value == "":
        return "未填写", "not given"
    if isinstance(value, bool):
        return ("是", "Yes") if value else ("否", "No")
    for option in fact.options:
        if option.value == value:
            return option.label, option.label_en
    text = mask_id(str(value)) if masked else str(value)
    return text, text


# The decision ----------------------------------------------------------------------------------


def _outcome(
    catalog: Catalog,
    case: Case,
    item: Item,
    row: CaseItem | None,
    condition: Condition,
    decision: DecisionTable | None,
) -> Outcome:
    if row is None:
        if not condition.holds:
            state = "not_needed"
        elif case.status == "completed":
            state = "not_routed"
        else:
            state = "waiting"
        return Outcome(state, *OUTCOMES[state])
    finding = row.finding or ""
    if row.status == "approved" and row.auto:
        checks = (
            []
            if condition.always
            else [Phrase("适用条件", "Condition", condition.text, condition.text_en)]
        )
        for matched in decision.matched if decision else ():
            checks += [p for p in matched.inputs if p.text != _ANY[0]]
        return Outcome(
            "approved_auto",
            *OUTCOMES["approved_auto"],
            decided_at=row.decided_at,
            checks=tuple(checks),
            finding=finding,
        )
    if row.status == "approved":
        return Outcome(
            "approved",
            *OUTCOMES["approved"],
            decided_at=row.decided_at,
            comment=row.comment or "",
            finding=finding,
        )
    if row.status == "rejected":
        return _rejection(item, row)
    if row.status == "correction":
        asked = row.correction or {}
        correct = [
            Phrase("数据项", "Fact", catalog.facts[k].label, catalog.facts[k].label_en)
            for k in asked.get("facts", [])
            if k in catalog.facts
        ]
        materials = {m.code: m for m in item.materials}
        correct += [
            Phrase("材料", "Material", materials[k].name, materials[k].name_en)
            for k in asked.get("materials", [])
            if k in materials
        ]
        return Outcome(
            "correction",
            *OUTCOMES["correction"],
            decided_at=row.decided_at,
            comment=asked.get("note") or row.comment or "",
            correct=tuple(correct),
            finding=finding,
        )
    return Outcome("processing", *OUTCOMES["processing"], finding=finding)


def _rejection(item: Item, row: CaseItem) -> Outcome:
    """A refusal: the reason from the item's list (its number there, its text) and what the
    clerk added (stored as "reason：addition", services/cases/decisions.py)."""
    stored = row.comment or ""
    for number, reason in enumerate(item.reject_reasons, start=1):
        if stored == reason or stored.startswith(f"{reason}："):
            return Outcome(
                "rejected",
                *OUTCOMES["rejected"],
                decided_at=row.decided_at,
                reason_code=f"{number:02d}",
                reason=reason,
                reason_en=REJECT_REASONS_EN.get(reason, reason),
                comment=stored.removeprefix(reason).removeprefix("："),
            )
    return Outcome("rejected", *OUTCOMES["rejected"], decided_at=row.decided_at, comment=stored)
