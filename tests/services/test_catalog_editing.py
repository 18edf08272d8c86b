"""Administrators edit the catalog (services/configuration/catalog.py): facts, items and
matters saved as versions, checked field by field and as a whole, applied to new applications,
diffed, rolled back and exported as the files they are seeded from."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from sqlmodel import Session, select

from forms.catalog import load_catalog, read_departments
from services.cases.models import CaseItem
from services.cases.submission import prepare_form, submit_application
from services.configuration import catalog as editing
from services.errors import Conflict, Forbidden, InvalidInput
from services.processes import deploy, matter_content
from tests.forms.test_matters import LOGINS

DOG_BREED = {
    "subject": "applicant",
    "label": "犬只品种",
    "label_en": "Dog breed",
    "type": "text",
    "help": "如：中华田园犬",
}
DOG_ITEM = {
    "name": "养犬登记",
    "name_en": "Dog registration",
    "department": "police",
    "legal_basis": "《示范市养犬管理条例》第十条",
    "legal_basis_en": "Demo City Dog Regulations, Article 10",
    "time_limit_days": 3,
    "facts": ["applicant_name", "applicant_id_number", "applicant_phone", "dog_breed"],
    "materials": [
        {
            "code": "dog_vaccination_proof",
            "name": "犬只免疫证明",
            "name_en": "Dog vaccination proof",
        }
    ],
    "document": "养犬登记证",
    "document_en": "Dog registration certificate",
    "results": [
        {"key": "dog_licence_number", "label": "登记证号", "type": "number", "required": True}
    ],
}
DOG_MATTER = {
    "name": "养犬一件事",
    "name_en": "Keeping a dog",
    "summary": "养犬登记一次办好。",
    "items": ["police_dog_registration"],
    "subjects": ["applicant"],
}


def save(rt, user, kind, code, data, **kwargs):
    with Session(rt.db) as session:
        return editing.save(session, rt, user=user, kind=kind, code=code, data=data, **kwargs)


def add_dog_matter(rt, admin) -> None:
    save(rt, admin, "fact", "dog_breed", DOG_BREED, new=True, comment="养犬登记要问品种")
    save(rt, admin, "item", "police_dog_registration", DOG_ITEM, new=True)
    save(rt, admin, "matter", "pet_dog", DOG_MATTER, new=True)


def test_a_new_fact_item_and_matter_take_effect_and_a_citizen_applies(rt, user_of):
    admin = user_of("admin")
    add_dog_matter(rt, admin)
    assert rt.catalog.facts["dog_breed"].label == "犬只品种"
    assert rt.catalog.items["police_dog_registration"].time_limit_days == 3
    matter = rt.catalog.matters["pet_dog"]
    assert matter.items == ("police_dog_registration",) and not matter.published
    with Session(rt.db) as session:
        assert editing.current_number(session) == 3
        content = matter_content(session, rt, matter_code="pet_dog")
    # the plain process drawn from the items: one department task, its lane named and bound
    assert b'name="item" value="police_dog_registration"' in content
    assert b'name="department" value="police"' in content and "公安局".encode() in content
    assert b"BPMNShape" in content  # laid out, not stacked
    # offered only once its process is checked and deployed
    with pytest.raises(InvalidInput) as refused:
        save(rt, admin, "matter", "pet_dog", {**DOG_MATTER, "published": True})
    assert "published" in refused.value.fields
    with Session(rt.db) as session:
        deploy(session, rt, author=admin, matter_code="pet_dog", content=content, comment="按事项")
    save(rt, admin, "matter", "pet_dog", {**DOG_MATTER, "published": True})
    assert rt.catalog.matters["pet_dog"].published
    citizen = user_of(next(p for p in LOGINS if p.matter == "newborn").id_number)
    answers = {
        "applicant_phone": "13800138000",
        "dog_breed": "中华田园犬",
    }
    with Session(rt.db) as session:
        form = prepare_form(
            session, rt, user=citizen, matter_code="pet_dog", answers=answers, consented=True
        )
    keys = {f.key for f in form.fields}
    assert "dog_breed" in keys
    assert [u.code for u in form.uploads] == ["dog_vaccination_proof"]
    from services.cases.uploads import UploadedFile

    with Session(rt.db) as session:
        case = submit_application(
            session,
            rt,
            user=citizen,
            matter_code="pet_dog",
            answers=answers,
            uploads=[UploadedFile("dog_vaccination_proof", "proof.pdf", b"%PDF-1.4\n%%EOF\n")],
            consented=True,
        )
        items = session.exec(select(CaseItem).where(CaseItem.case_id == case.id)).all()
    assert [(i.item_code, i.department) for i in items] == [("police_dog_registration", "police")]


def test_every_field_is_checked_by_allow_list_and_named(rt, user_of):
    admin = user_of("admin")
    cases = [
        ("fact", "dog_breed", {**DOG_BREED, "type": "colour"}, "type"),
        ("fact", "dog_breed", {**DOG_BREED, "source": "zoo"}, "source"),
        ("fact", "dog_breed", {**DOG_BREED, "secret": 1}, "secret"),
        ("fact", "Dog", DOG_BREED, "code"),
        ("fact", "dog_breed", {**DOG_BREED, "required_if": "__import__('os')"}, "required_if"),
        ("item", "police_dog_registration", {**DOG_ITEM, "time_limit_days": -1}, "time_limit_days"),
        ("item", "police_dog_registration", {**DOG_ITEM, "when": "dog_age > 1"}, "when"),
        ("item", "police_dog_registration", {**DOG_ITEM, "department": "zoo"}, "department"),
        (
            "item",
            "police_dog_registration",
            {**DOG_ITEM, "materials": [{"code": "X", "name": "证明"}]},
            "materials.0.code",
        ),
        ("matter", "pet_dog", {**DOG_MATTER, "subjects": ["pets"]}, "subjects"),
    ]
    for kind, code, data, field in cases:
        with pytest.raises(InvalidInput) as refused:
            save(rt, admin, kind, code, data, new=True)
        assert field in refused.value.fields, (field, refused.value.fields)
        assert refused.value.message and refused.value.message_en
    # the whole catalog is checked too: an item naming a fact the dictionary lacks
    with pytest.raises(InvalidInput) as refused:
        save(rt, admin, "item", "police_dog_registration", DOG_ITEM, new=True)
    assert "dog_breed" in refused.value.message_en
    with Session(rt.db) as session:
        assert editing.current_number(session) == 0  # nothing stored
    with pytest.raises(Forbidden):
        save(rt, user_of("police01"), "fact", "dog_breed", DOG_BREED, new=True)


def test_fixed_fields_and_conflicting_saves_are_refused(rt, user_of):
    admin = user_of("admin")
    add_dog_matter(rt, admin)
    with pytest.raises(InvalidInput) as refused:
        save(rt, admin, "item", "police_dog_registration", {**DOG_ITEM, "department": "market"})
    assert "department" in refused.value.fields
    with pytest.raises(InvalidInput) as refused:
        save(rt, admin, "fact", "dog_breed", {**DOG_BREED, "type": "integer"})
    assert "type" in refused.value.fields
    with pytest.raises(InvalidInput):
        save(rt, admin, "fact", "dog_breed", DOG_BREED, new=True)  # exists
    with pytest.raises(Conflict):
        save(
            rt, admin, "item", "police_dog_registration", {**DOG_ITEM, "time_limit_days": 5}, base=1
        )
    with pytest.raises(InvalidInput) as refused:
        save(rt, admin, "fact", "dog_breed", DOG_BREED)
    assert "nothing changed" in refused.value.message_en


def test_versions_diff_and_rollback(rt, user_of):
    admin = user_of("admin")
    add_dog_matter(rt, admin)
    save(
        rt,
        admin,
        "item",
        "police_dog_registration",
        {**DOG_ITEM, "time_limit_days": 5},
        comment="缩短",
    )
    assert rt.catalog.items["police_dog_registration"].time_limit_days == 5
    with Session(rt.db) as session:
        rows = editing.versions(session)
        assert [(v.number, v.what) for v in rows] == [
            (4, "item:police_dog_registration"),
            (3, "matter:pet_dog"),
            (2, "item:police_dog_registration"),
            (1, "fact:dog_breed"),
        ]
        assert rows[0].comment == "缩短" and rows[0].author_user_id == admin.id
        changes = editing.diff(editing.document_at(session, 3), editing.document_at(session, 4))
        assert [(c.kind, c.code, c.change) for c in changes] == [
            ("item", "police_dog_registration", "changed")
        ]
        assert [(f.field, f.old, f.new) for f in changes[0].fields] == [
            ("time_limit_days", "3", "5")
        ]
        added = editing.diff(editing.document_at(session, 0), editing.document_at(session, 3))
        assert {(c.kind, c.code, c.change) for c in added} == {
            ("fact", "dog_breed", "added"),
            ("item", "police_dog_registration", "added"),
            ("matter", "pet_dog", "added"),
        }
        editing.rollback(session, rt, user=admin, number=3, comment="恢复")
    assert rt.catalog.items["police_dog_registration"].time_limit_days == 3
    with Session(rt.db) as session:
        # back to the seed: the matter made since stays (cases may name it)
        editing.rollback(session, rt, user=admin, number=0)
        assert editing.versions(session)[0].what == "rollback:0"
    assert "pet_dog" in rt.catalog.matters


def test_another_process_sees_a_save(rt, user_of):
    from forms.catalog import copy_catalog, default_catalog

    other = editing.apply_current(rt.db, copy_catalog(default_catalog()))
    add_dog_matter(rt, user_of("admin"))
    assert "pet_dog" not in other.matters
    assert editing._refresh(rt.db, other)
    assert other.matters["pet_dog"].items == ("police_dog_registration",)
    assert not editing._refresh(rt.db, other)  # nothing new: nothing done
    assert "pet_dog" not in default_catalog().matters  # the shared seed is never changed


def test_the_export_is_the_catalog_files_and_loads_back(rt, user_of, tmp_path):
    add_dog_matter(rt, user_of("admin"))
    with Session(rt.db) as session:
        number = editing.current_number(session)
        archive = editing.export_zip(editing.document_at(session, number), number)
    with zipfile.ZipFile(io.BytesIO(archive)) as files:
        files.extractall(tmp_path)
    exported = tmp_path / f"catalog-v{number}"
    shipped = Path(__file__).parents[2] / "forms" / "catalog"
    (exported / "departments.toml").write_bytes((shipped / "departments.toml").read_bytes())
    loaded = load_catalog(exported)
    assert loaded.items == rt.catalog.items | {
        code: item for code, item in loaded.items.items() if code not in rt.catalog.items
    }
    assert set(loaded.items) == set(rt.catalog.items)
    assert loaded.facts == rt.catalog.facts
    assert set(loaded.matters) == set(rt.catalog.matters)
    assert loaded.matters["pet_dog"] == rt.catalog.matters["pet_dog"]
    assert read_departments(exported).keys() == rt.catalog.departments.keys()


def test_a_change_is_replayed_on_recent_cases_before_it_is_saved(rt, user_of):
    from tests.services.test_replay import store_case

    admin = user_of("admin")
    store_case(rt, user_of, 1)
    store_case(rt, user_of, 2)
    code = "market_business_licence"  # the first item: open with a due date
    with Session(rt.db) as session:
        data = editing.entry(session, "item", code)
        days = data["time_limit_days"]
        results = editing.preview(
            session,
            rt,
            user=admin,
            kind="item",
            code=code,
            data={**data, "time_limit_days": days + 2},
            limit=5,
        )
        assert editing.current_number(session) == 0  # nothing saved
    assert [r.matter_code for r in results] == ["convenience_store"]
    moved = [m for case in results[0].cases for m in case.deadline_moves]
    assert results[0].compared == 2 and moved
    assert {(m.item.code, m.days) for m in moved} == {(code, 2)}
    assert rt.catalog.items[code].time_limit_days == days
    # a fact reaches every matter whose items ask it
    assert "newborn" in editing.affected_matters(rt.catalog, "fact", "child_name")


def test_every_shipped_entry_is_editable_and_round_trips_unchanged():
    """Each fact, item and matter of the seed passes its draft's allow-list, and what the draft
    gives back builds the very same catalog: opening and saving a shipped entry changes nothing."""
    from forms.catalog import build_catalog, default_catalog

    document = editing.seed_document()
    kept = ("code", *editing.KEPT)  # kept from the files, not edited (a matter's offers too)
    for kind, section in editing.SECTION.items():
        for code, data in document[section].items():
            draft = editing.parse_draft(kind, {k: v for k, v in data.items() if k not in kept})
            document[section][code] = {
                **{k: data[k] for k in kept if k in data},
                **editing._raw(draft),
            }
    rebuilt = build_catalog(document, default_catalog().departments)
    shipped = default_catalog()
    assert rebuilt.facts == shipped.facts
    assert rebuilt.items == shipped.items
    assert rebuilt.matters == shipped.matters
