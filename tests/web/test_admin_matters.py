"""Matter configuration: publication on and off, item conditions (checked in the sandbox and
against the data dictionary), the items a deployed process adds, the record of changes."""

from __future__ import annotations

from sqlmodel import Session, select

from services.cases import submission
from services.configuration.matters import MatterChange, MatterSetting
from tests.web.conftest import FATHER, MOTHER, NEWBORN_ANSWERS
from tests.web.test_newborn import submit_newborn
from tests.web.test_process_editor import API, NEW_ITEM, WITH_NEW_ITEM, _post_json

MATTER = "/admin/config/matters/newborn"
MATERNITY = "medical_maternity_allowance"


def _admin(browser):
    admin = browser("admin")
    assert admin.get(MATTER).status_code == 200
    return admin


def test_only_administrators_configure_matters(browser):
    for username in (MOTHER, "police01", "center01"):
        user = browser(username)
        assert user.client.get("/admin/config/matters").status_code == 403
        assert user.client.get(MATTER).status_code == 403
        refused = user.post(f"{MATTER}/publication", data={})
        assert refused.status_code == 403
    admin = browser("admin")
    assert admin.client.get("/admin/config/matters/no_such_matter").status_code == 404
    no_token = admin.client.post(f"{MATTER}/publication", data={})
    assert no_token.status_code == 403


def test_a_paused_matter_is_offered_nowhere_and_running_cases_go_on(browser, rt):
    mother, case_id = submit_newborn(browser)
    admin = _admin(browser)
    assert admin.post(f"{MATTER}/publication", data={}).status_code == 303
    listing = admin.get("/admin/config/matters").text
    assert 'data-matter="newborn" data-published="no"' in listing

    father = browser(FATHER)
    assert 'href="/matters/newborn/apply"' not in father.get("/").text
    assert father.client.get("/matters/newborn/apply").status_code == 404
    refused = father.client.post(
        "/api/v1/cases",
        json={"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True},
        headers={"X-CSRF-Token": father.csrf},
    )
    assert refused.status_code == 404
    desk = browser("center01")
    assert 'value="newborn"' not in desk.get("/frontdesk").text
    # The case submitted before goes on
    assert mother.client.get(f"/api/v1/cases/{case_id}").json()["status"] == "processing"

    assert admin.post(f"{MATTER}/publication", data={"published": "1"}).status_code == 303
    assert father.client.get("/matters/newborn/apply").status_code == 200
    with Session(rt.db) as session:
        recorded = session.exec(select(MatterChange).order_by(MatterChange.id)).all()
        assert [(c.what, c.old, c.new) for c in recorded] == [
            ("published", "True", "False"),
            ("published", "False", "True"),
        ]
    page = admin.get(MATTER).text
    assert 'id="history"' in page and page.count("<code>published</code>") == 2


def _form_items(rt, username: str) -> tuple[set[str], set[str]]:
    from services.accounts.models import User

    with Session(rt.db) as session:
        user = session.exec(select(User).where(User.username == username)).one()
        form = submission.prepare_form(
            session, rt, user=user, matter_code="newborn", consented=True
        )
        return {i.code for i in form.items}, {i.code for i in form.skipped_items}


def test_an_item_condition_decides_what_the_form_asks(browser, rt):
    admin = _admin(browser)
    applied, _ = _form_items(rt, MOTHER)
    assert MATERNITY in applied  # the mother has maternity insurance
    changed = admin.post(f"{MATTER}/items/{MATERNITY}/condition", data={"condition": "False"})
    assert changed.status_code == 303
    applied, skipped = _form_items(rt, MOTHER)
    assert MATERNITY not in applied and MATERNITY in skipped
    page = admin.get(MATTER).text
    assert f'data-item="{MATERNITY}" data-overridden="yes"' in page

    restored = admin.post(f"{MATTER}/items/{MATERNITY}/condition", data={"restore": "1"})
    assert restored.status_code == 303
    applied, _ = _form_items(rt, MOTHER)
    assert MATERNITY in applied
    with Session(rt.db) as session:
        assert session.get(MatterSetting, "newborn").conditions == {}
        whats = session.exec(select(MatterChange.what)).all()
        assert whats == [f"condition:{MATERNITY}", f"condition:{MATERNITY}"]


def test_a_bad_condition_is_refused_at_the_field_and_nothing_is_stored(browser, rt):
    admin = _admin(browser)
    for condition, words in (
        ("__import__('os').system('id')", "不是允许的表达式"),
        ("salary > 3000", "salary"),
        ("mother_maternity_insurance ==", "不是允许的表达式"),
    ):
        refused = admin.post(f"{MATTER}/items/{MATERNITY}/condition", data={"condition": condition})
        assert refused.status_code == 422, condition
        assert words in refused.text and f'id="condition_{MATERNITY}-error"' in refused.text
    missing = admin.post(f"{MATTER}/items/no_such_item/condition", data={"condition": ""})
    assert missing.status_code == 404
    with Session(rt.db) as session:
        assert session.exec(select(MatterSetting)).all() == []
        assert session.exec(select(MatterChange)).all() == []


def test_items_added_by_a_deployed_process_appear_in_the_matter(browser):
    admin = _admin(browser)
    assert f'data-item="{NEW_ITEM}"' not in admin.get(MATTER).text
    deployed = _post_json(admin, f"{API}/deploy", {"xml": WITH_NEW_ITEM.decode(), "comment": "x"})
    assert deployed.status_code == 201
    page = admin.get(MATTER).text
    assert f'data-item="{NEW_ITEM}"' in page and "流程新增" in page
    assert "流程新增 1" in admin.get("/admin/config/matters").text
