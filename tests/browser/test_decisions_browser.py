"""A decision table in a real browser: the administrator opens the newborn check's table in dmn-js,
changes a cell, checks it against the test cases (a failure is shown with expected and actual),
fixes the cases and adds one, and deploys the table as a new version of the process; the page
runs under the strict Content-Security-Policy without a violation."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session

from services import processes
from tests.browser.test_newborn_browser import chromium, server, sign_in  # noqa: F401

pytestmark = pytest.mark.browser

DECISION = "newborn_medical_enrollment_check"
# Every Content-Security-Policy violation of the page, by directive. dmn-js sets some inline
# style attributes and its cell editor a <style> element, which the strict policy blocks (their
# rules are in decisions.css); nothing else may be refused: no script, font or image.
VIOLATIONS = """document.addEventListener("securitypolicyviolation",
  (e) => window.reportViolation(e.violatedDirective), true);"""


def test_edit_a_cell_check_fix_the_cases_and_deploy(chromium, server, rt):  # noqa: F811
    admin = sign_in(chromium, server, "admin")
    errors: list[str] = []
    admin.on("pageerror", lambda error: errors.append(str(error)))
    directives: list[str] = []  # of every page loaded below
    admin.expose_function("reportViolation", lambda directive: directives.append(directive))
    admin.add_init_script(VIOLATIONS)

    # from the process editor to the table
    admin.goto(f"{server}/admin/processes/newborn")
    admin.click(f"a.decision-link[href$='/decisions/{DECISION}']")
    admin.wait_for_selector("#dmn-canvas[data-ready='1']")
    cell = admin.locator("#dmn-canvas td.output-cell", has_text="'approved'")
    assert cell.count() == 1
    assert admin.locator("#dmn-canvas tbody tr").count() == 3  # the table's rules

    # the instant approval becomes a review, typed into the table's cell
    cell.locator(".content-editable").click()
    admin.keyboard.press("Control+A")
    admin.keyboard.type("'review'")
    admin.locator("#dmn-canvas td.output-cell", has_text="'review'").first.wait_for()
    assert admin.locator("#dmn-canvas td.output-cell", has_text="'approved'").count() == 0

    admin.click("#check")
    admin.wait_for_selector("#results")
    assert admin.locator("#results tr[data-result='fail']").count() == 2
    assert admin.locator("#results tr[data-result='pass']").count() == 2
    failed = admin.locator("#results tr[data-result='fail']").first.inner_text()
    assert "approved" in failed and "review" in failed  # expected, with the actual beside it
    assert "'review'" in admin.input_value("#dmn-xml")  # the candidate table is kept

    # deploying now is refused, naming the decision and the case
    admin.click("#deploy")
    admin.wait_for_selector("#decision-error")
    assert DECISION in admin.inner_text("#decision-error")
    assert "未发布" in admin.inner_text("#decision-error")
    with Session(rt.db) as session:
        assert processes.current_version(session, matter_code="newborn") is None

    # fix the approval cases, add one with the script's "add a row", deploy
    admin.wait_for_selector("#dmn-canvas[data-ready='1']")
    for n in (0, 1):
        admin.fill(f"input[name=case_{n}_out_check_decision]", "review")
    admin.click("#add-case")
    row = admin.locator("#cases tbody tr").last
    new = row.get_attribute("data-case")
    admin.fill(f"input[name=case_{new}_name]", "证照已核验、随母落户：人工审核")
    admin.fill(
        f"input[name=case_{new}_in_prefilled]", json.dumps({"child_birth_cert_number": "Q1"})
    )
    admin.fill(f"input[name=case_{new}_in_household_parent]", "mother")
    admin.fill(f"input[name=case_{new}_out_check_decision]", "review")
    admin.fill("#deploy-comment", "新生儿参保一律人工审核")
    admin.click("#deploy")
    admin.wait_for_selector("#deployed")
    assert "v1" in admin.inner_text("#deployed")
    admin.wait_for_selector("#dmn-canvas[data-ready='1']")
    assert admin.locator("#dmn-canvas td.output-cell", has_text="'approved'").count() == 0

    with Session(rt.db) as session:
        version = processes.current_version(session, matter_code="newborn")
        assert version.comment == "新生儿参保一律人工审核"
        dmn = processes.definition_of(session, version).decisions["newborn.dmn"]
    assert "'approved'" not in dmn and "'review'" in dmn
    assert errors == []
    assert directives and set(directives) <= {"style-src-attr", "style-src-elem"}, directives
