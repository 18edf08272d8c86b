"""The whole case in view: every item of the case's matter, in the order its process takes
them, each in one state: done, in progress, awaiting correction, waiting for an earlier step
(named, from the process's sequence flows), or not needed (with the rule that decided it and,
for the applicant only, the facts it read). One list for the applicant's case page, the
clerk's task page and the case's API answer."""

from __future__ import annotations

import ast
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from engine.specs import ProcessSpec
from engine.store import ProcessInstance, spec_for
from forms.catalog import Catalog, Fact, Item
from forms.compiler import condition_holds
from forms.values import mask_id
from services.cases.access import MASKED_TYPES
from services.cases.models import Case, CaseItem
from services.runtime import Runtime

# A step's state, as text (zh, en): the page never says it by colour alone.
PATH_STATE = {
    "done": ("已办结", "Done"),
    "in_progress": ("办理中", "In progress"),
    "correction": ("待补正", "Awaiting correction"),
    "waiting": ("待前序完成", "Waiting for an earlier step"),
    "not_needed": ("无需办理", "Not needed"),
}
_STATE_OF_STATUS = {
    "approved": "done",
    "rejected": "done",
    "processing": "in_progress",
    "correction": "correction",
}
_OUTCOME = {"approved": ("准予办理", "Approved"), "rejected": ("不予办理", "Rejected")}


@dataclass(frozen=True)
class FactShown:
    """A fact a rule read, as the applicant gave it (personal numbers masked)."""

    key: str
    label: str
    label_en: str
    shown: str
    shown_en: str


@dataclass(frozen=True)
class NotNeededReason:
    """Why an item is not needed: the rule (when the item applies, in words) and the facts of
    the application it read (empty for anyone but the applicant)."""

    rule: str
    rule_en: str
    facts: tuple[FactShown, ...] = ()


@dataclass(frozen=True)
class PathStep:
    """One item of the case's matter in the case's path."""

    position: int  # 1-based, in the process's order
    item: Item
    department: str
    department_name: str
    department_name_en: str
    state: str  # a key of PATH_STATE
    row: CaseItem | None  # the routed item, if the process routed it
    waits_for: tuple[Item, ...] = ()  # waiting: the earlier items not finished yet
    reason: NotNeededReason | None = None  # not needed: why

    @property
    def state_label(self) -> tuple[str, str]:
        return PATH_STATE[self.state]

    @property
    def outcome_label(self) -> tuple[str, str] | None:
        """Done: approved or rejected."""
        return _OUTCOME.get(self.row.status) if self.row is not None else None


_ROWS_OF_CASE = (
    select(CaseItem).where(CaseItem.case_id == bindparam("case_id")).order_by(col(CaseItem.id))
)


def case_path(
    session: Session,
    rt: Runtime,
    *,
    case: Case,
    for_applicant: bool,
    rows: Sequence[CaseItem] | None = None,
) -> list[PathStep]:
    """Every item of the case's matter with its state, in process order. `for_applicant`: the
    not-needed reasons carry the facts they read (a clerk sees the rule only). `rows`: the
    case's items when the caller has read them already."""
    if rows is None:
        rows = session.exec(_ROWS_OF_CASE, params={"case_id": case.id}).all()
    by_code: dict[str, CaseItem] = {}
    for row in rows:  # the latest row of each item
        by_code[row.item_code] = row
    matter = rt.catalog.matters.get(case.matter)
    codes = list(matter.items) if matter else []
    codes += [code for code in by_code if code not in codes]
    before = _predecessors(_spec_of(session, rt, case))
    states: dict[str, str] = {}
    reasons: dict[str, NotNeededReason] = {}
    for code in codes:
        row = by_code.get(code)
        if row is not None:
            states[code] = _STATE_OF_STATUS.get(row.status, "in_progress")
            continue
        item = rt.catalog.items[code]
        condition = matter.condition_of(item) if matter else item.when
        if not condition_holds(condition, case.data):
            states[code] = "not_needed"
            reasons[code] = not_needed_reason(
                rt.catalog, condition, case.data, for_applicant=for_applicant
            )
        elif case.status == "completed":
            states[code] = "not_needed"
            reasons[code] = NotNeededReason(
                "办理流程未将本事项分送办理", "The process did not route this item"
            )
        else:
            states[code] = "waiting"
    order = {code: index for index, code in enumerate(codes)}
    codes.sort(key=lambda code: (_depth(code, before, set()), order[code]))
    steps = []
    for position, code in enumerate(codes, start=1):
        item = rt.catalog.items[code]
        row = by_code.get(code)
        department = row.department if row is not None else item.department
        found = rt.catalog.departments.get(department)
        waits_for: tuple[Item, ...] = ()
        if states[code] == "waiting":
            waits_for = tuple(
                rt.catalog.items[earlier]
                for earlier in sorted(before.get(code, ()), key=lambda c: order.get(c, len(order)))
                if earlier in rt.catalog.items and states.get(earlier) not in ("done", "not_needed")
            )
        steps.append(
            PathStep(
                position=position,
                item=item,
                department=department,
                department_name=found.name if found else department,
                department_name_en=found.name_en if found else department,
                state=states[code],
                row=row,
                waits_for=waits_for,
                reason=reasons.get(code),
            )
        )
    return steps


def _depth(code: str, before: dict[str, frozenset[str]], seen: set[str]) -> int:
    """How many steps of earlier items precede the item in the process (0: none)."""
    if code in seen:  # a loop in the process: stop counting
        return 0
    seen = seen | {code}
    return max((_depth(e, before, seen) + 1 for e in before.get(code, ())), default=0)


# The process version of the case a session's submission just created: (case id, spec), so
# that the answer to the submission names its path without reading it back.
SUBMITTED_SPEC = "onething.submitted_spec"


def _spec_of(session: Session, rt: Runtime, case: Case) -> ProcessSpec | None:
    """The process version the case runs on (None: the case has no process)."""
    if case.instance_id is None:
        return None
    submitted = session.info.get(SUBMITTED_SPEC)
    if submitted is not None and submitted[0] == case.id:  # the case this session just created
        return submitted[1]
    found = session.exec(
        select(ProcessInstance.definition_key, ProcessInstance.process_id).where(
            ProcessInstance.id == case.instance_id
        )
    ).first()
    if found is None:
        return None
    spec = rt.specs.get(found[0], found[1])
    if spec is None:
        instance = session.get(ProcessInstance, case.instance_id)
        spec = spec_for(session, rt.specs, instance) if instance is not None else None
    return spec


_PREDECESSORS: dict[tuple[str, str], dict[str, frozenset[str]]] = {}
_LOCK = threading.Lock()


def _predecessors(spec: ProcessSpec | None) -> dict[str, frozenset[str]]:
    """For each item of the process, the items whose tasks come right before its own along
    the sequence flows (through gateways; not back through the applicant's corrections).
    Computed once per process version."""
    if spec is None:
        return {}
    key = (spec.key, spec.process_id)
    found = _PREDECESSORS.get(key)
    if found is None:
        found = _trace_predecessors(spec)
        with _LOCK:
            _PREDECESSORS[key] = found
    return found


def _trace_predecessors(spec: ProcessSpec) -> dict[str, frozenset[str]]:
    bound: dict[str, tuple[str, bool]] = {}  # task spec name -> (item, is a correction)
    for info in (*spec.user_tasks.values(), *spec.checks.values()):
        if info.item:
            bound[info.bpmn_id] = (info.item, info.kind == "correction")
    result: dict[str, frozenset[str]] = {}
    for name, (item, correction) in bound.items():
        if correction:
            continue
        earlier: set[str] = set(result.get(item, frozenset()))
        stack = list(spec.spec.task_specs[name].inputs)
        seen: set[str] = set()
        while stack:
            task_spec = stack.pop()
            if task_spec.name in seen:
                continue
            seen.add(task_spec.name)
            other = bound.get(task_spec.name)
            if other is not None:
                if other[1]:  # the applicant's correction: a loop back, not an earlier step
                    continue
                if other[0] != item:
                    earlier.add(other[0])
                    continue
            stack.extend(task_spec.inputs)
        result[item] = frozenset(earlier)
    return result


# Describing a condition in words -------------------------------------------------------------

_OPERATORS = {
    ast.Eq: ("=", "="),
    ast.NotEq: ("≠", "≠"),
    ast.Gt: (">", ">"),
    ast.GtE: ("≥", "≥"),
    ast.Lt: ("<", "<"),
    ast.LtE: ("≤", "≤"),
    ast.In: ("属于", "in"),
    ast.NotIn: ("不属于", "not in"),
    ast.Is: ("=", "="),
    ast.IsNot: ("≠", "≠"),
}
_JOINS = {ast.And: ("且", "and"), ast.Or: ("或", "or")}


def shown_value(fact: Fact | None, value: Any, lang: int) -> str:
    """A fact's value in words (lang 0: Chinese, 1: English), personal numbers masked."""
    if value is None or value == "":
        return ("未填写", "not given")[lang]
    if isinstance(value, bool):
        return ("是", "Yes")[lang] if value else ("否", "No")[lang]
    if fact is not None:
        if fact.type in MASKED_TYPES:
            return mask_id(str(value))
        for option in fact.options:
            if option.value == value:
                return (option.label, option.label_en)[lang]
    return str(value)


def describe_condition(catalog: Catalog, expression: str) -> tuple[str, str]:
    """A catalog condition in words, over the facts' labels and the options' names
    (e.g. "配偶参保状态 = 城乡居民医保"); the expression itself if it cannot be read."""
    try:
        tree = ast.parse(expression, mode="eval").body
    except SyntaxError:
        return expression, expression
    return _words(catalog, tree, 0), _words(catalog, tree, 1)


def _fact_named(catalog: Catalog, node: ast.expr) -> Fact | None:
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):  # (x or 0): x
        node = node.values[0]
    return catalog.facts.get(node.id) if isinstance(node, ast.Name) else None


def _words(catalog: Catalog, node: ast.expr, lang: int, fact: Fact | None = None) -> str:
    if isinstance(node, ast.BoolOp):
        named = _fact_named(catalog, node)
        if named is not None and isinstance(node.op, ast.Or):
            return (named.label, named.label_en)[lang]
        parts = []
        for value in node.values:
            text = _words(catalog, value, lang)
            parts.append(f"（{text}）" if isinstance(value, ast.BoolOp) else text)
        return f" {_JOINS[type(node.op)][lang]} ".join(parts)
    if isinstance(node, ast.Compare):
        parts = [_words(catalog, node.left, lang)]
        left_fact = _fact_named(catalog, node.left)
        for op, right in zip(node.ops, node.comparators, strict=True):
            symbol = _OPERATORS.get(type(op))
            if symbol is None:
                return ast.unparse(node)
            parts += [symbol[lang], _words(catalog, right, lang, left_fact)]
        return " ".join(parts)
    if isinstance(node, ast.Name):
        named = catalog.facts.get(node.id)
        return (named.label, named.label_en)[lang] if named else node.id
    if isinstance(node, ast.Constant):
        return shown_value(fact, node.value, lang)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return ("并非（{}）", "not ({})")[lang].format(_words(catalog, node.operand, lang))
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return ("、", ", ")[lang].join(_words(catalog, e, lang, fact) for e in node.elts)
    return _more_words(catalog, node, lang, fact)


# The sandbox's functions and methods in words: (zh, en) templates over their arguments' words.
_CALLS = {
    "len": ("{0}的数量", "the number of {0}"),
    "abs": ("{0}的绝对值", "the absolute value of {0}"),
    "sum": ("{0}之和", "the sum of {0}"),
    "max": ("{0}中的最大值", "the largest of {0}"),
    "min": ("{0}中的最小值", "the smallest of {0}"),
    "any": ("{0}中任一成立", "any of {0}"),
    "all": ("{0}全部成立", "all of {0}"),
    "round": ("{0}四舍五入", "{0} rounded"),
    "due_in_working_days": ("{0}个工作日后", "{0} working days later"),
    "startswith": ("{self}以“{0}”开头", "{self} starts with “{0}”"),
    "endswith": ("{self}以“{0}”结尾", "{self} ends with “{0}”"),
    "get": ("{self}中的{0}", "{0} of {self}"),
    "count": ("{self}中{0}的个数", "how many {0} in {self}"),
}
# Conversions and copies read as their argument.
_SAME = {"str", "int", "float", "bool", "list", "tuple", "set", "sorted", "strip", "lower", "upper"}
_ARITHMETIC = {ast.Add: "+", ast.Sub: "-", ast.Mult: "×", ast.Div: "÷", ast.FloorDiv: "÷"}


def _more_words(catalog: Catalog, node: ast.expr, lang: int, fact: Fact | None) -> str:
    """The rest of the sandbox's expression grammar in words: calls of the offered functions
    and methods, arithmetic and text joined, an item of a value, a choice (x if c else y)."""
    if isinstance(node, ast.Call):
        function = node.func
        name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
        args = [_words(catalog, a, lang, fact) for a in node.args]
        owner = _words(catalog, function.value, lang) if isinstance(function, ast.Attribute) else ""
        if name in _SAME and (args or owner):
            return args[0] if args else owner
        if name in _CALLS:
            return _CALLS[name][lang].format(("、", ", ")[lang].join(args), self=owner)
        listed = ("、", ", ")[lang].join(args)
        return f"{owner}{name}（{listed}）" if lang == 0 else f"{name} of {owner} ({listed})"
    if isinstance(node, ast.BinOp):
        left, right = (
            _words(catalog, node.left, lang, fact),
            _words(catalog, node.right, lang, fact),
        )
        if isinstance(node.op, ast.Add) and _is_text(node):  # text joined: one sentence
            return _slot(node.left, left, lang) + _slot(node.right, right, lang)
        return f"{left} {_ARITHMETIC.get(type(node.op), '∘')} {right}"
    if isinstance(node, ast.Subscript):
        owner, key = _words(catalog, node.value, lang), _words(catalog, node.slice, lang)
        return f"{owner}中的{key}" if lang == 0 else f"{key} of {owner}"
    if isinstance(node, ast.Attribute):
        owner = _words(catalog, node.value, lang)
        return f"{owner}的{node.attr}" if lang == 0 else f"{node.attr} of {owner}"
    if isinstance(node, ast.IfExp):
        test, body, other = (
            _words(catalog, n, lang, fact) for n in (node.test, node.body, node.orelse)
        )
        return f"若{test}则{body}，否则{other}" if lang == 0 else f"{body} if {test}, else {other}"
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return "-" + _words(catalog, node.operand, lang, fact)
    return ("（按规则表达式计算）", "(computed by the rule's expression)")[lang]


def _slot(node: ast.expr, text: str, lang: int) -> str:
    """A value put into joined text, marked as a value (〈退休日期〉) unless it is text itself."""
    if isinstance(node, ast.Constant | ast.BinOp):
        return text
    return ("〈{}〉", "‹{}›")[lang].format(text)


def _is_text(node: ast.expr) -> bool:
    """Whether a `+` joins text (a string literal or str() on either side, all the way down)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _is_text(node.left) or _is_text(node.right)
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    return isinstance(node, ast.Call) and getattr(node.func, "id", "") == "str"


def _facts_read(catalog: Catalog, expression: str) -> list[str]:
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        return []
    names = [node.id for node in ast.walk(tree) if isinstance(node, ast.Name)]
    return [name for name in dict.fromkeys(names) if name in catalog.facts]


def not_needed_reason(
    catalog: Catalog, condition: str | None, data: dict[str, Any], *, for_applicant: bool
) -> NotNeededReason:
    """Why an item whose condition does not hold on `data` is not needed: the condition in
    words and, for the applicant only, the values of the facts it reads."""
    if condition is None:
        return NotNeededReason("办理流程未将本事项分送办理", "The process did not route this item")
    rule, rule_en = describe_condition(catalog, condition)
    facts: tuple[FactShown, ...] = ()
    if for_applicant:
        facts = tuple(
            FactShown(
                key=key,
                label=catalog.facts[key].label,
                label_en=catalog.facts[key].label_en,
                shown=shown_value(catalog.facts[key], data.get(key), 0),
                shown_en=shown_value(catalog.facts[key], data.get(key), 1),
            )
            for key in _facts_read(catalog, condition)
        )
    return NotNeededReason(
        f"本事项仅在“{rule}”时办理", f"This item applies only when {rule_en}", facts
    )
