"""The combined-form compiler: dedup, prefill with provenance, conditions, validation, checklist."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from forms.catalog import CATALOG_DIR, CatalogError, default_catalog, load_catalog
from forms.compiler import Known, compile_form

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def known(**facts) -> dict[str, Known]:
    return {
        key: Known(value, "medical_insurance" if "maternity" in key else "population", "R1", NOW)
        for key, value in facts.items()
    }


PARENTS = dict(
    applicant_name="王芳",
    applicant_id_number="31010519940908028X",
    mother_name="王芳",
    mother_id_number="31010519940908028X",
    mother_hukou_address="上海市徐汇区",
    father_name="张伟",
    father_id_number="310104199205160353",
    father_hukou_address="上海市徐汇区",
)


def test_each_fact_is_asked_once_although_several_items_need_it():
    catalog = default_catalog()
    matter = catalog.matter("newborn")
    form = compile_form(catalog, matter, {})
    keys = [f.key for f in form.fields]
    assert len(keys) == len(set(keys))
    separately = sum(len(item.facts) for item in form.items)
    assert len(keys) < separately
    phone = next(f for f in form.fields if f.key == "applicant_phone")
    assert len(phone.items) >= 4  # one question serves every item that needs the phone


def test_prefilled_facts_are_read_only_with_provenance_and_cannot_be_overridden():
    catalog = default_catalog()
    form = compile_form(
        catalog, catalog.matter("newborn"), known(**PARENTS), {"mother_name": "冒名"}, validate=True
    )
    mother = next(f for f in form.fields if f.key == "mother_name")
    assert mother.readonly and mother.value == "王芳" and mother.known.registry == "population"
    assert form.values["mother_name"] == "王芳"
    assert "mother_name" not in {e.key for e in form.errors}


@pytest.mark.parametrize("insured", [True, False])
def test_maternity_allowance_section_follows_the_insurance_record(insured):
    catalog = default_catalog()
    form = compile_form(
        catalog, catalog.matter("newborn"), known(**PARENTS, mother_maternity_insurance=insured)
    )
    codes = {item.code for item in form.items}
    assert ("medical_maternity_allowance" in codes) is insured
    assert ("bank_card_number" in {f.key for f in form.fields}) is insured
    assert ({i.code for i in form.skipped_items} == {"medical_maternity_allowance"}) is not insured


def test_required_if_follows_the_answer():
    catalog = default_catalog()
    matter = catalog.matter("newborn")
    online = compile_form(
        catalog, matter, known(**PARENTS), {"delivery_method": "online"}, validate=True
    )
    post = compile_form(
        catalog, matter, known(**PARENTS), {"delivery_method": "post"}, validate=True
    )
    assert "delivery_address" not in {e.key for e in online.errors}
    assert "delivery_address" in {e.key for e in post.errors}


def test_checklist_exempts_what_registries_supplied_and_asks_for_the_rest():
    catalog = default_catalog()
    matter = catalog.matter("newborn")
    without_marriage = compile_form(catalog, matter, known(**PARENTS))
    by_code = {e.code: e for e in without_marriage.checklist}
    assert by_code["parents_id_cards"].status == "exempt"
    assert "人口库" in by_code["parents_id_cards"].reason
    assert by_code["marriage_certificate"].status == "upload"
    assert "婚姻登记库" in by_code["marriage_certificate"].reason
    with_marriage = compile_form(catalog, matter, known(**PARENTS, marriage_cert_number="J1"))
    assert {e.code: e.status for e in with_marriage.checklist}["marriage_certificate"] == "exempt"
    # A material several items need appears once, naming every item.
    certificate = by_code["birth_medical_certificate"]
    assert len(certificate.items) >= 3


def test_catalog_errors_name_the_file_and_the_problem(tmp_path: Path):
    source = CATALOG_DIR
    for name in ("departments.toml", "dictionary.toml"):
        (tmp_path / name).write_bytes((source / name).read_bytes())
    (tmp_path / "items").mkdir()
    (tmp_path / "matters").mkdir()
    (tmp_path / "items" / "bad.toml").write_text(
        '[[item]]\ncode = "x"\nname = "X"\ndepartment = "nowhere"\ntime_limit_days = -1\n'
        'facts = ["no_such_fact"]\nwhen = "__import__(\'os\')"\n',
        encoding="utf-8",
    )
    (tmp_path / "matters" / "m.toml").write_text(
        'code = "m"\nname = "M"\nbpmn = "m.bpmn"\nprocess_id = "m"\nitems = ["x", "y"]\n',
        encoding="utf-8",
    )
    with pytest.raises(CatalogError) as raised:
        load_catalog(tmp_path)
    text = "\n".join(raised.value.problems)
    assert "items/bad.toml: item x: unknown department 'nowhere'" in text
    assert "no_such_fact" in text and "time_limit_days" in text and "__import__" in text
    assert "matters/m.toml: unknown item 'y'" in text
