"""The registry events that start offers: what each kind's payload carries, whom it names, which
facts of an application it answers, and how it reads to the person offered a matter.

An allow-list: a kind not here is refused, and a payload key not listed for its kind is refused
(nothing an event carries reaches an offer unchecked).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from forms.values import InvalidValue, check_citizen_id, check_uscc
from services.errors import InvalidInput

MAX_TEXT = 100


@dataclass(frozen=True)
class EventKind:
    code: str
    name: str
    name_en: str
    subject: str  # the payload key naming what the event is about (the replay/duplicate key)
    fields: dict[str, str]  # payload key -> type: citizen_id | uscc | date | text | sex | kin
    required: tuple[str, ...]
    facts: dict[str, str]  # dictionary fact -> payload key: the answers an offer prefills
    departments: tuple[str, ...]  # the department systems that may post it


KINDS: dict[str, EventKind] = {
    kind.code: kind
    for kind in (
        EventKind(
            "birth_recorded",
            "出生登记",
            "Birth recorded",
            subject="cert_number",
            fields={
                "cert_number": "text",
                "child_name": "text",
                "sex": "sex",
                "birth_date": "date",
                "birth_place": "text",
                "hospital": "text",
                "mother_id_number": "citizen_id",
                "father_id_number": "citizen_id",
            },
            required=("cert_number", "birth_date", "mother_id_number"),
            facts={
                "child_birth_cert_number": "cert_number",
                "child_name": "child_name",
                "child_sex": "sex",
                "child_birth_date": "birth_date",
                "child_birth_place": "birth_place",
                "child_hospital": "hospital",
            },
            departments=("health",),
        ),
        EventKind(
            "retirement_due",
            "即将达到法定退休年龄",
            "Statutory retirement date within 90 days",
            subject="id_number",
            fields={"id_number": "citizen_id", "name": "text", "retirement_date": "date"},
            required=("id_number", "retirement_date"),
            facts={"retirement_date": "retirement_date"},
            departments=("hrss",),
        ),
        EventKind(
            "death_recorded",
            "死亡登记",
            "Death recorded",
            subject="id_number",
            fields={
                "id_number": "citizen_id",
                "name": "text",
                "death_date": "date",
                "cert_number": "text",
                "next_of_kin": "kin",
            },
            required=("id_number", "death_date", "next_of_kin"),
            facts={
                "deceased_id_number": "id_number",
                "deceased_name": "name",
                "deceased_death_date": "death_date",
                "deceased_death_cert_number": "cert_number",
            },
            departments=("health",),
        ),
        EventKind(
            "business_licensed",
            "营业执照核发",
            "Business licence granted",
            subject="uscc",
            fields={
                "uscc": "uscc",
                "name": "text",
                "owner_id_number": "citizen_id",
                "address": "text",
            },
            required=("uscc", "owner_id_number"),
            facts={"enterprise_name": "name", "premises_address": "address"},
            departments=("market",),
        ),
    )
}
# Fixed answers an event implies for the matter it offers (the retirement is the statutory one)
IMPLIED: dict[str, dict[str, Any]] = {"retirement_due": {"retirement_type": "statutory"}}
KIN_RELATIONS = ("spouse", "child", "parent", "sibling", "other")


def _bad(key: str, zh: str, en: str) -> InvalidInput:
    return InvalidInput(key, f"事件内容有误：{key}{zh}", f"Invalid event: {key} {en}")


def check_payload(kind_code: str, payload: Any) -> tuple[EventKind, dict[str, Any]]:
    """The kind and the payload, checked field by field by the kind's allow-list (InvalidInput
    naming the field otherwise): ID numbers and credit codes by their check digits, dates."""
    kind = KINDS.get(kind_code)
    if kind is None:
        raise InvalidInput(
            "kind",
            f"未知的事件类型（可用：{'、'.join(KINDS)}）",
            f"Unknown event kind (known: {', '.join(KINDS)})",
        )
    if not isinstance(payload, dict):
        raise _bad("payload", "须为对象", "must be an object")
    unknown = sorted(set(payload) - set(kind.fields))
    if unknown:
        raise _bad(str(unknown[0])[:64], "不是此类事件的内容", "is not a field of this kind")
    clean: dict[str, Any] = {}
    for key, kind_of in kind.fields.items():
        value = payload.get(key)
        if value in (None, "", []):
            if key in kind.required:
                raise _bad(key, "缺失", "is missing")
            continue
        clean[key] = _checked(key, kind_of, value)
    return kind, clean


def _checked(key: str, kind_of: str, value: Any) -> Any:
    if kind_of == "kin":
        if not isinstance(value, list) or not 1 <= len(value) <= 10:
            raise _bad(key, "须为1至10位近亲属", "must list 1 to 10 next of kin")
        kin = []
        for entry in value:
            if not isinstance(entry, dict) or entry.get("relation") not in KIN_RELATIONS:
                raise _bad(key, "的关系无效", "has an unknown relation")
            kin.append(
                {
                    "id_number": _checked(key, "citizen_id", entry.get("id_number")),
                    "relation": entry["relation"],
                }
            )
        return kin
    if not isinstance(value, str) or len(value) > MAX_TEXT or "\x00" in value:
        raise _bad(key, f"须为不超过{MAX_TEXT}字的文字", f"must be text of at most {MAX_TEXT}")
    try:
        if kind_of == "citizen_id":
            return check_citizen_id(value)
        if kind_of == "uscc":
            return check_uscc(value)
    except InvalidValue as exc:
        raise _bad(key, f"：{exc.message}", exc.message_en) from exc
    if kind_of == "date":
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError as exc:
            raise _bad(key, "须为日期（年-月-日）", "must be a date (YYYY-MM-DD)") from exc
    if kind_of == "sex" and value not in ("M", "F"):
        raise _bad(key, "须为M或F", "must be M or F")
    return value.strip()


def recipients(kind: EventKind, to: str, payload: dict[str, Any]) -> list[tuple[str, str]]:
    """(ID number, role) of each person the event offers a matter to (`to`: the matter's
    declared mapping), each once."""
    if to == "parents":
        found = [
            (payload.get("mother_id_number"), "mother"),
            (payload.get("father_id_number"), "father"),
        ]
    elif to == "person":
        found = [(payload.get("id_number"), "person")]
    elif to == "next_of_kin":
        found = [(k["id_number"], "next_of_kin") for k in payload.get("next_of_kin", [])]
    elif to == "owner":
        found = [(payload.get("owner_id_number"), "owner")]
    else:  # the catalog loader allows no other mapping
        raise ValueError(f"unknown mapping {to!r}")
    seen: dict[str, str] = {}
    for number, role in found:
        if number and number not in seen:
            seen[number] = role
    return list(seen.items())


def implied_answers(kind: EventKind, payload: dict[str, Any], id_number: str) -> dict[str, Any]:
    """The application's answers the event supplies for the person it is offered to."""
    answers = {fact: payload[key] for fact, key in kind.facts.items() if payload.get(key)}
    answers.update(IMPLIED.get(kind.code, {}))
    if kind.code == "death_recorded":
        relation = next(
            (k["relation"] for k in payload.get("next_of_kin", []) if k["id_number"] == id_number),
            None,
        )
        if relation:
            answers["applicant_relation_to_deceased"] = relation
    return answers


def left_empty(kind: EventKind, payload: dict[str, Any]) -> list[str]:
    """The facts the event names but could not fill (a child not named yet): to be asked."""
    return [fact for fact, key in kind.facts.items() if not payload.get(key)]


def describe(kind: EventKind, payload: dict[str, Any]) -> tuple[str, str]:
    """Why the state offers it, in words (Chinese, English); no personal numbers."""
    if kind.code == "birth_recorded":
        where = payload.get("hospital", "")
        return (
            f"{where}已于{payload['birth_date']}登记孩子出生（出生医学证明已签发）",
            f"{where} recorded your child's birth on {payload['birth_date']} "
            "(birth certificate issued)",
        )
    if kind.code == "retirement_due":
        return (
            f"根据户籍和社保登记，您将于{payload['retirement_date']}达到法定退休年龄",
            "From the population and social-insurance registries, you reach the statutory "
            f"retirement age on {payload['retirement_date']}",
        )
    if kind.code == "death_recorded":
        name = payload.get("name", "")
        return (
            f"{name}的死亡已于{payload['death_date']}登记，您是登记的近亲属，谨致哀悼",
            f"The death of {name} was recorded on {payload['death_date']}; you are named as "
            "next of kin. Our condolences",
        )
    name = payload.get("name", "")
    return (
        f"您作为法定代表人的{name}已领取营业执照",
        f"{name}, of which you are the legal representative, was granted its business licence",
    )
