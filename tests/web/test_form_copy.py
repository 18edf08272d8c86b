"""The combined form's choices, as rendered: every drop-down prompts 请选择 (Please choose), and a
choice left blank is told to be chosen, not filled in. The catalog's copy itself is checked in
tests/forms/test_copy.py."""

from __future__ import annotations

import re

import pytest

from forms.catalog import default_catalog
from tests.forms.test_matters import LOGINS

SELECT = re.compile(
    r"<select\b[^>]*\bname=\"([^\"]+)\"[^>]*>\s*<option value=\"\">([^<]*)</option>"
)


def _citizen(browser, code: str):
    person = next(p for p in LOGINS if p.matter == code)
    citizen = browser(person.id_number)
    citizen.consent(code)
    return citizen


@pytest.mark.parametrize("code", ["newborn", "retirement", "convenience_store"])
def test_every_choice_prompts_please_choose(browser, code):
    citizen = _citizen(browser, code)
    for lang, prompt in (("zh", "请选择"), ("en", "Please choose")):
        page = citizen.get(f"/matters/{code}/apply?lang={lang}").text
        prompts = SELECT.findall(page)
        assert prompts and len(prompts) == page.count("<select"), "a choice without a prompt"
        assert {text for _name, text in prompts} == {prompt}
    catalog = default_catalog()
    assert all(catalog.facts[name].type in ("enum", "bool") for name, _text in prompts)


def test_a_choice_left_blank_is_asked_to_be_chosen_a_text_to_be_filled_in(browser):
    citizen = _citizen(browser, "retirement")
    citizen.get("/matters/retirement/apply?lang=zh")
    response = citizen.post("/matters/retirement/apply", data={})
    assert response.status_code == 422
    assert "请选择退休类型" in response.text and "请填写退休类型" not in response.text
    assert "请填写手机号码" in response.text  # a text field still says fill in
