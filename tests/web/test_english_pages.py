"""Every page a citizen reads, in English (?lang=en, then the cookie), for a newborn case that
every department approved, a retirement case and a convenience-store case: no Chinese is left
but what people and registries wrote (names, addresses, company names, typed answers) and the
link back to Chinese. Catalog names (matters, items, departments, facts, options, registries)
come from the catalog's own English; the history's sentences are read in English."""

from __future__ import annotations

import html
import re
from datetime import date
from pathlib import Path
from xml.etree import ElementTree

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from forms.catalog import default_catalog
from services.accounts.models import User
from services.cases.models import Case, CaseItem
from services.certificates.models import Certificate
from services.certificates.service import mask_name
from services.registries.records import RegistryUnavailable
from tests.browser.test_editor_browser import approve_all
from tests.services.test_case_path import submit
from tests.web.conftest import MOTHER, Browser
from web.i18n import event_message, notification_text

RETIREE = "310107196607150399"  # 孙国强
CONVENIENCE = "310107198008080615"  # 徐海波
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]+")
# The header's link to the Chinese pages is in Chinese on purpose (lang="zh-CN").
CHINESE_LINK = re.compile(r'<a href="\?lang=zh" lang="zh-CN">中文</a>')
NOT_TEXT = re.compile(r"<script.*?</script>|<style.*?</style>|<!--.*?-->", re.S)
TAG = re.compile(r"<[^>]+>")
DMN = "{https://www.omg.org/spec/DMN/20191111/MODEL/}"


def written_by_people(rt) -> set[str]:
    """The words people and registries wrote: every account's name, every case's answers and
    registry values, clerks' comments, certificate holders' masked names."""
    found: set[str] = set()
    with Session(rt.db) as session:
        found |= {user.display_name for user in session.exec(select(User))}
        for case in session.exec(select(Case)):
            found.add(case.applicant_name or "")
            found |= {str(v) for v in case.data.values() if isinstance(v, str)}
        found |= {row.comment or "" for row in session.exec(select(CaseItem))}
        # a certificate's holder, masked on the public verify page (张*涵)
        found |= {mask_name(c.holder_name) for c in session.exec(select(Certificate))}
    return {text for text in found if CJK.search(text)}


def chinese_left(page: str, typed: set[str]) -> list[str]:
    text = html.unescape(TAG.sub(" ", NOT_TEXT.sub(" ", CHINESE_LINK.sub(" ", page))))
    attributes = " ".join(re.findall(r'(?:title|aria-label|alt|value|data-label)="([^"]*)"', page))
    text += " " + html.unescape(attributes)
    for words in sorted(typed, key=len, reverse=True):
        text = text.replace(words, " ")
    return sorted(set(CJK.findall(text)))


def test_every_citizen_page_reads_in_english(rt, user_of, browser, app):
    newborn = submit(rt, user_of, "newborn", "mother")
    approve_all(rt, newborn)
    retirement = submit(rt, user_of, "retirement", "applicant")
    store = submit(rt, user_of, "convenience_store", "applicant")
    pages = {
        MOTHER: [
            "/",
            "/cases",
            f"/cases/{newborn}",
            f"/cases/{newborn}/evaluation",
            "/my-data-access",
            "/inbox",
            "/matters/newborn/apply",
            "/cases/99999999",
        ],
        RETIREE: ["/", "/cases", f"/cases/{retirement}", "/matters/retirement/apply"],
        CONVENIENCE: ["/cases", f"/cases/{store}", "/matters/convenience_store/apply"],
    }
    typed = written_by_people(rt)
    left = {}
    for username, paths in pages.items():
        citizen: Browser = browser(username)
        assert 'lang="en"' in citizen.get("/?lang=en").text  # the cookie keeps the choice
        for path in paths:
            found = chinese_left(citizen.get(path).text, typed)
            if found:
                left[f"{username} {path}"] = found
    with Session(rt.db) as session:
        first = session.exec(
            select(CaseItem).where(CaseItem.case_id == newborn).order_by(CaseItem.id)
        ).first()
    browser(MOTHER).get(f"/cases/{newborn}/items/{first.id}/result")  # issues the certificate
    with Session(rt.db) as session:
        certificate = session.exec(
            select(Certificate).where(Certificate.case_item_id == first.id)
        ).one()
    typed = written_by_people(rt)
    with TestClient(app) as anonymous:  # before signing in
        for path in ("/?lang=en", "/login?lang=en", f"/verify/{certificate.public_id}?lang=en"):
            found = chinese_left(anonymous.get(path).text, typed)
            if found:
                left[f"anonymous {path}"] = found
    assert not left, left


def test_the_history_reads_in_english_with_the_catalogs_names(rt, user_of, browser):
    case_id = submit(rt, user_of, "retirement", "applicant")
    citizen: Browser = browser(RETIREE)
    page = citizen.get(f"/cases/{case_id}?lang=en").text
    pension = rt.catalog.items["hrss_pension_claim"]
    hrss = rt.catalog.departments[pension.department]
    matter = rt.catalog.matters["retirement"]
    assert f"Sent to {hrss.name_en}: {pension.name_en}" in html.unescape(page)
    assert f"Applied for “{matter.name_en}” with one form, case number" in html.unescape(page)
    chinese = citizen.get(f"/cases/{case_id}?lang=zh").text
    assert f"已分送{hrss.name}：{pension.name}" in chinese


def _history(page: str) -> str:
    """The text of a page's history section."""
    section = re.search(
        r'<section class="panel" aria-labelledby="history-title">.*?</section>', page, re.S
    )
    return html.unescape(TAG.sub(" ", section.group(0)))


def test_the_clerks_task_page_reads_its_history_in_english(rt, user_of, browser):
    """Claim, release and reassign, then the history and the legal basis on the task page."""
    case_id = submit(rt, user_of, "newborn", "mother")
    with Session(rt.db) as session:
        rows = session.exec(select(CaseItem).where(CaseItem.case_id == case_id)).all()
    task = next(row for row in rows if row.item_code == "police_birth_registration")
    clerk, lead = browser("police01"), browser("police-lead")
    clerk.get("/clerk"), lead.get("/clerk")  # each page's form carries the CSRF token
    assert clerk.post(f"/clerk/items/{task.id}/claim", data={}).status_code == 303
    assert clerk.post(f"/clerk/items/{task.id}/release", data={}).status_code == 303
    to = str(user_of("police02").id)
    assert lead.post(f"/clerk/items/{task.id}/reassign", data={"to_user_id": to}).status_code == 303
    page = clerk.get(f"/clerk/items/{task.id}?lang=en").text
    history = _history(page)
    item = rt.catalog.items["police_birth_registration"]
    police = rt.catalog.departments[item.department]
    for english in (
        f"Sent to {police.name_en}: {item.name_en}",
        "Claimed the task (police_birth_registration)",
        "Released the task (police_birth_registration)",
        "Reassigned the task (police_birth_registration) to ",
    ):
        assert english in history, english
    assert chinese_left(history, written_by_people(rt)) == []
    assert f"Legal basis: {item.legal_basis_en}" in html.unescape(page)
    chinese = _history(clerk.get(f"/clerk/items/{task.id}?lang=zh").text)
    assert "认领待办（police_birth_registration）" in chinese  # stored, and shown, in Chinese


def test_every_step_sentence_reads_in_english():
    """Each sentence the case service writes into a history, in English; words people wrote
    (names, a department system's error, a resolution) stay as written, an unknown sentence
    too. The sentences are built as services/cases and services/evaluations write them."""
    catalog = default_catalog()
    item = catalog.items["police_birth_registration"]
    police = catalog.departments[item.department]
    fact = catalog.facts["father_id_number"]
    material = item.materials[0]
    unavailable = RegistryUnavailable("population").message
    misconfigured = RegistryUnavailable("marriage", reason="configuration").message
    step = item.name_en
    cases = {
        f"请补正：{item.name}": f"A correction is needed: {step}",
        f"补正材料已提交，{police.name}继续办理：{item.name}": (
            f"The correction is in: {police.name_en} goes on with {step}"
        ),
        f"提交补正：{item.name}（修改：{fact.label}；重新上传：{material.name}）": (
            f"Submitted a correction: {step} (changed: {fact.label_en}; "
            f"uploaded again: {material.name_en})"
        ),
        f"提交补正：{item.name}": f"Submitted a correction: {step}",
        f"{police.name}办理“{item.name}”临近办结时限": (
            f"{police.name_en} is close to the time limit for “{step}”"
        ),
        f"{unavailable}（相关信息由申请人填写或上传）": (
            "The Population registry was temporarily unavailable: the applicant filled in or "
            "uploaded the details"
        ),
        f"{misconfigured}（相关信息由申请人填写或上传）": (
            "The Marriage registry was temporarily unavailable (the data-exchange platform's "
            "connection configuration is wrong): the applicant filled in or uploaded the details"
        ),
        "认领待办（police_birth_registration）": "Claimed the task (police_birth_registration)",
        "释放待办（police_birth_registration）": "Released the task (police_birth_registration)",
        "释放待办（police_birth_registration）（原认领人：王警官）": (
            "Released the task (police_birth_registration) (held by 王警官)"
        ),
        "释放待办（police_birth_registration）：原认领人王警官账号已停用": (
            "Released the task (police_birth_registration): held by 王警官, whose account was "
            "disabled"
        ),
        "释放待办（police_birth_registration）：原认领人王警官已调离本部门": (
            "Released the task (police_birth_registration): held by 王警官, who moved to another "
            "department"
        ),
        "将待办（police_birth_registration）改派给李警官（原认领人：王警官）": (
            "Reassigned the task (police_birth_registration) to 李警官 (held by 王警官)"
        ),
        "部门业务系统处理失败，已转人工：接口超时": (
            "The department's system failed; a clerk takes over: 接口超时"
        ),
        "故障已处理，任务重新交部门业务系统办理": (
            "The incident was resolved: the task goes back to the department's system"
        ),
        "故障已批量处理，任务重新交部门业务系统办理": (
            "Incidents retried in bulk: the task goes back to the department's system"
        ),
        "故障已批量处理，到期提醒重新执行": (
            "Incidents retried in bulk: the deadline reminder runs again"
        ),
        "故障已批量标记为已解决，任务重新交部门业务系统办理：系统已恢复": (
            "The incident was resolved; the task goes back to the department's system: 系统已恢复"
        ),
        "流程故障已标记为已解决：流程已修正": "The process incident was resolved: 流程已修正",
        "到期提醒未能执行，已标记为已解决，不再提醒：已过时": (
            "A deadline reminder could not run; resolved, it is not sent: 已过时"
        ),
        "办理结果已寄出，快递单号SF1234567890": "The results: shipped, tracking number SF1234567890",
        "办理结果已签收": "The results: delivered",
        "申请人评价：非常满意（一次办好、流程简便）": (
            "The applicant's rating: Very satisfied (Done in one go, Simple process)"
        ),
        "申请人评价：不满意": "The applicant's rating: Dissatisfied",
        f"{police.name}已核实整改并回访申请人：已电话回访": (
            f"{police.name_en} looked into it, put it right and called the applicant back: "
            "已电话回访"
        ),
        "某个未知的句子": "某个未知的句子",
    }
    for chinese, english in cases.items():
        assert event_message(chinese, catalog, "en") == english
        assert event_message(chinese, catalog, "zh") == chinese


def _findings(dmn: Path) -> list[str]:
    """The `check_finding` output expression of each rule of a decision table."""
    found = []
    for table in ElementTree.parse(dmn).iter(f"{DMN}decisionTable"):
        outputs = [o.get("name") for o in table.iter(f"{DMN}output")]
        if "check_finding" not in outputs:
            continue
        at = outputs.index("check_finding")
        for rule in table.iter(f"{DMN}rule"):
            found.append(list(rule.iter(f"{DMN}outputEntry"))[at].findtext(f"{DMN}text"))
    return found


def test_every_automatic_check_finding_reads_in_english():
    """Each finding the shipped decision tables give the clerk, computed from its expression
    with a case's values, reads in English on an English page."""
    values = {
        "pension_contribution_months": 182,
        "retirement_date": date(2026, 7, 15),
        "applicant_statutory_retirement_date": date(2026, 7, 15),
    }
    catalog = default_catalog()
    findings = []
    for dmn in sorted((Path(__file__).parents[2] / "bpmn").glob("*.dmn")):
        # the shipped tables' own output expressions (string concatenation), as the engine
        # evaluates them
        findings += [eval(text, {"str": str}, dict(values)) for text in _findings(dmn)]
    assert len(findings) >= 6
    for finding in findings:
        english = event_message(finding, catalog, "en")
        assert english != finding and not CJK.search(english), english
    assert "182 months of contributions" in event_message(
        "累计缴费182个月，不足15年：请告知申请人可延长缴费至满15年或转入城乡居民养老保险",
        catalog,
        "en",
    )


def test_the_supervisors_and_the_applicants_inbox_notes_read_in_english():
    """The inbox texts the services write beside a case's history (an escalation, a bad
    review to follow up, a follow-up handled), as they write them."""
    catalog = default_catalog()
    item = catalog.items["police_birth_registration"]
    police = catalog.departments[item.department]
    notes = {
        f"{item.name}已超过{item.time_limit_days}个工作日的法定时限，请督办。": (
            f"“{item.name_en}” is past its statutory time limit of {item.time_limit_days} "
            "working days: please see to it"
        ),
        "办件YJS2026000001收到“不满意”评价（服务态度差、办理时间长），"
        "请于2026-12-14前核实整改并回访申请人": (
            "Case YJS2026000001 was rated “Dissatisfied” (Poor service attitude, Took too "
            "long): look into it, put it right and call the applicant back by 2026-12-14"
        ),
        f"{police.name}已处理您对办件YJS2026000001的评价：已电话回访": (
            f"{police.name_en} has dealt with your rating of case YJS2026000001: 已电话回访"
        ),
    }
    for chinese, english in notes.items():
        assert notification_text(chinese, catalog, "en") == english
        assert notification_text(chinese, catalog, "zh") == chinese
