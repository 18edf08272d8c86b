"""Every matter's combined form works as a plain HTML form: shown, filled, uploaded, submitted."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from services.cases.models import CaseItem
from services.cases.submission import prepare_form
from tests.forms.test_matters import (
    APPLICATIONS,
    FIRST_ROUTED,
    INSTANT,
    LOGINS,
    PDF,
    _sample,
    common_for,
)


def _as_form_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@pytest.mark.parametrize(
    ("code", "role", "answers", "expected"),
    [pytest.param(*a, id=f"{a[0]}-{a[1]}") for a in APPLICATIONS],
)
def test_demo_citizen_submits_the_html_form(browser, rt, user_of, code, role, answers, expected):
    person = next(p for p in LOGINS if p.matter == code and p.role == role)
    filled = {**common_for(code), **answers}
    for _round in range(3):
        with Session(rt.db) as session:
            form = prepare_form(
                session,
                rt,
                user=user_of(person.id_number),
                matter_code=code,
                answers=filled,
                consented=True,
            )
        filled.update(
            {f.key: _sample(f.fact) for f in form.fields if not f.known and f.key not in filled}
        )
    data = {key: _as_form_value(value) for key, value in filled.items()}
    citizen = browser(person.id_number)
    citizen.consent(code)
    assert citizen.get(f"/matters/{code}/apply").status_code == 200
    # "Update the form" applies the answers: conditional items and their materials appear.
    page = citizen.post(f"/matters/{code}/apply", data={**data, "refresh": "1"})
    assert page.status_code == 200
    for entry in form.uploads:
        assert f'name="material_{entry.code}"' in page.text
    files = [
        (f"material_{entry.code}", (f"{entry.code}.pdf", PDF, "application/pdf"))
        for entry in form.uploads
    ]
    response = citizen.post(f"/matters/{code}/apply", data=data, files=files or None)
    assert response.status_code == 303, response.text[:2000]
    case_id = int(response.headers["location"].rsplit("/", 1)[1])
    with Session(rt.db) as session:
        routed = session.exec(select(CaseItem).where(CaseItem.case_id == case_id)).all()
    first = FIRST_ROUTED.get(code, expected)
    assert {row.item_code for row in routed} == first
    assert {row.department for row in routed} == {rt.catalog.items[c].department for c in first}
    assert {row.item_code for row in routed if row.auto} == INSTANT.get(code, set())
    assert citizen.get(f"/cases/{case_id}").status_code == 200
