"""Language choice: Simplified Chinese first, English on request (cookie `lang`); and the
visitor's other display preference, the elderly-friendly mode (长辈版, cookie `elderly`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import Request

LANGUAGES = ("zh", "en")
# The elderly-friendly mode is kept in the browser, for a year: a display choice of the person
# at this browser (also before signing in), not of an account, so no column holds it.
ELDERLY_COOKIE = "elderly"
PREFERENCE_SECONDS = 365 * 86400


def language(request: Request) -> str:
    lang = request.query_params.get("lang") or request.cookies.get("lang") or "zh"
    return lang if lang in LANGUAGES else "zh"


def elderly_mode(request: Request) -> bool:
    """Whether the visitor switched the elderly-friendly mode on (larger type, more contrast)."""
    return request.cookies.get(ELDERLY_COOKIE) == "1"


def translator(lang: str):
    """`t(zh, en)` picks the text of the current language; English falls back to Chinese."""

    def t(zh: str, en: str | None = None) -> str:
        return en if lang == "en" and en else zh

    return t


# A catalog object's name in each language: its Chinese attribute and the English twin.
_NAMES = (("name", "name_en"), ("label", "label_en"))


def localized(thing: Any, lang: str) -> str:
    """The name of a catalog object (department, matter, item, fact, option, material) in
    `lang`, from the catalog's own bilingual fields; the Chinese name when it has no English."""
    for zh, en in _NAMES:
        if hasattr(thing, zh):
            chinese = getattr(thing, zh)
            return (getattr(thing, en, None) or chinese) if lang == "en" else chinese
    return str(thing)


def option_label(fact: Any, value: object, lang: str) -> str:
    """The label of a choice fact's chosen value in `lang` (the value itself when unknown)."""
    for option in getattr(fact, "options", ()):
        if option.value == value:
            return localized(option, lang)
    return "" if value is None else str(value)


# A case's history and the data-access log are stored in Chinese, one sentence per event
# (services/cases/routing.py, decisions.py, submission.py, access.py). English readers get the
# sentences of the known shapes with the catalog's own English names; any other sentence is
# shown as it was written.
_VERDICTS = {"办结": "approved", "不予办理": "refused", "退回补正": "returned for correction"}


def _names(things) -> dict[str, str]:
    return {thing.name: (thing.name_en or thing.name) for thing in things}


def _one_of(names: dict[str, str]) -> str:
    """A regular-expression group matching any of the names, the longest first."""
    return "(" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)) + ")"


_SHAPES: dict[int, tuple[Any, list]] = {}  # per catalog (the runtime's, kept while it lives)


def _event_shapes(catalog: Any) -> list[tuple[re.Pattern[str], Callable[..., str]]]:
    kept = _SHAPES.get(id(catalog))
    if kept is not None and kept[0] is catalog:
        return kept[1]
    shapes = _shapes_of(catalog)
    if len(_SHAPES) > 8:
        _SHAPES.clear()
    _SHAPES[id(catalog)] = (catalog, shapes)
    return shapes


def _shapes_of(catalog: Any) -> list[tuple[re.Pattern[str], Callable[..., str]]]:
    departments = _names(catalog.departments.values())
    items = _names(catalog.items.values())
    matters = _names(catalog.matters.values())
    facts = {fact.label: (fact.label_en or fact.label) for fact in catalog.facts.values()}
    dept, item, matter = _one_of(departments), _one_of(items), _one_of(matters)
    return [
        (
            re.compile(rf"提交《{matter}》一表申请，办件编号(\S+)"),
            lambda m, n: f"Applied for “{matters[m]}” with one form, case number {n}",
        ),
        (
            re.compile(rf"综合窗口受理《{matter}》一表申请（(.+)），办件编号(\S+)"),
            lambda m, who, n: f"“{matters[m]}” accepted at the front desk ({who}), case number {n}",
        ),
        (
            re.compile(rf"已分送{dept}：{item}"),
            lambda d, i: f"Sent to {departments[d]}: {items[i]}",
        ),
        (
            re.compile(rf"{dept}自动核验通过，即时办结（秒批）：{item}"),
            lambda d, i: (
                f"{departments[d]} checked it automatically and approved it at once: {items[i]}"
            ),
        ),
        (
            re.compile(rf"{dept}(办结|不予办理|退回补正)：{item}(?:（(.*)）)?"),
            lambda d, v, i, note: (
                f"{departments[d]} {_VERDICTS[v]}: {items[i]}" + (f" ({note})" if note else "")
            ),
        ),
        (
            re.compile(rf"{dept}办理“{item}”已超过法定时限，已提请科室负责人督办"),
            lambda d, i: (
                f"{departments[d]} passed the time limit for “{items[i]}”: "
                "referred to the section head"
            ),
        ),
        (
            re.compile("全部事项办结，统一出件"),
            lambda: "Every item is done: the results are issued",
        ),
        # why a registry record or a case was read (the data-access log, services/cases/access.py)
        (
            re.compile(rf"预填《{matter}》申请表"),
            lambda m: f"To prefill the “{matters[m]}” form",
        ),
        (
            re.compile(rf"(.+)审核办件（{item}）"),
            lambda who, i: f"{who} reviewed the case ({items[i]})",
        ),
        (
            re.compile(rf"(.+)查看完整号码（(.+)，{item}）：(.*)"),
            lambda who, fact, i, why: (
                f"{who} looked at the full number ({facts.get(fact, fact)}, {items[i]}): {why}"
            ),
        ),
        (
            re.compile("综合窗口核验到场申请人身份"),
            lambda: "The front desk checked the applicant's identity",
        ),
    ]


def event_message(message: str, catalog: Any, lang: str) -> str:
    """A history sentence in `lang`: English for the known shapes, else as written."""
    if lang != "en":
        return message
    for shape, english in _event_shapes(catalog):
        found = shape.fullmatch(message)
        if found:
            return english(*found.groups())
    return message


def notification_text(body: str, catalog: Any, lang: str) -> str:
    """An inbox message's text in `lang` (services/notifications/case_notifications.py writes
    "办件<number>：<history sentence>", then "欢迎对本次服务进行评价" or the items approved at
    once and routed): English for the known sentences, else as written."""
    if lang != "en":
        return body
    prefix = ""
    numbered = re.match(r"办件(\S+?)：", body)
    if numbered:
        prefix, body = f"Case {numbered.group(1)}: ", body[numbered.end() :]
    return prefix + ". ".join(
        _sentence(part, catalog) for part in body.rstrip("。").split("。") if part
    )


def _sentence(part: str, catalog: Any) -> str:
    lists = {"即时办结（秒批）：": "Approved at once: ", "已分送：": "Sent to: "}
    for zh, en in lists.items():
        if part.startswith(zh):
            return en + "; ".join(_department_item(e, catalog) for e in part[len(zh) :].split("；"))
    if part == "欢迎对本次服务进行评价":
        return "Please rate the service"
    return event_message(part, catalog, "en")


def _department_item(entry: str, catalog: Any) -> str:
    """ "<department>（<item>）" with the catalog's English names."""
    for item in catalog.items.values():
        department = catalog.departments.get(item.department)
        if department and entry == f"{department.name}（{item.name}）":
            return f"{department.name_en or department.name} ({item.name_en or item.name})"
    return entry
