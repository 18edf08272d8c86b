"""The elderly-friendly mode (长辈版): one button in every page's header switches it on or off,
the browser keeps it for a year (a cookie: no account column holds it), and every page then
carries <html class="elderly">; the case page folds its history away."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.services.test_case_path import submit
from tests.web.conftest import CSRF, MOTHER, Browser
from web.i18n import ELDERLY_COOKIE, PREFERENCE_SECONDS, localized, option_label

ELDERLY_HTML = '<html lang="zh-CN" class="elderly">'


def test_a_visitor_switches_the_mode_on_and_off_before_signing_in(app):
    with TestClient(app, follow_redirects=False) as client:
        page = client.get("/login").text
        assert 'id="elderly-switch"' in page and 'value="长辈版"' in page
        assert 'class="elderly"' not in page
        on = client.post("/preferences/elderly", data={"on": "true", "back": "/login?next=/cases"})
        assert on.status_code == 303 and on.headers["location"] == "/login?next=/cases"
        cookie = on.headers["set-cookie"]
        assert f"{ELDERLY_COOKIE}=1" in cookie and f"Max-Age={PREFERENCE_SECONDS}" in cookie
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie
        page = client.get("/login").text
        assert ELDERLY_HTML in page and 'value="标准版"' in page
        assert 'name="on" value="false"' in page  # the same button now switches it off
        off = client.post("/preferences/elderly", data={"on": "false", "back": "/"})
        assert off.status_code == 303 and f'{ELDERLY_COOKIE}=""' in off.headers["set-cookie"]
        assert 'class="elderly"' not in client.get("/login").text


@pytest.mark.parametrize("back", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
def test_the_button_only_returns_to_a_page_of_this_site(app, back):
    with TestClient(app, follow_redirects=False) as client:
        answer = client.post("/preferences/elderly", data={"on": "true", "back": back})
        assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_the_header_button_returns_to_the_page_it_is_on_in_english_too(app):
    with TestClient(app, follow_redirects=False) as client:
        page = client.get("/login?lang=en").text
        assert 'name="back" value="/login?lang=en"' in page and 'value="Large-text view"' in page


def test_a_signed_in_citizen_needs_the_session_token_and_keeps_the_mode(rt, user_of, browser):
    case_id = submit(rt, user_of, "newborn", "mother")
    citizen: Browser = browser(MOTHER)
    forged = citizen.client.post("/preferences/elderly", data={"on": "true", "back": "/"})
    assert forged.status_code == 403
    page = citizen.get(f"/cases/{case_id}").text
    assert '<details class="history-details">' not in page
    token = CSRF.search(page).group(1)
    on = citizen.client.post(
        "/preferences/elderly",
        data={"on": "true", "back": f"/cases/{case_id}", "csrf_token": token},
    )
    assert on.status_code == 303 and on.headers["location"] == f"/cases/{case_id}"
    for path in ("/", "/cases", f"/cases/{case_id}", "/inbox", "/my-data-access"):
        assert ELDERLY_HTML in citizen.get(path).text, path
    # the case page keeps the progress and path in view and folds the history away
    page = citizen.get(f"/cases/{case_id}").text
    assert '<details class="history-details"><summary>展开办理记录' in page
    assert 'id="items"' in page and 'id="case-path"' in page


def test_catalog_names_come_from_the_catalogs_own_english(rt):
    catalog = rt.catalog
    department = catalog.departments["police"]
    assert localized(department, "en") == department.name_en != department.name
    assert localized(department, "zh") == department.name
    fact = next(f for f in catalog.facts.values() if f.type == "enum" and f.options)
    option = fact.options[0]
    assert option_label(fact, option.value, "en") == (option.label_en or option.label)
    assert option_label(fact, option.value, "zh") == option.label
    assert option_label(fact, "no-such-value", "en") == "no-such-value"
