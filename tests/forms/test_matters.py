"""The ten matters: their processes, catalog items and conditions agree, and each demo citizen's
application is routed to the right departments and runs to completion.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlmodel import Session, col, select
from stdnum import luhn

from demo.people import DEMO_PEOPLE
from engine import cases as runner
from engine.sandbox import check_expression
from engine.specs import ProcessSpec, SpecCache
from forms.catalog import Catalog, Fact, Matter, default_catalog
from forms.compiler import PROCESS_VARIABLES, Known, compile_form, process_data
from services.cases.decisions import decide
from services.cases.models import Case, CaseItem
from services.cases.submission import prepare_form, submit_application
from services.cases.uploads import UploadedFile
from services.registries.embedded import EmbeddedRegistry
from services.registries.prefill import prefill

BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"
BPMN = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
CATALOG = default_catalog()
MATTERS = sorted(CATALOG.matters)
PDF = b"%PDF-1.4\n% test upload\n"
CONSTANTS = {"True", "False", "None"}
# What clerks decide is process data too: decision_<item> ("approved", "rejected", "correction").
DECISIONS = {f"decision_{code}" for code in CATALOG.items}
SYSTEM = PROCESS_VARIABLES.keys() | DECISIONS


def _spec(matter: Matter) -> ProcessSpec:
    return SpecCache().load_file(BPMN_DIR / matter.bpmn, matter.process_id)


def _names(expression: str) -> set[str]:
    return {
        node.id
        for node in ast.walk(ast.parse(expression, mode="eval"))
        if isinstance(node, ast.Name) and node.id not in CONSTANTS
    }


def _always_asked(catalog: Catalog, matter: Matter) -> set[str]:
    """Facts of the matter's unconditional items: always in the case data the process sees."""
    return {key for item in catalog.items_of(matter) if item.when is None for key in item.facts}


def _bpmn_conditions(matter: Matter) -> list[str]:
    root = etree.parse(str(BPMN_DIR / matter.bpmn)).getroot()
    return [c.text.strip() for c in root.iterfind(".//bpmn:conditionExpression", BPMN)]


def _known(values: dict[str, Any]) -> dict[str, Known]:
    now = datetime.now(UTC)
    return {key: Known(value, "test", f"test-{key}", now) for key, value in values.items()}


def _route(spec: ProcessSpec, form, known: dict[str, Known]) -> list[str]:
    """Run the process on the data submit_application gives it, approving every task.

    Returns the items of the tasks, in order.
    """
    workflow = runner.start(spec, process_data(CATALOG, form, known))
    done: list[str] = []
    while ready := runner.ready_tasks(spec, workflow):
        for task in ready:
            done.append(task.item)
            runner.complete(workflow, task.task_id, {f"decision_{task.item}": "approved"})
    assert runner.is_completed(workflow)
    return done


# --- processes and catalog agree ---------------------------------------------------------------


@pytest.mark.parametrize("code", MATTERS)
def test_matter_process_parses_and_is_named_by_the_catalog(code):
    matter = CATALOG.matter(code)
    spec = _spec(matter)
    assert spec.process_id == matter.process_id
    assert spec.user_tasks


@pytest.mark.parametrize("code", MATTERS)
def test_every_user_task_is_a_matter_item_in_its_departments_lane(code):
    matter = CATALOG.matter(code)
    spec = _spec(matter)
    departmental = [i for i in spec.user_tasks.values() if i.kind != "correction"]
    corrections = [i for i in spec.user_tasks.values() if i.kind == "correction"]
    bound = [info.item for info in departmental]
    assert sorted(bound) == sorted(matter.items), "each item exactly once as a user task"
    for info in departmental:
        assert info.lane in CATALOG.departments and info.lane != "center", info
        assert CATALOG.items[info.item].department == info.lane, info
    # every item can be sent back to the applicant for correction (补正), in the applicant's lane
    assert sorted(i.item for i in corrections) == sorted(matter.items)
    assert {i.lane for i in corrections} == {"applicant"}
    # and carries its statutory deadline timers
    assert sorted(i.item for i in spec.timers.values()) == sorted(matter.items * 2)


def test_no_bpmn_file_repeats_an_id():
    for path in BPMN_DIR.glob("*.bpmn"):
        ids = [el.get("id") for el in etree.parse(str(path)).getroot().iter() if el.get("id")]
        assert len(ids) == len(set(ids)), path.name


@pytest.mark.parametrize("code", MATTERS)
def test_process_has_diagram_defaults_and_no_reserved_ids(code):
    root = etree.parse(str(BPMN_DIR / CATALOG.matter(code).bpmn)).getroot()
    ids = {el.get("id") for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    assert not ids & {"Start", "End"}
    for gateway in root.iterfind(".//bpmn:exclusiveGateway", BPMN):
        if len(gateway.findall("bpmn:outgoing", BPMN)) > 1:
            assert gateway.get("default"), f"{gateway.get('id')} needs a default flow"
    di = "{http://www.omg.org/spec/BPMN/20100524/DI}"
    shown = {el.get("bpmnElement") for el in root.iter(f"{di}BPMNShape", f"{di}BPMNEdge")}
    process = root.find("bpmn:process", BPMN)
    drawn = {el.get("id") for el in process.iter() if el.get("id")}
    drawn -= {process.get("id"), process.find("bpmn:laneSet", BPMN).get("id")}
    assert drawn <= shown, f"elements without a shape or edge: {drawn - shown}"
    participant = root.find("bpmn:collaboration/bpmn:participant", BPMN)
    assert participant.get("processRef") == process.get("id")
    assert participant.get("id") in shown


def test_every_catalog_condition_compiles_in_the_sandbox():
    expressions = [fact.required_if for fact in CATALOG.facts.values() if fact.required_if]
    for item in CATALOG.items.values():
        expressions += [item.when] if item.when else []
        expressions += [group.when for group in item.facts_if]
        expressions += [m.when for m in item.materials if m.when]
    for matter in CATALOG.matters.values():
        expressions += _bpmn_conditions(matter)
    assert len(expressions) > 30
    for expression in expressions:
        assert check_expression(expression) == [], expression
        assert _names(expression) <= CATALOG.facts.keys() | SYSTEM, expression


@pytest.mark.parametrize("code", MATTERS)
def test_branches_turn_on_facts_that_are_asked_or_come_from_a_registry(code):
    """A branch over a fact nobody asks would be skipped silently when no registry knows it."""
    matter = CATALOG.matter(code)
    asked = _always_asked(CATALOG, matter)
    conditions = _bpmn_conditions(matter)
    conditions += [item.when for item in CATALOG.items_of(matter) if item.when]
    assert conditions, "every matter has at least one data-driven branch"
    for expression in conditions:
        for key in _names(expression) - asked - SYSTEM:
            assert CATALOG.facts[key].source, f"{expression}: {key} is never asked"


@pytest.mark.parametrize("code", MATTERS)
def test_combined_form_asks_fewer_facts_than_its_items_together(code):
    matter = CATALOG.matter(code)
    switched_on: dict[str, Any] = {}
    for branch_matter, _item, included, _excluded in BRANCHES:
        if branch_matter == code:
            for key, value in included.items():
                switched_on.setdefault(key, value)
    form = compile_form(CATALOG, matter, _known(switched_on))
    assert len(form.items) >= 3
    assert len(form.fields) < sum(len(item.facts) for item in form.items)
    items = CATALOG.items_of(matter)
    assert len({key for item in items for key in item.facts}) < sum(len(i.facts) for i in items)


# --- conditional items follow the data, in the form and in the process alike -------------------

BRANCHES = [
    # (matter, item, facts that include it, facts that leave it out)
    ("newborn", "medical_maternity_allowance",
     {"mother_maternity_insurance": True}, {"mother_maternity_insurance": False}),
    ("school_enrollment", "natural_resources_home_verification",
     {"school_residence_basis": "own_property"}, {"school_residence_basis": "hukou_only"}),
    ("school_enrollment", "police_residence_permit_verification",
     {"school_residence_basis": "residence_permit"}, {"school_residence_basis": "own_property"}),
    ("school_enrollment", "hrss_insurance_record_verification",
     {"school_residence_basis": "residence_permit"}, {"school_residence_basis": "hukou_only"}),
    ("retirement", "hrss_only_child_bonus",
     {"only_child_parent": True}, {"only_child_parent": False}),
    ("retirement", "housing_fund_retirement_withdrawal",
     {"housing_fund_has_account": True}, {"housing_fund_has_account": False}),
    ("employment", "hrss_graduate_archive",
     {"applicant_new_graduate": True}, {"applicant_new_graduate": False}),
    ("housing_fund", "housing_fund_spouse_purchase_withdrawal",
     {"spouse_withdraws": True}, {"spouse_withdraws": False}),
    ("real_estate_transfer", "utilities_gas_transfer",
     {"property_has_gas": True}, {"property_has_gas": False}),
    ("real_estate_transfer", "utilities_heating_transfer",
     {"property_has_heating": True}, {"property_has_heating": False}),
    ("veteran", "police_veteran_hukou_restoration",
     {"veteran_hukou_restored": False}, {"veteran_hukou_restored": True}),
    ("veteran", "veterans_one_off_grant",
     {"veteran_placement": "self_employment"}, {"veteran_placement": "assigned_job"}),
    ("veteran", "veterans_vocational_training", {"wants_training": True}, {"wants_training": False}),
    ("unemployment", "hrss_unemployment_benefit",
     {"unemployment_insured": True, "separation_reason": "contract_expired"},
     {"unemployment_insured": True, "separation_reason": "resigned"}),
    ("unemployment", "medical_unemployed_insurance",
     {"unemployment_insured": True, "separation_reason": "employer_closed"},
     {"unemployment_insured": False, "separation_reason": "employer_closed"}),
    ("unemployment", "hrss_training_subsidy", {"wants_training": True}, {"wants_training": False}),
    ("death", "health_death_medical_certificate",
     {"deceased_death_cause": "natural"}, {"deceased_death_cause": "unnatural"}),
    ("death", "police_unnatural_death_certificate",
     {"deceased_death_cause": "unnatural"}, {"deceased_death_cause": "natural"}),
    ("death", "hrss_survivor_allowance",
     {"deceased_pension_insured": True, "deceased_has_dependants": True},
     {"deceased_pension_insured": True, "deceased_has_dependants": False}),
    ("death", "housing_fund_heir_withdrawal",
     {"deceased_has_housing_fund": True}, {"deceased_has_housing_fund": False}),
    ("convenience_store", "market_food_prepackaged_filing",
     {"food_sales": "prepackaged"}, {"food_sales": "bulk"}),
    ("convenience_store", "market_food_business_licence",
     {"food_sales": "bulk"}, {"food_sales": "none"}),
    ("convenience_store", "hrss_employer_insurance_registration",
     {"employee_count": 3}, {"employee_count": 0}),
    ("convenience_store", "housing_fund_employer_registration",
     {"employee_count": 3, "business_form": "llc"},
     {"employee_count": 3, "business_form": "individual"}),
    ("convenience_store", "bank_account_opening",
     {"wants_bank_account": True}, {"wants_bank_account": False}),
]  # fmt: skip


@pytest.mark.parametrize(("code", "item", "included", "excluded"), BRANCHES)
def test_conditional_item_follows_the_data_in_form_and_process(code, item, included, excluded):
    matter = CATALOG.matter(code)
    spec = _spec(matter)
    for facts, expected in ((included, True), (excluded, False)):
        form = compile_form(CATALOG, matter, _known(facts))
        compiled = {i.code for i in form.items}
        assert (item in compiled) is expected, facts
        assert (item in {i.code for i in form.skipped_items}) is not expected
        routed = _route(spec, form, _known(facts))
        assert sorted(routed) == sorted(compiled), f"process and form disagree for {facts}"


def test_conditional_facts_are_asked_only_when_they_apply():
    matter = CATALOG.matter("convenience_store")
    llc = compile_form(CATALOG, matter, _known({"business_form": "llc", "needs_invoices": True}))
    shop = compile_form(CATALOG, matter, _known({"business_form": "individual"}))
    assert {"registered_capital", "invoice_monthly_amount"} <= {f.key for f in llc.fields}
    assert not {"registered_capital", "invoice_monthly_amount"} & {f.key for f in shop.fields}
    assert "articles_of_association" in {e.code for e in llc.uploads}
    assert "articles_of_association" not in {e.code for e in shop.checklist}


# --- prefill ------------------------------------------------------------------------------------

LOGINS = [p for p in DEMO_PEOPLE if p.login]


@pytest.mark.parametrize("person", LOGINS, ids=lambda p: f"{p.matter}-{p.role}")
def test_every_prefilled_fact_comes_from_a_logged_read(registry_path, person):
    matter = CATALOG.matter(person.matter)
    lookup = prefill(EmbeddedRegistry(registry_path), person.id_number, matter.subjects)
    assert lookup.facts
    read = {(r.registry, r.record_id) for r in lookup.reads}
    for key, known in lookup.facts.items():
        assert key in CATALOG.facts, key
        assert (known.registry, known.record_id) in read, key


# --- demo citizens apply and every department decides ---------------------------------------

BANK_CARD = "622202100112233445" + luhn.calc_check_digit("622202100112233445")
SAMPLES = {
    "text": "测试",
    "citizen_id": "310101199201250766",
    "uscc": "91310106593128463P",
    "phone": "13912345678",
    "date": "2026-11-13",
    "bank_card": BANK_CARD,
    "address": "上海市普陀区铜川路1500弄3号801室",
    "integer": 1,
    "bool": False,
}
COMMON = {"applicant_phone": "13912345678", "bank_name": "中国工商银行上海市分行"}


def common_for(code: str) -> dict[str, Any]:
    """COMMON's answers that the matter's form may ask (an answer for another fact is refused)."""
    keys = {key for item in CATALOG.items_of(CATALOG.matter(code)) for key in item.fact_keys}
    return {key: value for key, value in COMMON.items() if key in keys}


# (matter, demo role, answers beyond the generic samples, the items routed until completion)
APPLICATIONS = [
    ("newborn", "mother", {"household_parent": "father"},
     {"health_birth_medical_certificate", "police_birth_registration",
      "medical_resident_enrollment", "hrss_social_security_card", "cdc_vaccination_certificate",
      "medical_maternity_allowance"}),
    ("newborn", "father", {"child_name": "张一鸣", "household_parent": "father"},
     {"health_birth_medical_certificate", "police_birth_registration",
      "medical_resident_enrollment", "hrss_social_security_card",
      "cdc_vaccination_certificate"}),
    ("school_enrollment", "parent", {"delivery_method": "online"},
     {"police_hukou_verification", "natural_resources_home_verification",
      "education_primary_enrollment", "cdc_vaccination_check"}),
    ("retirement", "applicant",
     {"retirement_type": "statutory", "retirement_date": "2026-12-15",
      "only_child_parent": True, "personnel_file_keeper": "employer"},
     {"hrss_pension_claim", "medical_retiree_benefits", "housing_fund_retirement_withdrawal",
      "hrss_personnel_file_transfer", "hrss_only_child_bonus"}),
    ("employment", "graduate",
     {"applicant_education": "bachelor", "applicant_new_graduate": True,
      "graduate_school": "复旦大学", "graduation_date": "2026-06-30",
      "employment_start_date": "2026-07-01", "labor_contract_type": "fixed_term"},
     {"hrss_employment_registration", "hrss_social_insurance_enrollment",
      "medical_employee_enrollment", "housing_fund_account_opening", "hrss_graduate_archive"}),
    ("housing_fund", "applicant",
     {"purchase_kind": "new_commercial", "transfer_price": 3_200_000,
      "withdrawal_amount": 150_000, "spouse_withdraws": False},
     {"natural_resources_purchase_verification", "tax_deed_tax_verification",
      "housing_fund_purchase_withdrawal"}),
    ("real_estate_transfer", "seller",
     {"buyer_name": "马晓燕", "buyer_id_number": "310101199201250766",
      "buyer_phone": "13812345678", "transfer_price": 4_100_000,
      "transfer_contract_number": "HT20261120001", "buyer_first_home": True,
      "property_has_gas": True, "property_has_heating": False},
     {"tax_property_transfer_taxes", "natural_resources_transfer_registration",
      "utilities_water_transfer", "utilities_power_transfer", "utilities_gas_transfer"}),
    ("veteran", "veteran",
     {"wants_training": True, "training_occupation": "电工", "applicant_education": "senior_high"},
     {"veterans_reporting", "armed_forces_reserve_registration",
      "hrss_veteran_insurance_transfer", "medical_veteran_insurance_transfer",
      "veterans_one_off_grant", "veterans_vocational_training"}),
    ("unemployment", "applicant",
     {"separation_reason": "contract_expired", "applicant_education": "bachelor"},
     {"hrss_unemployment_registration", "hrss_unemployment_benefit",
      "medical_unemployed_insurance"}),
    ("death", "applicant",
     {"applicant_relation_to_deceased": "child", "funeral_home": "上海市龙华殡仪馆"},
     {"health_death_medical_certificate", "civil_cremation_certificate",
      "police_death_household_cancellation", "medical_death_termination",
      "hrss_death_pension_settlement", "housing_fund_heir_withdrawal"}),
    ("convenience_store", "applicant",
     {"enterprise_name": "上海市普陀区海波便利店", "business_form": "individual",
      "business_scope": "食品销售（仅预包装食品）；日用百货销售", "employee_count": 2,
      "food_sales": "prepackaged", "wants_bank_account": True,
      "business_bank": "中国工商银行上海普陀支行", "needs_invoices": True,
      "invoice_monthly_amount": 50_000, "delivery_method": "online"},
     {"market_business_licence", "market_food_prepackaged_filing",
      "tax_new_taxpayer_registration", "police_seal_engraving", "bank_account_opening",
      "hrss_employer_insurance_registration"}),
]  # fmt: skip


# What the one window routes at submission; the rest follows as departments decide.
# Items an automatic (DMN) check approves at once for the demo applicants (秒批).
INSTANT = {"newborn": {"medical_resident_enrollment"}}

FIRST_ROUTED = {
    "school_enrollment": {"police_hukou_verification", "natural_resources_home_verification"},
    "retirement": {"hrss_pension_claim"},
    "employment": {"hrss_employment_registration"},
    "housing_fund": {"natural_resources_purchase_verification", "tax_deed_tax_verification"},
    "real_estate_transfer": {"tax_property_transfer_taxes"},
    "veteran": {"veterans_reporting"},
    "unemployment": {"hrss_unemployment_registration"},
    "death": {"health_death_medical_certificate"},
    "convenience_store": {"market_business_licence"},
}


def _sample(fact: Fact) -> Any:
    if fact.type == "enum":
        return fact.options[0].value
    return SAMPLES[fact.type]


def test_every_matter_has_a_demo_application():
    assert {matter for matter, *_ in APPLICATIONS} == set(MATTERS)
    login_roles = {(p.matter, p.role) for p in LOGINS}
    assert {(matter, role) for matter, role, *_ in APPLICATIONS} <= login_roles


@pytest.mark.parametrize(
    ("code", "role", "answers", "expected"),
    [
        pytest.param(*application, id=f"{application[0]}-{application[1]}")
        for application in APPLICATIONS
    ],
)
def test_demo_citizen_application_reaches_the_right_departments(
    rt, user_of, code, role, answers, expected
):
    person = next(p for p in LOGINS if p.matter == code and p.role == role)
    citizen = user_of(person.id_number)
    filled = {**common_for(code), **answers}
    for _round in range(3):  # answers may switch on conditional items that ask more
        with Session(rt.db) as session:
            form = prepare_form(
                session, rt, user=citizen, matter_code=code, answers=filled, consented=True
            )
        missing = [f for f in form.fields if f.known is None and f.required and f.key not in filled]
        filled.update({f.key: _sample(f.fact) for f in missing})
    assert not missing
    assert any(entry.status == "exempt" for entry in form.checklist)
    uploads = [UploadedFile(entry.code, f"{entry.code}.pdf", PDF) for entry in form.uploads]
    with Session(rt.db) as session:
        case = submit_application(
            session,
            rt,
            user=citizen,
            matter_code=code,
            answers=filled,
            uploads=uploads,
            consented=True,
        )
        case_id = case.id
    for decided_round in range(10):
        with Session(rt.db) as session:
            open_items = session.exec(
                select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.status == "processing")
            ).all()
        if decided_round == 0:
            first = FIRST_ROUTED.get(code, expected) - INSTANT.get(code, set())
            assert {row.item_code for row in open_items} == first
        if not open_items:
            break
        for row in open_items:
            clerk = user_of(f"{row.department}01")
            with Session(rt.db) as session:
                decide(session, rt, user=clerk, item_id=row.id, decision="approved")
    with Session(rt.db) as session:
        rows = session.exec(
            select(CaseItem).where(CaseItem.case_id == case_id).order_by(col(CaseItem.id))
        ).all()
        case = session.get(Case, case_id)
        assert case.status == "completed" and case.outcome == "approved"
    assert {row.item_code for row in rows} == expected
    for row in rows:
        assert row.department == rt.catalog.items[row.item_code].department
