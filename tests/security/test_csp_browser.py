"""The Content-Security-Policy in a real browser: the pages that had inline script and styles
(the form's error summary, the receipt's print button, the filters' layout), the dashboard's
charts, the live case page and the bpmn-js editor run without one violation of the policy, and
the behaviours moved to web/static/page.js still work."""

from __future__ import annotations

import pytest

from tests.browser.test_editor_browser import ADD_TASK, open_editor
from tests.browser.test_newborn_browser import chromium, server, sign_in  # noqa: F401
from tests.web.conftest import MOTHER

pytestmark = pytest.mark.browser

# Every violation the page reports, kept where the test can read it (set up before any script).
RECORD = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}`);
});
"""
# Tasks queued before this one (a violation's report among them) have run when it resolves.
SETTLE = "() => new Promise((done) => setTimeout(() => done(window.__violations), 0))"


def _watched(page):
    page.add_init_script(RECORD)
    return page


def _violations(page) -> list[str]:
    return page.evaluate(SETTLE)


def test_the_forms_error_summary_takes_the_focus_without_inline_script(chromium, server):  # noqa: F811
    citizen = _watched(sign_in(chromium, server, MOTHER))
    citizen.goto(f"{server}/matters/newborn/apply")
    citizen.click("#consent")
    citizen.click("#submit")  # nothing filled in: the form comes back with its errors
    citizen.wait_for_selector("#error-summary")
    assert citizen.evaluate("() => document.activeElement.id") == "error-summary"
    assert _violations(citizen) == []
    citizen.goto(f"{server}/cases")
    citizen.goto(f"{server}/no-such-page")
    assert citizen.locator("a[data-back]").count() == 1
    assert _violations(citizen) == []


def test_the_receipts_print_button_prints_without_an_inline_handler(chromium, server):  # noqa: F811
    desk = _watched(sign_in(chromium, server, "center01"))
    desk.goto(f"{server}/frontdesk")
    desk.fill("#id_number", "310104199205160353")
    desk.select_option("#matter", "newborn")
    desk.check("#present")
    desk.click("#open")
    desk.wait_for_selector("[data-fact=mother_name]")
    desk.select_option("#f_household_parent", "father")
    desk.fill("#f_applicant_phone", "13900001111")
    desk.select_option("#f_delivery_method", "window")
    desk.fill("#f_bank_name", "中国工商银行")
    desk.fill("#f_bank_card_number", "6222020200112233446")
    desk.click("#submit")
    desk.wait_for_selector("#receipt")
    desk.evaluate("() => { window.print = () => { window.__printed = true; }; }")
    desk.click("#print")
    assert desk.evaluate("() => window.__printed") is True
    assert _violations(desk) == []
    desk.goto(f"{server}/clerk")  # the queue's filter grid and cells
    assert _violations(desk) == []


def test_the_admin_pages_and_the_process_editor_keep_to_the_policy(chromium, server):  # noqa: F811
    admin = _watched(sign_in(chromium, server, "admin"))
    admin.set_viewport_size({"width": 1400, "height": 900})
    admin.goto(f"{server}/admin/dashboard")
    widths = admin.eval_on_selector_all(
        "svg.chart", "charts => charts.map(c => c.getBoundingClientRect().width)"
    )
    assert widths and max(widths) <= 640  # the width app.css gives, not a style attribute
    assert _violations(admin) == []
    for path in ("/admin", "/admin/config/calendar", "/admin/config/users"):
        admin.goto(f"{server}{path}")
        assert _violations(admin) == [], path
    editor = open_editor(chromium, server)
    _watched(editor)
    editor.reload()
    editor.wait_for_function("window.onethingEditor && window.onethingEditor.modeler")
    editor.evaluate("() => window.onethingEditor.ready")
    editor.wait_for_selector("#canvas .djs-element[data-element-id=Gateway_fanout]")
    task = editor.evaluate(ADD_TASK)
    editor.dblclick(f"#canvas .djs-element[data-element-id={task}]")  # direct editing
    editor.keyboard.type("社会保险参保登记")
    editor.click("#validate")
    editor.wait_for_selector("#status.ok, #status.error")
    assert _violations(editor) == []
