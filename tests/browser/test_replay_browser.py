"""The process editor's "replay on recent cases" in a real browser: an administrator changes a
flow's condition in the diagram, replays the change before deploying it, and reads which recent
case would lose which item; nothing is deployed. The plain replay page, with a result, fits a
phone and passes axe in every display mode."""

from __future__ import annotations

import pytest
from sqlmodel import Session, func, select

from services.cases.models import Case
from services.processes_models import ProcessVersion
from tests.browser.test_newborn_browser import chromium, server, sign_in  # noqa: F401
from tests.browser.test_screens_browser import MODES, open_as, problems_of
from tests.services.test_replay import MATTER, current_bpmn, store_case

pytestmark = pytest.mark.browser

BANK_FLOW = "Flow_bank_to_bank_account"


def test_replay_shows_the_case_that_would_lose_an_item_before_deploying(  # noqa: F811
    chromium,  # noqa: F811
    server,  # noqa: F811
    rt,
    user_of,
):
    case_id = store_case(rt, user_of, 1)
    with Session(rt.db) as session:
        number = session.get(Case, case_id).number
    admin = sign_in(chromium, server, "admin")
    admin.goto(f"{server}/admin/processes/{MATTER}")
    admin.wait_for_function("window.onethingEditor && window.onethingEditor.modeler")
    admin.evaluate("() => window.onethingEditor.ready")
    admin.evaluate(
        f"""() => {{
          const modeler = window.onethingEditor.modeler;
          modeler.get("selection").select(modeler.get("elementRegistry").get("{BANK_FLOW}"));
        }}"""
    )
    admin.wait_for_selector("#prop-condition")
    admin.fill("#prop-condition", "wants_bank_account == False")
    admin.press("#prop-condition", "Tab")
    admin.fill("#replay-limit", "10")
    admin.click("#replay")
    row = admin.locator(f"#replay-cases tr[data-case='{number}']")
    row.wait_for()
    assert row.get_attribute("data-differs") == "yes"
    assert rt.catalog.items["bank_account_opening"].name in row.locator(".vanishing").inner_text()
    assert "会有不同 1" in admin.inner_text("#replay-summary")
    with Session(rt.db) as session:
        assert session.exec(select(func.count()).select_from(ProcessVersion)).one() == 0


def test_the_replay_page_with_a_result_fits_a_phone_and_passes_axe(  # noqa: F811
    chromium,  # noqa: F811
    server,  # noqa: F811
    rt,
    user_of,
    tmp_path,
):
    store_case(rt, user_of, 2)
    candidate = tmp_path / "candidate.bpmn"
    candidate.write_bytes(
        current_bpmn(rt).replace(b"wants_bank_account == True", b"wants_bank_account == False")
    )
    failures = []
    for mode in MODES:
        context, page = open_as(chromium, server, "admin", mode)
        page.goto(f"{server}/admin/replay/{MATTER}")
        page.set_input_files("#replay-file", str(candidate))
        page.click("#replay-form button[type=submit]")
        page.wait_for_selector("#replay-cases tr[data-differs=yes]")
        failures += [f"[{mode.name}] {problem}" for problem in problems_of(page, mode)]
        context.close()
    assert not failures, "\n".join(failures)
