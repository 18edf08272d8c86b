"""An eleventh matter made entirely in the browser: the administrator adds a fact, a service
item with that fact and a new material, and a matter combining it with an existing item through
the catalog pages; opens the process drawn from the items in the bpmn-js editor (lanes named by
department), draws the new item to follow the existing one, checks and deploys it, and publishes
the matter. A citizen applies (the form asks the new fact and the new material), the existing
item's clerk decides first, then the new item's clerk, and both results are issued."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from services.cases.models import Case
from tests.browser.test_newborn_browser import chromium, server, sign_in  # noqa: F401
from tests.browser.test_results_browser import approve_in_browser, check_results
from tests.web.conftest import MOTHER

pytestmark = pytest.mark.browser

MATTER = "child_health"
EXISTING = "cdc_vaccination_certificate"
NEW_ITEM = "health_child_health_handbook"
NEW_FACT = "child_health_clinic"

FACT = {
    "#f-code": NEW_FACT,
    "#f-label": "签约社区卫生服务中心",
    "#f-label_en": "Community health centre",
    "#f-help": "儿童保健随访所在的社区卫生服务中心名称",
}
ITEM = {
    "#f-code": NEW_ITEM,
    "#f-name": "儿童保健手册发放",
    "#f-name_en": "Child health handbook",
    "#f-legal_basis": "《示范市儿童保健管理办法》第八条",
    "#f-legal_basis_en": "Demo City Child Health Measures, Article 8",
    "#f-time_limit_days": "3",
    "#f-facts": f"applicant_name\napplicant_id_number\napplicant_phone\nchild_name\n{NEW_FACT}",
    "#f-materials": "child_health_form | 儿童保健登记表 | Child health registration form",
    "#f-document": "儿童保健手册",
    "#f-document_en": "Child health handbook",
    "#f-results": "handbook_number | 手册编号 | Handbook number | number | 是 | 20",
}
MATTER_FORM = {
    "#f-code": MATTER,
    "#f-name": "儿童预防接种与保健一件事",
    "#f-name_en": "Child vaccination and health care",
    "#f-summary": "预防接种证和儿童保健手册，一次申请。",
    "#f-items": f"{EXISTING}\n{NEW_ITEM}",
    "#f-subjects": "applicant\nchild\nmother\nfather",
    "#f-subject_key": "child_birth_cert_number",
}

# What the administrator draws with the mouse, through the modeler's own API: the new item's
# branch no longer starts at the fan-out but after the existing item is decided.
DRAW = f"""() => {{
  const modeler = window.onethingEditor.modeler;
  const registry = modeler.get("elementRegistry");
  const modeling = modeler.get("modeling");
  const decided = registry.get("Gateway_{EXISTING}_decided");
  modeling.removeElements([
    registry.get("Flow_Gateway_split_to_Gateway_{NEW_ITEM}_reopen"),
    registry.get("Flow_Gateway_{EXISTING}_decided_to_Gateway_join"),
  ]);
  const link = modeling.connect(decided, registry.get("Gateway_{NEW_ITEM}_reopen"));
  modeling.updateProperties(decided, {{ default: link.businessObject }});
  return link.id;
}}"""


def _fill_and_save(page, base: str, kind: str, fields: dict[str, str], choices=None) -> None:
    page.goto(f"{base}/admin/catalog")
    page.click(f"#new-{kind}")
    for selector, value in fields.items():
        page.fill(selector, value)
    for selector, value in (choices or {}).items():
        page.select_option(selector, value)
    page.fill("#f-comment", "新增：儿童预防接种与保健一件事")
    page.click("#save")
    page.wait_for_selector("#saved, #error")
    assert page.locator("#error").count() == 0, page.inner_text("#error")


def test_a_new_matter_made_in_the_browser_is_applied_for_decided_and_issued(
    chromium,  # noqa: F811
    server,  # noqa: F811
    rt,
):
    admin = sign_in(chromium, server, "admin")
    _fill_and_save(admin, server, "fact", FACT, {"#f-subject": "child", "#f-type": "text"})
    _fill_and_save(admin, server, "item", ITEM, {"#f-department": "health"})
    _fill_and_save(admin, server, "matter", MATTER_FORM)
    assert admin.locator("#f-published").is_checked() is False  # made unpublished

    # the process drawn from its items, in the editor: lanes named by department
    admin.goto(f"{server}/admin/processes/{MATTER}")
    admin.wait_for_function("window.onethingEditor && window.onethingEditor.modeler")
    admin.evaluate("() => window.onethingEditor.ready")
    admin.wait_for_selector(f"#canvas .djs-element[data-element-id=Task_{NEW_ITEM}]")
    lanes = admin.locator("#canvas .djs-element[data-element-id^=Lane_] .djs-visual text")
    assert {"卫生健康委员会", "疾病预防控制中心"} <= set(lanes.all_text_contents())
    # publishing before its process is deployed is refused, naming the field
    admin.goto(f"{server}/admin/catalog/matter/{MATTER}")
    admin.check("#f-published")
    admin.click("#save")
    admin.wait_for_selector("#error")
    assert admin.get_attribute("#error", "data-field") == "published"

    admin.goto(f"{server}/admin/processes/{MATTER}")
    admin.wait_for_function("window.onethingEditor && window.onethingEditor.modeler")
    admin.evaluate("() => window.onethingEditor.ready")
    admin.wait_for_selector(f"#canvas .djs-element[data-element-id=Task_{NEW_ITEM}]")
    link = admin.evaluate(DRAW)
    admin.click("#validate")
    admin.wait_for_selector("#status.ok")
    assert admin.locator("#problems li.problem").count() == 0
    admin.fill("#deploy-comment", "儿童保健手册在预防接种证之后发放")
    admin.click("#deploy")
    admin.wait_for_selector("#status[data-version='1']")
    assert f'id="{link}"' in admin.evaluate("() => window.onethingEditor.currentXml()")

    admin.goto(f"{server}/admin/catalog/matter/{MATTER}")
    admin.check("#f-published")
    admin.click("#save")
    admin.wait_for_selector("#saved")
    assert rt.catalog.matters[MATTER].published

    # a citizen applies: the new fact and the new material are asked
    citizen = sign_in(chromium, server, MOTHER)
    citizen.goto(f"{server}/")
    citizen.click(f"a[href='/matters/{MATTER}/apply']")
    citizen.click("#consent")
    citizen.wait_for_selector(f"#f_{NEW_FACT}")
    citizen.fill(f"#f_{NEW_FACT}", "示范市中心区社区卫生服务中心")
    for key, value in {"applicant_phone": "13912345678"}.items():
        if citizen.locator(f"#f_{key}").count() and not citizen.input_value(f"#f_{key}"):
            citizen.fill(f"#f_{key}", value)
    assert citizen.locator("#material-child_health_form").count() == 1
    files = citizen.locator("input[type=file]")
    for index in range(files.count()):
        files.nth(index).set_input_files(
            {"name": "scan.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%%EOF\n"}
        )
    citizen.click("#submit")
    citizen.wait_for_selector("#case-number, .notice.error")
    assert citizen.locator(".notice.error").count() == 0, citizen.inner_text("main")
    number = citizen.inner_text("#case-number")
    with Session(rt.db) as session:
        case = session.exec(select(Case).where(Case.number == number)).one()

    # drawn in sequence: the health clerk has nothing until the vaccination certificate is decided
    health = sign_in(chromium, server, "health01")
    health.goto(f"{server}/clerk")
    assert health.locator(f"#queue tr[data-case='{number}']").count() == 0
    health.context.close()
    approve_in_browser(chromium, server, rt, case.id, ["cdc", "health"])
    texts = check_results(citizen, server, rt, case.id)
    assert "儿童保健手册" in texts[NEW_ITEM] and "预防接种证" in texts[EXISTING]
