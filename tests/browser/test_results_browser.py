"""Results with substance and corrections seen by both sides, in a real browser, for the
retirement and convenience-store matters (the newborn's are in test_newborn_browser.py and
test_correction_browser.py): each department's clerk fills the result data its task page asks
for and approves; the applicant's case page shows the data under each result, and each
downloaded PDF is the item's own document, naming its holder, carrying the recorded data, issued
under the department's full name and named by its document type. A clerk sends the licence back
for correction; the applicant changes a fact and uploads the material; both sides see it."""

from __future__ import annotations

import io
import random
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from pypdf import PdfReader
from sqlmodel import Session, select

from examples.department_worker import credit_code
from forms.values import mask_id
from services.cases.models import Case, CaseItem
from services.cases.result_data import result_rows
from tests.browser.test_correction_browser import RETIREE, queue_row, send_back
from tests.browser.test_lifecycle_browser import open_task
from tests.browser.test_newborn_browser import approve, chromium, server, sign_in  # noqa: F401
from tests.forms.test_matters import APPLICATIONS
from tests.services.test_case_path import submit

pytestmark = pytest.mark.browser
SHOPKEEPER = "310107198008080615"  # 徐海波, who opens the convenience store
LICENCE_USCC = credit_code(random.Random(19))  # the credit code `approve` fills in
RETIREMENT_DEPARTMENTS = ["hrss", "medical", "housing_fund"]
STORE_DEPARTMENTS = ["market", "tax", "police", "bank", "hrss", "housing_fund"]
ROUTED = {(a[0], a[1]): a[3] for a in APPLICATIONS}  # the items each demo application gets


def _case(rt, case_id: int) -> Case:
    with Session(rt.db) as session:
        case = session.get(Case, case_id)
        session.expunge(case)
        return case


def _approved(rt, case_id: int) -> dict[str, CaseItem]:
    with Session(rt.db) as session:
        rows = session.exec(
            select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.status == "approved")
        ).all()
        for row in rows:
            session.expunge(row)
        return {row.item_code: row for row in rows}


def approve_in_browser(chromium, base: str, rt, case_id: int, departments: list[str]) -> None:  # noqa: F811
    """Each department's clerk opens the case's tasks from the queue and approves them with the
    result data the page asks for, round after round until the case is completed."""
    clerks = {code: sign_in(chromium, base, f"{code}01") for code in departments}
    number = _case(rt, case_id).number
    for _round in range(4):
        for clerk in clerks.values():
            clerk.goto(f"{base}/clerk")
            link = clerk.locator(f"#queue tr[data-case='{number}'] a")
            while link.count():
                link.first.click()
                clerk.wait_for_selector("#decide-title")
                clerk.fill("#comment", "材料齐全，准予办理")
                approve(clerk)
                clerk.goto(f"{base}/clerk")
        if _case(rt, case_id).status == "completed":
            break
    for clerk in clerks.values():
        clerk.context.close()
    assert _case(rt, case_id).status == "completed"


def answer_correction(
    applicant, facts: dict[str, str], materials: dict[str, Path], note: str
) -> None:
    """Answer the open correction on the case page: the reopened facts typed again, the
    reopened materials uploaded, a note; then wait until the case is back with the clerks."""
    form = applicant.locator("section[id^=correction-]")
    for key, value in facts.items():
        form.locator(f"#f_{key}").fill(value)
    for code, scan in materials.items():
        applicant.set_input_files(f"#material-{code}", str(scan))
    form.locator("textarea[name=correction_note]").fill(note)
    applicant.click("button[id^=submit-correction-]")
    applicant.wait_for_selector("#case-status[data-status=processing]")


def _pdf_text(pdf: bytes) -> str:
    return re.sub(r"\s+", "", "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages))


def check_results(citizen, base: str, rt, case_id: int) -> dict[str, str]:
    """On the applicant's case page: every approved item shows the data its clerk recorded and
    downloads its own document (issued under the department's full name, carrying that data,
    named by the document type). The PDFs' text by item code."""
    citizen.goto(f"{base}/cases/{case_id}")
    assert citizen.get_attribute("#case-status", "data-status") == "completed"
    case = _case(rt, case_id)
    number = case.number
    texts = {}
    for code, row in _approved(rt, case_id).items():
        item = rt.catalog.items[code]
        line = citizen.locator(f"#items tr[data-item={code}]")
        rows = result_rows(item, row.result_data)
        assert len(rows) == len(item.results)  # every field recorded
        for shown in rows:
            assert line.locator(f"[data-result={shown.key}] dd").inner_text() == shown.value
        link = line.locator("a[href*='/result']")
        response = citizen.request.get(base + link.get_attribute("href"))
        assert response.ok and response.headers["content-type"] == "application/pdf"
        disposition = response.headers["content-disposition"]
        name = unquote(disposition.split("filename*=UTF-8''")[1])
        assert name.startswith(f"{item.document}-{number}-") and name.endswith(".pdf")
        text = _pdf_text(response.body())
        issuer = rt.catalog.departments[item.department].full_name
        assert issuer.startswith(("示范市", "国家税务总局示范市")) and issuer in text
        assert item.document in text
        # Its holder named (the enterprise, the retiree); a holder's ID printed as the holder's.
        holder = case.data[item.holder.name] if item.holder else case.applicant_name
        assert holder in text, (code, holder)
        holder_ids = tuple(h.key for h in item.holder.ids) if item.holder else ()
        for shown in result_rows(item, row.result_data, leave_out=holder_ids):
            assert shown.value.replace(" ", "") in text, (code, shown)
        texts[code] = text
    return texts


def test_retirement_results_in_a_real_browser(chromium, server, rt, user_of):  # noqa: F811
    case_id = submit(rt, user_of, "retirement", "applicant")
    approve_in_browser(chromium, server, rt, case_id, RETIREMENT_DEPARTMENTS)
    case = _case(rt, case_id)
    retiree = sign_in(chromium, server, RETIREE)
    texts = check_results(retiree, server, rt, case_id)
    assert texts.keys() == ROUTED["retirement", "applicant"]

    pension = retiree.locator("#items tr[data-item=hrss_pension_claim]")
    assert pension.locator("[data-result=pension_from] dd").inner_text() == "2026年11月25日"
    with retiree.expect_download() as download:
        pension.locator("a[href*='/result']").click()
    name = download.value.suggested_filename
    assert name.startswith(f"基本养老金核定通知书-{case.number}-") and name.endswith(".pdf")
    text = _pdf_text(download.value.path().read_bytes())
    assert "基本养老金核定通知书" in text and case.applicant_name in text  # the retiree holds it
    assert mask_id(RETIREE) in text and RETIREE not in text  # the ID printed masked
    assert "月基本养老金（元）：3,260.50元" in text
    assert "待遇发放起始日期：2026年11月25日" in text
    assert "示范市人力资源和社会保障局" in text
    retiree.context.close()


def test_convenience_store_results_in_a_real_browser(chromium, server, rt, user_of):  # noqa: F811
    case_id = submit(rt, user_of, "convenience_store", "applicant")
    enterprise = _case(rt, case_id).data["enterprise_name"]
    # A required result left blank is refused, the values typed kept.
    market = sign_in(chromium, server, "market01")
    open_task(market, _case(rt, case_id).number)
    market.fill("#result-established_on", "2026-11-25")
    market.click("#approve")
    assert "准予办理时请填写统一社会信用代码" in market.inner_text("#decision-error")
    assert market.input_value("#result-established_on") == "2026-11-25"
    assert market.get_attribute("#result-enterprise_uscc", "aria-invalid") == "true"
    assert "market_business_licence" not in _approved(rt, case_id)
    market.context.close()

    approve_in_browser(chromium, server, rt, case_id, STORE_DEPARTMENTS)
    shopkeeper = sign_in(chromium, server, SHOPKEEPER)
    texts = check_results(shopkeeper, server, rt, case_id)
    assert texts.keys() == ROUTED["convenience_store", "applicant"]
    licence = shopkeeper.locator("#items tr[data-item=market_business_licence]")
    assert licence.locator("[data-result=enterprise_uscc] dd").inner_text() == LICENCE_USCC
    assert licence.locator("[data-result=established_on] dd").inner_text() == "2026年11月25日"
    with shopkeeper.expect_download() as download:
        licence.locator("a[href*='/result']").click()
    assert download.value.suggested_filename.startswith("营业执照-")
    text = _pdf_text(download.value.path().read_bytes())
    # The enterprise holds it, with the credit code the market clerk assigned, printed whole.
    assert "营业执照" in text and enterprise in text and LICENCE_USCC in text
    assert "成立日期：2026年11月25日" in text and "示范市市场监督管理局" in text
    assert SHOPKEEPER not in text
    # The seal's record names the enterprise too; the taxes are issued under the tax office's
    # official name.
    assert (
        enterprise in texts["police_seal_engraving"]
        and "示范市公安局" in texts["police_seal_engraving"]
    )
    assert "国家税务总局示范市税务局" in texts["tax_new_taxpayer_registration"]
    shopkeeper.context.close()


def test_convenience_store_correction_seen_by_both(chromium, server, rt, user_of, tmp_path):  # noqa: F811
    case_id = submit(rt, user_of, "convenience_store", "applicant")
    case = _case(rt, case_id)
    number, old_scope = case.number, case.data["business_scope"]
    new_scope = "食品销售（仅预包装食品）；日用百货销售；文具用品零售"
    market = sign_in(chromium, server, "market01")
    open_task(market, number)
    send_back(
        market,
        "请补充经营范围并上传经营场所不动产权证书",
        ["business_scope", "material_premises_certificate"],
    )
    assert queue_row(market, server, number, "?status=all").locator(".corrected").count() == 0

    shopkeeper = sign_in(chromium, server, SHOPKEEPER)
    shopkeeper.goto(f"{server}/cases/{case_id}")
    form = shopkeeper.locator("section[id^=correction-]")
    form.wait_for()
    assert "请补充经营范围" in form.inner_text()
    material = shopkeeper.locator(".checklist li[data-material=premises_certificate]")
    assert "获取" in material.inner_text()  # fetched from the real-estate registry before
    scan = tmp_path / "premises-deed.pdf"
    scan.write_bytes(b"%PDF-1.4 the premises' certificate")
    answer_correction(
        shopkeeper,
        {"business_scope": new_scope},
        {"premises_certificate": scan},
        "已补充文具用品零售",
    )
    after = material.inner_text()
    assert "申请人补正时上传" in after and "premises-deed.pdf" in after and "获取" not in after
    assert _case(rt, case_id).data["business_scope"] == new_scope

    # The clerk's queue and task page: marked 已补正, with what changed (and who supplied it).
    row = queue_row(market, server, number)
    assert row.locator(".status-tag.corrected").is_visible()
    assert row.locator(".status-tag.corrected").inner_text() == "已补正"
    row.locator("a").first.click()
    market.locator("#corrected").wait_for()
    exactly = {
        "#corrected-badge": "已补正",
        "#corrected tr[data-fact=business_scope] td.old": old_scope,
        "#corrected tr[data-fact=business_scope] td.new": new_scope,
        "[data-fact=business_scope] .source": "申请人补正时填写",
    }
    within = {
        "#corrected-materials": "premises-deed.pdf",
        "#corrected-note": "已补充文具用品零售",
        "#materials li[data-material=premises_certificate]": "申请人补正时上传",
    }
    seen = {selector: market.locator(selector).inner_text() for selector in exactly | within}
    assert {selector: seen[selector] for selector in exactly} == exactly
    assert all(text in seen[selector] for selector, text in within.items()), seen

    approve(market)
    row = queue_row(market, server, number, "?status=approved")
    assert row.count() == 1 and row.locator(".corrected").count() == 0
    shopkeeper.context.close()
    market.context.close()
