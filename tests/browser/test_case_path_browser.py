"""The whole case in view in a real browser on a phone-sized screen: the retirement case's
page lists all five items as an ordered list whose every line fits in 390 px."""

from __future__ import annotations

import pytest

from demo.seed import DEMO_PASSWORD
from tests.browser.test_newborn_browser import chromium, server  # noqa: F401
from tests.services.test_case_path import submit

pytestmark = pytest.mark.browser
RETIREE = "310107196607150399"  # 孙国强


def test_case_path_fits_a_phone_screen(chromium, server, rt, user_of):  # noqa: F811
    case_id = submit(rt, user_of, "retirement", "applicant", only_child_parent=False)
    context = chromium.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(f"{server}/login")
    page.fill("#username", RETIREE)
    page.fill("#password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{server}/cases/{case_id}")
    steps = page.locator("#case-path > li")
    assert steps.count() == 5
    texts = [steps.nth(i).inner_text() for i in range(5)]
    assert "状态：办理中" in texts[0]
    assert all("状态：待前序完成" in text for text in texts[1:4])
    assert "状态：无需办理" in texts[4] and "您的申请：" in texts[4]
    widths = page.evaluate(
        "() => [...document.querySelectorAll('#case-path > li')]"
        ".map(li => li.getBoundingClientRect().right)"
    )
    assert max(widths) <= 390
    assert page.evaluate(
        "() => { const ol = document.getElementById('case-path');"
        " return ol.scrollWidth <= ol.clientWidth; }"
    )
    context.close()
