"""Compile a matter's items into one form: each fact asked once, prefilled where known,
conditional sections, server-side validation, and the one-time-notice checklist (一次告知).

Pure functions over catalog data: given a matter, what the registries supplied and what the
applicant typed, return the form, its errors and the materials this applicant must bring.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.sandbox import SandboxError, SandboxLimit, evaluate
from forms.catalog import Catalog, Fact, Item, Matter
from forms.sources import registry_name
from forms.values import FieldError, InvalidValue, missing_message, parse_value

log = logging.getLogger(__name__)

# Variables a process sees besides the dictionary facts (BPMN and DMN conditions may use them).
PROCESS_VARIABLES = {
    "matter": "the matter's code",
    "prefilled": "keys of the facts verified from registries (not typed by the applicant)",
    "check_decision": "outcome of the latest automatic check: 'approved' (秒批) or 'review'",
    "check_finding": "what the latest automatic check found, for the clerk",
    "time_limits": "each item's statutory time limit in working days, for the deadline timers",
    "due_in_working_days": "function: the end of the n-th working day from today (China time)",
    # and, per item, decision_<item code>: "approved", "rejected" or "correction" (补正)
}


@dataclass(frozen=True)
class Known:
    """A fact value supplied by a registry, with its provenance."""

    value: Any
    registry: str
    record_id: str
    retrieved_at: datetime

    @property
    def registry_name(self) -> str:
        return registry_name(self.registry)


@dataclass
class FormField:
    fact: Fact
    value: Any
    known: Known | None
    required: bool
    items: list[str]  # the names of the items that use it
    error: FieldError | None = None
    item_codes: list[str] = field(default_factory=list)  # and their codes

    @property
    def key(self) -> str:
        return self.fact.key

    @property
    def readonly(self) -> bool:
        return self.known is not None


@dataclass
class Section:
    code: str
    title: str
    title_en: str
    fields: list[FormField]


@dataclass(frozen=True)
class ChecklistEntry:
    """One material of the combined application and what the applicant must do about it."""

    code: str
    name: str
    name_en: str
    items: tuple[str, ...]
    status: str  # "exempt" (fetched from a registry) or "upload"
    reason: str
    reason_en: str
    registry: str | None


@dataclass
class CompiledForm:
    matter: Matter
    sections: list[Section]
    items: list[Item]
    skipped_items: list[Item]
    checklist: list[ChecklistEntry]
    values: dict[str, Any]
    errors: list[FieldError] = field(default_factory=list)
    notices: list[tuple[str, str]] = field(default_factory=list)  # (zh, en) for the applicant
    # Answers given for facts a registry supplied: ignored (not the applicant's to change)
    ignored: list[str] = field(default_factory=list)

    @property
    def fields(self) -> list[FormField]:
        return [f for section in self.sections for f in section.fields]

    @property
    def uploads(self) -> list[ChecklistEntry]:
        return [entry for entry in self.checklist if entry.status == "upload"]


def condition_holds(expression: str | None, scope: Mapping[str, Any]) -> bool:
    """Whether a catalog or matter condition holds for `scope` (None: always). One the sandbox
    refuses is never run and does not hold (logged); one over facts not known yet neither."""
    if expression is None:
        return True
    try:
        return bool(evaluate(expression, scope))
    except (SandboxError, SandboxLimit) as exc:  # refused or over a bound: never run, logged
        log.warning(
            "condition %r refused by the sandbox, treated as not holding: %s", expression[:200], exc
        )
        return False
    except Exception:  # a condition over facts not known yet does not hold
        return False


def _needed_facts(catalog: Catalog, items: list[Item], scope: Mapping[str, Any]):
    needed: dict[str, list[str]] = {}
    for item in items:
        keys = list(item.facts)
        for group in item.facts_if:
            if condition_holds(group.when, scope):
                keys.extend(group.facts)
        for key in keys:
            needed.setdefault(key, [])
            if item.code not in needed[key]:
                needed[key].append(item.code)
    order = {key: index for index, key in enumerate(catalog.facts)}
    subject_order = {code: s.order for code, s in catalog.subjects.items()}
    return sorted(
        needed.items(),
        key=lambda kv: (subject_order.get(catalog.facts[kv[0]].subject, 50), order[kv[0]]),
    )


def _checklist(items: list[Item], known: Mapping[str, Known], scope) -> list[ChecklistEntry]:
    entries: dict[str, ChecklistEntry] = {}
    for item in items:
        for material in item.materials:
            if not condition_holds(material.when, scope):
                continue
            if material.code in entries:
                previous = entries[material.code]
                entries[material.code] = ChecklistEntry(
                    **{**previous.__dict__, "items": previous.items + (item.code,)}
                )
                continue
            fetched = material.source is not None and all(key in known for key in material.evidence)
            source_name = registry_name(material.source or "")
            source_name_en = registry_name(material.source or "", "en")
            if fetched:
                status = "exempt"
                reason = f"已通过{source_name}共享获取，免于提交"
                reason_en = f"Fetched from the {source_name_en}: nothing to bring"
            elif material.source:
                status = "upload"
                reason = f"未能从{source_name}获取，请上传"
                reason_en = f"Not found in the {source_name_en}: please upload it"
            else:
                status = "upload"
                reason = "政府部门未掌握此材料，请上传"
                reason_en = "No registry holds this material: please upload it"
            entries[material.code] = ChecklistEntry(
                code=material.code,
                name=material.name,
                name_en=material.name_en,
                items=(item.code,),
                status=status,
                reason=reason,
                reason_en=reason_en,
                registry=material.source,
            )
    return list(entries.values())


def compile_form(
    catalog: Catalog,
    matter: Matter,
    known: Mapping[str, Known],
    answers: Mapping[str, Any] | None = None,
    *,
    validate: bool = False,
) -> CompiledForm:
    """Build the combined form; with `validate`, check `answers` and record field errors."""
    answers = answers or {}
    values: dict[str, Any] = {key: None for key in catalog.facts}
    values.update({key: k.value for key, k in known.items() if k.value is not None})
    errors: list[FieldError] = []
    parsed: dict[str, Any] = {}
    ignored: list[str] = []
    for key, raw in answers.items():
        fact = catalog.facts.get(key)
        if fact is None:
            continue  # not a fact (the services refuse such answers before compiling)
        if key in known and known[key].value is not None:
            ignored.append(key)  # registry facts cannot be overridden by the form
            continue
        try:
            parsed[key] = parse_value(fact, raw)
        except InvalidValue as exc:
            errors.append(FieldError(key, f"{fact.label}：{exc.message}", exc.message_en))
            parsed[key] = raw
    values.update(parsed)

    all_items = catalog.items_of(matter)
    items = [item for item in all_items if condition_holds(matter.condition_of(item), values)]
    skipped = [item for item in all_items if item not in items]
    item_names = {item.code: item.name for item in all_items}
    sections: dict[str, Section] = {}
    error_keys = {e.key for e in errors}
    for key, item_codes in _needed_facts(catalog, items, values):
        fact = catalog.facts[key]
        k = known.get(key)
        k = k if k is not None and k.value is not None else None
        required = not fact.optional and condition_holds(fact.required_if, values)
        form_field = FormField(
            fact=fact,
            value=values.get(key),
            known=k,
            required=required,
            items=[item_names[code] for code in item_codes],
            item_codes=list(item_codes),
        )
        if (
            validate
            and k is None
            and required
            and values.get(key) in (None, "")
            and (key not in error_keys)
        ):
            errors.append(FieldError(key, *missing_message(fact)))
        form_field.error = next((e for e in errors if e.key == key), None)
        subject = catalog.subjects[fact.subject]
        section = sections.setdefault(
            subject.code, Section(subject.code, subject.label, subject.label_en, [])
        )
        section.fields.append(form_field)
    asked = {f.key for s in sections.values() for f in s.fields}
    return CompiledForm(
        matter=matter,
        sections=list(sections.values()),
        items=items,
        skipped_items=skipped,
        checklist=_checklist(items, known, values),
        values={key: value for key, value in values.items() if key in asked},
        errors=[e for e in errors if e.key in asked],
        ignored=ignored,
    )


def process_data(
    catalog: Catalog, form: CompiledForm, known: Mapping[str, Known]
) -> dict[str, Any]:
    """The data a case's process starts with: every dictionary fact (None when unknown), the
    registry facts, the applicant's answers, and which facts were verified from registries."""
    data: dict[str, Any] = dict.fromkeys(catalog.facts)
    data.update({key: k.value for key, k in known.items()})
    data.update(form.values)
    data["matter"] = form.matter.code
    # The items whose condition holds (the matter's configuration): a gateway may route on
    # `'item_code' in applied_items` to follow what the administrator configured.
    data["applied_items"] = [item.code for item in form.items]
    data["prefilled"] = sorted(key for key, k in known.items() if k.value is not None)
    data["time_limits"] = {
        item.code: item.time_limit_days for item in catalog.items_of(form.matter)
    }
    return data


def lookups_of(catalog: Catalog, matter: Matter) -> dict[str, list[Fact]]:
    """The registries the matter's prefill may read, each with the facts it would supply:
    what the applicant is asked to authorize (and can refuse, filling them in instead)."""
    found: dict[str, list[Fact]] = {}
    for item in catalog.items_of(matter):
        keys = list(item.facts) + [k for group in item.facts_if for k in group.facts]
        for key in keys:
            fact = catalog.facts[key]
            if fact.source and fact not in found.setdefault(fact.source, []):
                found[fact.source].append(fact)
        for material in item.materials:
            if material.source:
                found.setdefault(material.source, [])
    return found


def _both(first: str | None, second: str | None) -> str | None:
    """Two conditions that must both hold, as one expression (None: always)."""
    if first is None or second is None:
        return first if second is None else second
    return f"({first}) and ({second})"


def _any_of(alternatives: list[str | None]) -> str | None:
    """Conditions of which one must hold, as one expression (None: one always holds)."""
    if any(alternative is None for alternative in alternatives):
        return None
    distinct = list(dict.fromkeys(alternatives))
    return distinct[0] if len(distinct) == 1 else " or ".join(f"({a})" for a in distinct)


def fact_conditions(catalog: Catalog, matter: Matter) -> dict[str, str | None]:
    """Every fact the matter may ask, with the condition under which it is asked, as source
    text over the dictionary's facts (None: always): an item's condition, and the condition of
    the item's conditional facts; a fact several items ask applies when any of them does."""
    alternatives: dict[str, list[str | None]] = {}
    for item in catalog.items_of(matter):
        applies = matter.condition_of(item)
        for key in item.facts:
            alternatives.setdefault(key, []).append(applies)
        for group in item.facts_if:
            for key in group.facts:
                alternatives.setdefault(key, []).append(_both(applies, group.when))
    return {key: _any_of(found) for key, found in alternatives.items()}


def material_conditions(catalog: Catalog, matter: Matter) -> dict[str, str | None]:
    """Every material the matter may need, with the condition under which it is on the
    checklist (its item's condition and its own), as source text (None: always)."""
    alternatives: dict[str, list[str | None]] = {}
    for item in catalog.items_of(matter):
        applies = matter.condition_of(item)
        for material in item.materials:
            alternatives.setdefault(material.code, []).append(_both(applies, material.when))
    return {code: _any_of(found) for code, found in alternatives.items()}


@dataclass(frozen=True)
class FactRules:
    """What `forms.values.parse_value` accepts for a fact's type, as data a client can apply
    before sending: `pattern` (a regular expression, also valid in JavaScript) over the value
    as typed, trimmed and with the `strip` characters removed; a `checksum` it must pass; its
    length in characters. Values are checked again on the server, whatever the client did."""

    format: str  # the fact's type: citizen_id, uscc, bank_card, phone, date, integer, ...
    description: str
    description_en: str
    pattern: str | None = None
    strip: str = ""  # characters removed before the pattern and checksum apply
    checksum: str | None = None
    max_length: int | None = None


_USCC = "0-9A-HJ-NPQRTUWXYa-hj-npqrtuwxy"  # a credit code's characters (GB 32100), any case
# One entry per fact type (forms.catalog.FACT_TYPES); kept beside the checks by a test.
FACT_RULES: dict[str, FactRules] = {
    "citizen_id": FactRules(
        "citizen_id",
        "18位公民身份号码（GB 11643），末位校验码可为X；出生日期不晚于今天，行政区划码须存在",
        "An 18-character citizen ID number (GB 11643): the check character may be X; the birth "
        "date in it is not in the future and its region code exists",
        pattern=r"^\d{17}[\dXx]$",
        checksum="GB 11643-1999 (ISO 7064 MOD 11-2)",
    ),
    "uscc": FactRules(
        "uscc",
        "18位统一社会信用代码（GB 32100），不使用I、O、Z、S、V",
        "An 18-character unified social credit code (GB 32100), without I, O, Z, S or V",
        pattern=rf"^[{_USCC}]{{2}}\d{{6}}[{_USCC}]{{10}}$",
        strip=" -",
        checksum="GB 32100-2015 (MOD 31)",
    ),
    "bank_card": FactRules(
        "bank_card",
        "12至19位银行卡号，须通过Luhn校验",
        "A bank card number of 12 to 19 digits that passes the Luhn check",
        pattern=r"^\d{12,19}$",
        strip=" -",
        checksum="Luhn (ISO/IEC 7812)",
    ),
    "phone": FactRules(
        "phone",
        "11位手机号码，以1开头",
        "An 11-digit mobile number starting with 1",
        pattern=r"^1[3-9]\d{9}$",
        strip=" -",
    ),
    "date": FactRules(
        "date", "日期，格式为年-月-日", "A date, YYYY-MM-DD", pattern=r"^\d{4}-\d{2}-\d{2}$"
    ),
    "integer": FactRules("integer", "整数", "A whole number", pattern=r"^[+-]?\d+$"),
    "enum": FactRules("enum", "从选项中选择一项", "One of the options' values"),
    "bool": FactRules("bool", "是或否（true / false）", "Yes or no (true / false)"),
    "text": FactRules(
        "text", "文字，不超过100个字", "Text, at most 100 characters", max_length=100
    ),
    "address": FactRules(
        "address", "地址，不超过200个字", "An address, at most 200 characters", max_length=200
    ),
}
