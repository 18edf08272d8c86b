"""The dashboard's measured burden (实测负担) in a real browser: the section shows each matter's
measured cases beside the catalog's expected figures, fits a phone and passes axe."""

from __future__ import annotations

import pytest

from tests.browser.test_newborn_browser import chromium, server  # noqa: F401
from tests.browser.test_screens_browser import MODES, open_as, problems_of
from tests.services.test_replay import store_case

pytestmark = pytest.mark.browser


def test_the_measured_burden_fits_a_phone_and_passes_axe(  # noqa: F811
    chromium,  # noqa: F811
    server,  # noqa: F811
    rt,
    user_of,
):
    for number in (1, 2):
        store_case(rt, user_of, number)
    failures = []
    for mode in MODES:
        context, page = open_as(chromium, server, "admin", mode)
        page.goto(f"{server}/admin/dashboard")
        row = page.locator("#measured-figures tr[data-matter=convenience_store]")
        assert row.get_attribute("data-measured") == "2"
        assert row.locator("[data-figure=fields_typed] strong").is_visible()
        failures += [f"[{mode.name}] {p}" for p in problems_of(page, mode)]
        context.close()
    assert not failures, "\n".join(failures)
