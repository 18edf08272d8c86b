"""The elderly-friendly mode (长辈版) in a real browser on a phone: one click in the header
switches it on (no script needed), it stays on after signing in and on every page, and the
pages then have large type (at least 20 px), targets at least 48 px tall, text at AAA contrast
(7:1) and the case's history folded away; the same button switches it off."""

from __future__ import annotations

import pytest

from demo.seed import DEMO_PASSWORD
from tests.browser.test_newborn_browser import chromium, server  # noqa: F401
from tests.services.test_case_path import submit
from tests.web.conftest import MOTHER

pytestmark = pytest.mark.browser
RETIREE = "310107196607150399"  # 孙国强
CONVENIENCE = "310107198008080615"  # 徐海波

# The lowest contrast of any text on the page with what is behind it (WCAG's formula), and the
# text and control it belongs to.
LOWEST_CONTRAST = """() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const behind = (e) => { for (; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length === 3 || c[3] > 0) return c.slice(0, 3); } return [255, 255, 255]; };
  let lowest = [99, ""];
  for (const e of document.querySelectorAll("body *")) {
    const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !e.getClientRects().length || getComputedStyle(e).visibility === "hidden") continue;
    if (e.closest(".visually-hidden, .skip")) continue;
    const a = lum(rgb(getComputedStyle(e).color)), b = lum(behind(e));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < lowest[0]) lowest = [ratio, e.tagName + "." + e.className + " " + e.textContent.trim().slice(0, 30)];
  }
  return lowest;
}"""
SMALLEST_TARGET = """() => {
  let smallest = [999, ""];
  for (const e of document.querySelectorAll("main button, main .button, main input:not([type=hidden]), main select, header input[type=submit], header button")) {
    const box = e.getBoundingClientRect();
    if (!box.height || e.type === "checkbox" || e.type === "radio") continue;
    if (box.height < smallest[0]) smallest = [box.height, e.tagName + "#" + e.id];
  }
  return smallest;
}"""


def font_size(page) -> float:
    return page.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)")


def fits(page) -> bool:
    return page.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def check_elderly(page, where: str) -> None:
    assert page.evaluate("() => document.documentElement.classList.contains('elderly')"), where
    assert font_size(page) >= 20, where
    contrast, text = page.evaluate(LOWEST_CONTRAST)
    assert contrast >= 7, f"{where}: {contrast:.2f} for {text}"
    height, target = page.evaluate(SMALLEST_TARGET)
    assert height >= 48, f"{where}: {target} is {height} px tall"
    assert fits(page), where


def test_one_click_switches_the_mode_on_for_every_page_and_off_again(
    chromium,  # noqa: F811
    server,  # noqa: F811
    rt,
    user_of,
):
    cases = {
        MOTHER: submit(rt, user_of, "newborn", "mother"),
        RETIREE: submit(rt, user_of, "retirement", "applicant"),
        CONVENIENCE: submit(rt, user_of, "convenience_store", "applicant"),
    }
    context = chromium.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(f"{server}/login")
    assert (
        font_size(page) == 16 and page.locator("#elderly-switch").get_attribute("value") == "长辈版"
    )
    page.click("#elderly-switch")  # a plain form post: works without script
    page.wait_for_load_state()
    assert page.url == f"{server}/login"
    check_elderly(page, "/login")
    assert page.locator("#elderly-switch").get_attribute("value") == "标准版"
    cookie = next(c for c in context.cookies() if c["name"] == "elderly")
    assert cookie["value"] == "1" and cookie["httpOnly"] and cookie["expires"] > 0

    for username, case_id in cases.items():
        page.goto(f"{server}/login")
        page.fill("#username", username)
        page.fill("#password", DEMO_PASSWORD)
        page.click("form[action='/login'] button[type=submit]")
        page.wait_for_load_state()
        for path in ("/", "/cases", f"/cases/{case_id}", "/inbox"):
            page.goto(f"{server}{path}")
            check_elderly(page, f"{username} {path}")
        # the case page: progress and path in view, the history folded behind one click
        page.goto(f"{server}/cases/{case_id}")
        assert page.locator("#case-path").is_visible() and page.locator("#items").is_visible()
        assert not page.locator("ol.history").is_visible()
        page.click("details.history-details summary")
        assert page.locator("ol.history").is_visible()
        page.click("form[action='/logout'] button")
        page.wait_for_load_state()

    page.goto(f"{server}/login")
    page.click("#elderly-switch")
    page.wait_for_load_state()
    assert not page.evaluate("() => document.documentElement.classList.contains('elderly')")
    assert font_size(page) == 16 and "elderly" not in {c["name"] for c in context.cookies()}
    context.close()
