"""The catalog editor's pages and API (web/routes/catalog.py, web/api/admin_catalog.py): forms
that work without script (lists one per line, parts of a row split by `|`), errors naming the
field with what was typed kept, versions with diff and rollback, the TOML export, and the same
service call behind the JSON API."""

from __future__ import annotations

import io
import zipfile

from sqlmodel import Session

from services.configuration import catalog as editing
from tests.services.test_replay import store_case
from tests.web.conftest import MOTHER
from web.routes.catalog import data_to_form

FACT_FORM = {
    "code": "dog_breed",
    "subject": "applicant",
    "label": "犬只品种",
    "label_en": "Dog breed",
    "type": "text",
    "source": "",
    "help": "如：中华田园犬",
    "comment": "养犬登记要问品种",
}
ITEM_FORM = {
    "code": "police_dog_registration",
    "name": "养犬登记",
    "name_en": "Dog registration",
    "department": "police",
    "legal_basis": "《示范市养犬管理条例》第十条",
    "legal_basis_en": "Demo City Dog Regulations, Article 10",
    "time_limit_days": "3",
    "fee": "免费",
    "steps": "网上申请\n审核\n发证",
    "facts": "applicant_name\napplicant_id_number\napplicant_phone, dog_breed",
    "materials": "dog_vaccination_proof | 犬只免疫证明 | Dog vaccination proof |  |  | ",
    "document": "养犬登记证",
    "holder": "",
    "results": "dog_licence_number | 登记证号 | Licence number | number | 是 | 20 |",
}


def _admin(browser):
    admin = browser("admin")
    assert admin.get("/admin/catalog").status_code == 200
    return admin


def test_facts_and_items_are_added_and_changed_in_the_pages(browser, rt):
    admin = _admin(browser)
    saved = admin.post("/admin/catalog/fact/new", data=FACT_FORM)
    assert (
        saved.status_code == 303
        and saved.headers["location"] == "/admin/catalog/fact/dog_breed?saved=1"
    )
    saved = admin.post("/admin/catalog/item/new", data=ITEM_FORM)
    assert saved.status_code == 303
    item = rt.catalog.items["police_dog_registration"]
    assert item.fact_keys == (
        "applicant_name",
        "applicant_id_number",
        "applicant_phone",
        "dog_breed",
    )
    assert [m.code for m in item.materials] == ["dog_vaccination_proof"]
    assert item.results[0].key == "dog_licence_number" and item.results[0].required
    assert item.results[0].max_length == 20
    page = admin.get("/admin/catalog/item/police_dog_registration").text
    assert "dog_vaccination_proof | 犬只免疫证明 | Dog vaccination proof" in page
    assert 'name="base" value="2"' in page
    # changed through the page: the form shows what is saved, so a save sends it back whole
    changed = admin.post(
        "/admin/catalog/item/police_dog_registration",
        data={**ITEM_FORM, "time_limit_days": "5", "base": "2"},
    )
    assert changed.status_code == 303
    assert rt.catalog.items["police_dog_registration"].time_limit_days == 5
    listing = admin.get("/admin/catalog").text
    assert 'data-code="police_dog_registration"' in listing, listing[
        listing.find("catalog-version") :
    ][:300]
    assert 'data-version="3"' in listing


def test_a_refused_save_names_the_field_and_keeps_what_was_typed(browser, rt):
    admin = _admin(browser)
    refused = admin.post(
        "/admin/catalog/item/new", data={**ITEM_FORM, "when": "dog_age > 1", "name": "养犬登记X"}
    )
    assert refused.status_code == 422
    assert 'data-field="when"' in refused.text
    assert 'id="f-when" name="when" maxlength="500" value="dog_age &gt; 1"' in refused.text
    assert 'aria-invalid="true"' in refused.text and "养犬登记X" in refused.text
    assert "police_dog_registration" not in rt.catalog.items
    refused = admin.post("/admin/catalog/item/new", data=ITEM_FORM)  # dog_breed not yet a fact
    assert refused.status_code == 422 and "dog_breed" in refused.text
    stale = admin.post("/admin/catalog/fact/new", data=FACT_FORM)
    assert stale.status_code == 303
    conflict = admin.post(
        "/admin/catalog/fact/dog_breed", data={**FACT_FORM, "label": "品种", "base": "0"}
    )
    assert conflict.status_code == 409
    for username in (MOTHER, "police01"):
        assert browser(username).client.get("/admin/catalog").status_code == 403


def test_versions_diff_rollback_and_export(browser, rt):
    admin = _admin(browser)
    admin.post("/admin/catalog/fact/new", data=FACT_FORM)
    admin.post("/admin/catalog/fact/dog_breed", data={**FACT_FORM, "label": "犬只品种（必填）"})
    versions = admin.get("/admin/catalog/versions").text
    assert 'data-version="2"' in versions and "fact:dog_breed" in versions
    diff = admin.get("/admin/catalog/versions/2").text
    assert 'data-code="dog_breed" data-change="changed"' in diff
    assert 'data-field="label"' in diff and "犬只品种（必填）" in diff
    rolled = admin.post("/admin/catalog/versions/1/rollback", data={"comment": "改回"})
    assert rolled.status_code == 303 and rolled.headers["location"].startswith(
        "/admin/catalog/versions/3"
    )
    assert rt.catalog.facts["dog_breed"].label == "犬只品种"
    exported = admin.client.get("/admin/catalog/export")
    assert exported.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(exported.content)) as files:
        names = files.namelist()
        assert "catalog-v3/dictionary.toml" in names and "catalog-v3/items/police.toml" in names
        assert "犬只品种" in files.read("catalog-v3/dictionary.toml").decode()


def test_the_api_does_what_the_pages_do(browser, rt):
    admin = browser("admin")
    headers = {"X-CSRF-Token": admin.csrf}
    api = "/api/v1/admin/catalog"
    created = admin.client.post(
        f"{api}/fact",
        json={
            "code": "dog_breed",
            "data": {k: v for k, v in FACT_FORM.items() if k not in ("code", "comment", "source")},
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    assert created.json() == {"version": 1, "kind": "fact", "code": "dog_breed"}
    entry = admin.client.get(f"{api}/fact/dog_breed").json()
    assert entry["version"] == 1 and entry["data"]["label"] == "犬只品种"
    data = {**entry["data"], "label": "品种"}
    assert (
        admin.client.put(
            f"{api}/fact/dog_breed", json={"data": data, "base": 1}, headers=headers
        ).status_code
        == 200
    )
    stale = admin.client.put(
        f"{api}/fact/dog_breed", json={"data": entry["data"], "base": 1}, headers=headers
    )
    assert stale.status_code == 409
    wrong = admin.client.put(
        f"{api}/fact/dog_breed", json={"data": {**data, "colour": "black"}}, headers=headers
    )
    assert wrong.status_code == 422 and "colour" in wrong.text
    listing = admin.client.get(api).json()
    assert listing["version"] == 2 and any(f["code"] == "dog_breed" for f in listing["facts"])
    diff = admin.client.get(f"{api}/versions/2").json()
    assert diff["changes"] == [
        {
            "kind": "fact",
            "code": "dog_breed",
            "change": "changed",
            "fields": [{"field": "label", "old": "犬只品种", "new": "品种"}],
        }
    ]
    rolled = admin.client.post(f"{api}/versions/1/rollback", json={}, headers=headers)
    assert rolled.json() == {"version": 3, "kind": "rollback", "code": "1"}
    assert [v["what"] for v in admin.client.get(f"{api}/versions").json()] == [
        "rollback:1",
        "fact:dog_breed",
        "fact:dog_breed",
    ]


def test_a_change_is_replayed_from_the_page_and_the_api_without_saving(browser, rt, user_of):
    store_case(rt, user_of, 1)
    admin = _admin(browser)
    code = "market_business_licence"
    page = admin.get(f"/admin/catalog/item/{code}").text
    days = rt.catalog.items[code].time_limit_days
    assert 'id="replay" name="action" value="replay"' in page
    with Session(rt.db) as session:
        fields = data_to_form("item", editing.entry(session, "item", code))
    shown = admin.post(
        f"/admin/catalog/item/{code}",
        data={**fields, "time_limit_days": str(days + 2), "action": "replay"},
    )
    assert shown.status_code == 200
    assert 'data-matter="convenience_store" data-differing="1" data-moved="1"' in shown.text
    assert 'id="replay-cases-convenience_store"' in shown.text
    assert rt.catalog.items[code].time_limit_days == days  # not saved
    with Session(rt.db) as session:
        data = editing.entry(session, "item", code)
    answer = admin.client.post(
        "/api/v1/admin/catalog/replay",
        json={"kind": "item", "code": code, "data": {**data, "time_limit_days": days + 2}},
        headers={"X-CSRF-Token": admin.csrf},
    )
    assert answer.status_code == 200, answer.text
    [result] = answer.json()
    assert result["matter"] == "convenience_store" and result["summary"]["moved"] == 1
