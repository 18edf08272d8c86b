"""Language choice: Simplified Chinese first, English on request (cookie `lang`); and the
visitor's other display preference, the elderly-friendly mode (长辈版, cookie `elderly`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import Request

from forms.sources import REGISTRIES
from services.cases.results import DELIVERY_STATUS
from services.evaluations.service import LEVELS, REASON_LABELS

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
# (services/cases/routing.py, decisions.py, submission.py, corrections.py, workbench.py,
# results.py, external.py, access.py, services/evaluations/service.py), and so are the automatic
# checks' findings (bpmn/*.dmn, `check_finding`). English readers get the sentences of the known
# shapes with the catalog's own English names; any other sentence is shown as it was written,
# and so are the words people wrote in one (names, comments, a department system's error).
_VERDICTS = {"办结": "approved", "不予办理": "refused", "退回补正": "returned for correction"}
_RELEASED_WHY = {
    "账号已停用": "whose account was disabled",
    "已调离本部门": "who moved to another department",
}
_DEGRADED_WHY = "（数据共享交换平台的接入配置有误）"
_DELIVERY = {zh: en.lower() for zh, en in DELIVERY_STATUS.values()}
_LEVELS = dict(LEVELS.values())
_REASONS = dict(REASON_LABELS.values())
_REGISTRIES = dict(REGISTRIES.values())


def _names(things) -> dict[str, str]:
    return {thing.name: (thing.name_en or thing.name) for thing in things}


def _listed(text: str, names: dict[str, str]) -> str:
    """A "、"-separated list of names in English (a name not in `names` as written)."""
    return ", ".join(names.get(name, name) for name in text.split("、"))


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
        *_step_shapes(catalog, departments, items, facts),
        *_FINDINGS,
    ]


def _step_shapes(
    catalog: Any, departments: dict[str, str], items: dict[str, str], facts: dict[str, str]
) -> list[tuple[re.Pattern[str], Callable[..., str]]]:
    """The sentences of a case's steps after routing: corrections, deadlines, claims, the
    department systems' incidents, delivery and the applicant's rating."""
    dept, item = _one_of(departments), _one_of(items)
    materials = {it.name: _names(it.materials) for it in catalog.items.values()}

    def corrected(name: str, detail: str | None) -> str:
        changes = []
        for part in (detail or "").split("；"):
            if part.startswith("修改："):
                changes.append("changed: " + _listed(part[3:], facts))
            elif part.startswith("重新上传："):
                changes.append("uploaded again: " + _listed(part[5:], materials.get(name, {})))
            elif part:
                changes.append(part)
        return f"Submitted a correction: {items[name]}" + (
            f" ({'; '.join(changes)})" if changes else ""
        )

    return [
        (
            re.compile(rf"请补正：{item}"),
            lambda i: f"A correction is needed: {items[i]}",
        ),
        (
            re.compile(rf"补正材料已提交，{dept}继续办理：{item}"),
            lambda d, i: f"The correction is in: {departments[d]} goes on with {items[i]}",
        ),
        (re.compile(rf"提交补正：{item}(?:（(.+)）)?"), corrected),
        (
            re.compile(rf"{dept}办理“{item}”临近办结时限"),
            lambda d, i: f"{departments[d]} is close to the time limit for “{items[i]}”",
        ),
        (
            re.compile(
                f"{_one_of(_REGISTRIES)}暂时无法访问({re.escape(_DEGRADED_WHY)})?，"
                "请手动填写相关信息。（相关信息由申请人填写或上传）"
            ),
            lambda r, why: (
                f"The {_REGISTRIES[r]} was temporarily unavailable"
                + (
                    " (the data-exchange platform's connection configuration is wrong)"
                    if why
                    else ""
                )
                + ": the applicant filled in or uploaded the details"
            ),
        ),
        # a clerk's queue (services/cases/workbench.py): the task is named by its item code
        (
            re.compile(r"认领待办（(\w+)）"),
            lambda code: f"Claimed the task ({code})",
        ),
        (
            re.compile(r"释放待办（(\w+)）(?:（原认领人：(.+)）)?"),
            lambda code, who: f"Released the task ({code})" + (f" (held by {who})" if who else ""),
        ),
        (
            re.compile(rf"释放待办（(\w+)）：原认领人(.+?){_one_of(_RELEASED_WHY)}"),
            lambda code, who, why: (
                f"Released the task ({code}): held by {who}, {_RELEASED_WHY[why]}"
            ),
        ),
        (
            re.compile(r"将待办（(\w+)）改派给(.+?)(?:（原认领人：(.+)）)?"),
            lambda code, to, who: (
                f"Reassigned the task ({code}) to {to}" + (f" (held by {who})" if who else "")
            ),
        ),
        # a department's own system (services/cases/external.py): its error is as it wrote it
        (
            re.compile(r"部门业务系统处理失败，已转人工：(.*)", re.S),
            lambda error: f"The department's system failed; a clerk takes over: {error}",
        ),
        (
            re.compile("故障已处理，任务重新交部门业务系统办理"),
            lambda: "The incident was resolved: the task goes back to the department's system",
        ),
        # an operator's retry or resolve of a group of incidents (services/operations.py)
        (
            re.compile("故障已批量处理，任务重新交部门业务系统办理"),
            lambda: "Incidents retried in bulk: the task goes back to the department's system",
        ),
        (
            re.compile("故障已批量处理，到期提醒重新执行"),
            lambda: "Incidents retried in bulk: the deadline reminder runs again",
        ),
        (
            re.compile("故障已批量标记为已解决，任务重新交部门业务系统办理：(.*)", re.S),
            lambda why: (
                f"The incident was resolved; the task goes back to the department's system: {why}"
            ),
        ),
        (
            re.compile("流程故障已标记为已解决：(.*)", re.S),
            lambda why: f"The process incident was resolved: {why}",
        ),
        (
            re.compile("到期提醒未能执行，已标记为已解决，不再提醒：(.*)", re.S),
            lambda why: f"A deadline reminder could not run; resolved, it is not sent: {why}",
        ),
        (
            re.compile(rf"办理结果{_one_of(_DELIVERY)}(?:，快递单号(\S+))?"),
            lambda status, number: (
                f"The results: {_DELIVERY[status]}"
                + (f", tracking number {number}" if number else "")
            ),
        ),
        (
            re.compile(rf"申请人评价：{_one_of(_LEVELS)}(?:（(.+)）)?"),
            lambda level, reasons: (
                f"The applicant's rating: {_LEVELS[level]}"
                + (f" ({_listed(reasons, _REASONS)})" if reasons else "")
            ),
        ),
        # what supervisors and the applicant read in their inbox (services/cases/routing.py,
        # services/evaluations/service.py)
        (
            re.compile(rf"{item}已超过(\d+)个工作日的法定时限，请督办"),
            lambda i, days: (
                f"“{items[i]}” is past its statutory time limit of {days} working days: "
                "please see to it"
            ),
        ),
        (
            re.compile(
                rf"办件(\S+?)收到“{_one_of(_LEVELS)}”评价(?:（(.+)）)?，"
                r"请于(\S+)前核实整改并回访申请人"
            ),
            lambda number, level, reasons, due: (
                f"Case {number} was rated “{_LEVELS[level]}”"
                + (f" ({_listed(reasons, _REASONS)})" if reasons else "")
                + f": look into it, put it right and call the applicant back by {due}"
            ),
        ),
        (
            re.compile(rf"{dept}已处理您对办件(\S+?)的评价：(.*)", re.S),
            lambda d, number, what: (
                f"{departments[d]} has dealt with your rating of case {number}: {what}"
            ),
        ),
        (
            re.compile(rf"{dept}已核实整改并回访申请人：(.*)", re.S),
            lambda d, what: (
                f"{departments[d]} looked into it, put it right and called the applicant back: "
                + what
            ),
        ),
    ]


# The automatic checks' findings (bpmn/newborn.dmn, bpmn/retirement.dmn), for the clerk.
_FINDINGS: list[tuple[re.Pattern[str], Callable[..., str]]] = [
    (
        re.compile("出生医学证明已通过电子证照库核验，落户方已确定，参保登记即时办结"),
        lambda: (
            "The birth medical certificate was verified in the e-certificate library and the "
            "household the child joins is known: the insurance enrollment is approved at once"
        ),
    ),
    (
        re.compile("出生医学证明未能通过电子证照库核验，请核对申请人上传或填写的出生信息"),
        lambda: (
            "The birth medical certificate could not be verified in the e-certificate library: "
            "check the birth details the applicant uploaded or entered"
        ),
    ),
    (
        re.compile("落户方未确定，请人工核对"),
        lambda: "The household the child joins is not settled: check it by hand",
    ),
    (
        re.compile(
            r"累计缴费(\S+?)个月，满15年；退休日期(\S+?)已达法定退休年龄（(\S+?)）。"
            "符合按月领取基本养老金条件，请审核档案后核定待遇"
        ),
        lambda months, retiring, statutory: (
            f"{months} months of contributions, 15 years or more; the retirement date {retiring} "
            f"reaches the statutory retirement age ({statutory}). Eligible for a monthly basic "
            "pension: review the file, then set the pension"
        ),
    ),
    (
        re.compile(
            r"累计缴费满15年，但退休日期早于法定退休日期（(\S+?)）："
            "请核实弹性提前退休、特殊工种或病退条件"
        ),
        lambda statutory: (
            "15 years of contributions or more, but the retirement date is before the statutory "
            f"retirement date ({statutory}): check the conditions for flexible early retirement, "
            "special types of work or retirement on health grounds"
        ),
    ),
    (
        re.compile(
            r"累计缴费(\S+?)个月，不足15年："
            "请告知申请人可延长缴费至满15年或转入城乡居民养老保险"
        ),
        lambda months: (
            f"{months} months of contributions, less than 15 years: tell the applicant they may "
            "keep contributing until 15 years or move to the urban and rural residents' pension "
            "insurance"
        ),
    ),
]


def event_message(message: str, catalog: Any, lang: str) -> str:
    """A history sentence, or an automatic check's finding, in `lang`: English for the known
    shapes, else as written."""
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
