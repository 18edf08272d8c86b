"""Every page a citizen reads, in English (?lang=en, then the cookie), for a newborn case that
every department approved, a retirement case and a convenience-store case: no Chinese is left
but what people and registries wrote (names, addresses, company names, typed answers) and the
link back to Chinese. Catalog names (matters, items, departments, facts, options, registries)
come from the catalog's own English; the history's sentences are read in English."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from services.accounts.models import User
from services.cases.models import Case, CaseItem
from services.certificates.models import Certificate
from services.certificates.service import mask_name
from tests.browser.test_editor_browser import approve_all
from tests.services.test_case_path import submit
from tests.web.conftest import MOTHER, Browser

RETIREE = "310107196607150399"  # 孙国强
CONVENIENCE = "310107198008080615"  # 徐海波
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]+")
# The header's link to the Chinese pages is in Chinese on purpose (lang="zh-CN").
CHINESE_LINK = re.compile(r'<a href="\?lang=zh" lang="zh-CN">中文</a>')
NOT_TEXT = re.compile(r"<script.*?</script>|<style.*?</style>|<!--.*?-->", re.S)
TAG = re.compile(r"<[^>]+>")


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
