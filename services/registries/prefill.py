"""Resolve the subjects of a matter from the registries and turn their records into facts.

A subject resolver knows how to find one subject (the applicant, the newborn child, the
mother, ...) for the signed-in applicant, and which dictionary facts its records supply.
Every record read is noted in a `Lookup` so the caller can log it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from forms.compiler import Known
from services.calendar import statutory_retirement_date
from services.metrics import timed
from services.registries.records import (
    HousingFund,
    Marriage,
    MedicalInsurance,
    Person,
    RealEstate,
    Registry,
    RegistryUnavailable,
    SocialInsurance,
    Source,
)


@dataclass(frozen=True)
class Read:
    """One registry record read about one person."""

    registry: str
    record_id: str
    subject_id_number: str


@dataclass
class Lookup:
    """What a prefill run found: facts by key, and every record it read."""

    registry: Registry
    applicant_id_number: str
    facts: dict[str, Known] = field(default_factory=dict)
    reads: list[Read] = field(default_factory=list)
    found: dict[str, Any] = field(default_factory=dict)  # resolved records by subject
    unavailable: dict[str, RegistryUnavailable] = field(default_factory=dict)  # by registry
    snapshot_id: int | None = None  # the PrefillSnapshot keeping these facts for the application

    def note(self, source: Source, subject_id_number: str) -> None:
        read = Read(source.registry, source.record_id, subject_id_number)
        if read not in self.reads:
            self.reads.append(read)

    def put(self, key: str, value: Any, source: Source) -> None:
        if value is not None:
            self.facts[key] = Known(value, source.registry, source.record_id, source.retrieved_at)

    def person(self, id_number: str | None) -> Person | None:
        if not id_number:
            return None
        person = self.registry.person(id_number)
        if person is not None:
            self.note(person.source, id_number)
        return person


Resolver = Callable[[Lookup], None]
NEWBORN_DAYS = 365
RESOLVERS: dict[str, Resolver] = {}


def resolver(subject: str) -> Callable[[Resolver], Resolver]:
    def register(function: Resolver) -> Resolver:
        RESOLVERS[subject] = function
        return function

    return register


def put_person(lookup: Lookup, prefix: str, person: Person | None) -> None:
    if person is None:
        return
    lookup.put(f"{prefix}_name", person.name, person.source)
    lookup.put(f"{prefix}_id_number", person.id_number, person.source)
    lookup.put(f"{prefix}_hukou_address", person.hukou_address, person.source)


@resolver("applicant")
def _applicant(lookup: Lookup) -> None:
    person = lookup.person(lookup.applicant_id_number)
    lookup.found["applicant"] = person
    put_person(lookup, "applicant", person)


def _latest_birth(lookup: Lookup):
    """The applicant's newest birth record, if the child is still a newborn (under a year)."""
    if "birth" not in lookup.found:
        births = lookup.registry.births_to(lookup.applicant_id_number)
        newest = births[0] if births else None
        if newest is not None:
            lookup.note(newest.source, lookup.applicant_id_number)
            age = newest.source.retrieved_at.date() - newest.birth_date
            if age.days > NEWBORN_DAYS:
                newest = None
        lookup.found["birth"] = newest
    return lookup.found["birth"]


@resolver("child")
def _newborn(lookup: Lookup) -> None:
    birth = _latest_birth(lookup)
    if birth is None:
        return
    lookup.put("child_name", birth.child_name, birth.source)
    lookup.put("child_sex", birth.sex, birth.source)
    lookup.put("child_birth_date", birth.birth_date.isoformat(), birth.source)
    lookup.put("child_birth_place", birth.birth_place, birth.source)
    lookup.put("child_hospital", birth.hospital, birth.source)
    lookup.put("child_birth_cert_number", birth.cert_number, birth.source)


def _parent_id(lookup: Lookup, role: str) -> str | None:
    birth = _latest_birth(lookup)
    if birth is not None:
        return birth.mother_id_number if role == "mother" else birth.father_id_number
    applicant = lookup.found.get("applicant") or lookup.person(lookup.applicant_id_number)
    if applicant is None:
        return None
    if (applicant.sex == "F") == (role == "mother"):
        return applicant.id_number
    marriage = _current_marriage(lookup)
    if marriage is None:
        return None
    return marriage.wife_id_number if role == "mother" else marriage.husband_id_number


@resolver("mother")
def _mother(lookup: Lookup) -> None:
    mother = lookup.person(_parent_id(lookup, "mother"))
    put_person(lookup, "mother", mother)
    if mother is None:
        return
    insurance = lookup.registry.medical_insurance(mother.id_number)
    if insurance is not None:
        lookup.note(insurance.source, mother.id_number)
        lookup.put("mother_maternity_insurance", insurance.maternity_insurance, insurance.source)


@resolver("father")
def _father(lookup: Lookup) -> None:
    put_person(lookup, "father", lookup.person(_parent_id(lookup, "father")))


@resolver("marriage")
def _marriage(lookup: Lookup) -> None:
    marriage = lookup.registry.marriage_of(lookup.applicant_id_number)
    if marriage is None:
        return
    lookup.note(marriage.source, lookup.applicant_id_number)
    lookup.put("marriage_cert_number", marriage.cert_number, marriage.source)
    lookup.put("marriage_date", marriage.registered_on.isoformat(), marriage.source)


# --- records shared by several resolvers, read once per lookup and noted -----------------------


def _current_marriage(lookup: Lookup) -> Marriage | None:
    """The applicant's current marriage, read once."""
    if "current_marriage" not in lookup.found:
        marriage = lookup.registry.marriage_of(lookup.applicant_id_number)
        if marriage is not None:
            lookup.note(marriage.source, lookup.applicant_id_number)
        lookup.found["current_marriage"] = marriage
    return lookup.found["current_marriage"]


def _applicant_person(lookup: Lookup) -> Person | None:
    if lookup.found.get("applicant") is None:
        lookup.found["applicant"] = lookup.person(lookup.applicant_id_number)
    return lookup.found["applicant"]


def _spouse_id(lookup: Lookup) -> str | None:
    marriage = _current_marriage(lookup)
    if marriage is None:
        return None
    if marriage.husband_id_number == lookup.applicant_id_number:
        return marriage.wife_id_number
    return marriage.husband_id_number


def _record(lookup: Lookup, kind: str, id_number: str, fetch: Callable[[str], Any]) -> Any:
    """One record of `kind` about a person (social insurance, housing fund, ...), read once."""
    key = f"{kind}:{id_number}"
    if key not in lookup.found:
        record = fetch(id_number)
        if record is not None:
            lookup.note(record.source, id_number)
        lookup.found[key] = record
    return lookup.found[key]


def _social_insurance(lookup: Lookup, id_number: str) -> SocialInsurance | None:
    return _record(lookup, "social_insurance", id_number, lookup.registry.social_insurance)


def _medical_insurance(lookup: Lookup, id_number: str) -> MedicalInsurance | None:
    return _record(lookup, "medical_insurance", id_number, lookup.registry.medical_insurance)


def _housing_fund(lookup: Lookup, id_number: str) -> HousingFund | None:
    return _record(lookup, "housing_fund", id_number, lookup.registry.housing_fund)


def _real_estate(lookup: Lookup, id_number: str) -> list[RealEstate]:
    """The person's properties, newest registration first; every record returned is noted."""
    key = f"real_estate:{id_number}"
    if key not in lookup.found:
        estates = lookup.registry.real_estate_of(id_number)
        for estate in estates:
            lookup.note(estate.source, id_number)
        lookup.found[key] = estates
    return lookup.found[key]


def _put_estate(lookup: Lookup, prefix: str, estate: RealEstate) -> None:
    lookup.put(f"{prefix}_cert_number", estate.cert_number, estate.source)
    lookup.put(f"{prefix}_address", estate.address, estate.source)
    lookup.put(f"{prefix}_area_m2", f"{estate.area_m2:.2f}", estate.source)
    lookup.put(f"{prefix}_usage", estate.usage, estate.source)


# --- the applicant's own records ----------------------------------------------------------------


@resolver("applicant_details")
def _applicant_details(lookup: Lookup) -> None:
    """Sex and date of birth, e.g. for the statutory retirement age."""
    person = _applicant_person(lookup)
    if person is None:
        return
    lookup.put("applicant_sex", person.sex, person.source)
    lookup.put("applicant_birth_date", person.birth_date.isoformat(), person.source)
    # Derived from the registry's birth date and sex (enterprise workers' statutory age).
    retires = statutory_retirement_date(person.sex, person.birth_date, female_cadre=False)
    lookup.put("applicant_statutory_retirement_date", retires.isoformat(), person.source)


@resolver("spouse")
def _spouse(lookup: Lookup) -> None:
    spouse = lookup.person(_spouse_id(lookup))
    if spouse is None:
        return
    lookup.put("spouse_name", spouse.name, spouse.source)
    lookup.put("spouse_id_number", spouse.id_number, spouse.source)
    fund = _housing_fund(lookup, spouse.id_number)
    if fund is not None and fund.status != "closed":
        lookup.put("spouse_housing_fund_account", fund.account_number, fund.source)


@resolver("employment")
def _employment(lookup: Lookup) -> None:
    """The employer of the applicant's latest social-insurance record."""
    insurance = _social_insurance(lookup, lookup.applicant_id_number)
    if insurance is None or not insurance.employer_uscc:
        return
    lookup.put("employer_name", insurance.employer_name, insurance.source)
    lookup.put("employer_uscc", insurance.employer_uscc, insurance.source)


@resolver("social_insurance")
def _social_insurance_facts(lookup: Lookup) -> None:
    insurance = _social_insurance(lookup, lookup.applicant_id_number)
    if insurance is None:
        return
    source = insurance.source
    lookup.put("pension_contribution_months", insurance.pension_contribution_months, source)
    lookup.put("social_insurance_first_date", insurance.first_insured_on.isoformat(), source)
    lookup.put("social_insurance_status", insurance.status, source)
    lookup.put("unemployment_insured", insurance.unemployment_insured, source)


@resolver("medical_insurance")
def _medical_insurance_facts(lookup: Lookup) -> None:
    insurance = _medical_insurance(lookup, lookup.applicant_id_number)
    if insurance is None:
        return
    lookup.put("medical_scheme", insurance.scheme, insurance.source)
    if insurance.scheme == "employee":
        lookup.put("medical_contribution_months", insurance.contribution_months, insurance.source)


@resolver("housing_fund")
def _housing_fund_facts(lookup: Lookup) -> None:
    """A closed account counts as none; a missing record stays unknown (another city's fund)."""
    fund = _housing_fund(lookup, lookup.applicant_id_number)
    if fund is None:
        return
    lookup.put("housing_fund_has_account", fund.status != "closed", fund.source)
    if fund.status != "closed":
        lookup.put("housing_fund_account_number", fund.account_number, fund.source)


@resolver("property")
def _property(lookup: Lookup) -> None:
    """The flat the applicant sells or bought: a home they own alone, the newest if several.

    With no home owned alone, the newest home they co-own (the co-owners must then consent).
    """
    estates = _real_estate(lookup, lookup.applicant_id_number)
    homes = [e for e in estates if e.usage == "住宅"] or estates
    alone = [e for e in homes if e.owner_id_numbers == (lookup.applicant_id_number,)]
    chosen = (alone or homes or [None])[0]
    if chosen is None:
        return
    _put_estate(lookup, "property", chosen)
    lookup.put("property_registered_on", chosen.registered_on.isoformat(), chosen.source)
    lookup.put("property_co_owned", len(chosen.owner_id_numbers) > 1, chosen.source)


@resolver("premises")
def _premises(lookup: Lookup) -> None:
    """Business premises the applicant owns (a non-residential property), the newest first."""
    estates = _real_estate(lookup, lookup.applicant_id_number)
    shop = next((e for e in estates if e.usage != "住宅"), None)
    if shop is None:
        return
    _put_estate(lookup, "premises", shop)
    lookup.put("premises_owned", True, shop.source)


# --- school enrollment --------------------------------------------------------------------------


def school_entry_year(birth_date: date) -> int:
    """Children six years old by 31 August start school that September."""
    return birth_date.year + (6 if (birth_date.month, birth_date.day) < (9, 1) else 7)


def _birth_date_in(id_number: str) -> str:
    return f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}"


@resolver("school_child")
def _school_child(lookup: Lookup) -> None:
    """The applicant's child in the same household who starts school at the next intake.

    Children are matched from the applicant's birth records to household members by the birth
    date in their ID number, so only the matching child's records are read; a child who already
    has a student record is at school.
    """
    applicant = _applicant_person(lookup)
    if applicant is None:
        return
    household = lookup.registry.household(applicant.household_id)
    if household is None:
        return
    lookup.note(household.source, lookup.applicant_id_number)
    today = household.source.retrieved_at.date()
    intake = today.year + (1 if (today.month, today.day) >= (9, 1) else 0)
    births = lookup.registry.births_to(lookup.applicant_id_number)
    for birth in births:
        lookup.note(birth.source, lookup.applicant_id_number)
    for birth in sorted(births, key=lambda b: b.birth_date):
        if not intake - 1 <= school_entry_year(birth.birth_date) <= intake:
            continue
        born = birth.birth_date.isoformat()
        for member in household.member_id_numbers:
            if member == lookup.applicant_id_number or _birth_date_in(member) != born:
                continue
            child = lookup.person(member)
            if child is None or (birth.child_name and child.name != birth.child_name):
                continue
            student = lookup.registry.student(member)
            if student is not None:
                lookup.note(student.source, member)
                continue
            lookup.found["school_child"] = child
            lookup.put("school_child_name", child.name, child.source)
            lookup.put("school_child_id_number", child.id_number, child.source)
            lookup.put("school_child_sex", child.sex, child.source)
            lookup.put("school_child_birth_date", born, child.source)
            lookup.put("school_child_hukou_address", child.hukou_address, child.source)
            lookup.put("school_entry_year", school_entry_year(birth.birth_date), child.source)
            lookup.put("school_child_birth_cert_number", birth.cert_number, birth.source)
            relation = (
                "mother" if birth.mother_id_number == lookup.applicant_id_number else "father"
            )
            lookup.put("applicant_relation_to_child", relation, birth.source)
            return


@resolver("home")
def _home(lookup: Lookup) -> None:
    """A flat the applicant or their spouse owns at the child's (else the applicant's) address."""
    child = lookup.found.get("school_child")
    applicant = _applicant_person(lookup)
    address = child.hukou_address if child else applicant.hukou_address if applicant else None
    if address is None:
        return
    owners = [lookup.applicant_id_number]
    while owners:
        owner = owners.pop(0)
        estate = next((e for e in _real_estate(lookup, owner) if e.address == address), None)
        if estate is not None:
            lookup.put("home_property_cert_number", estate.cert_number, estate.source)
            lookup.put("home_property_address", estate.address, estate.source)
            lookup.put("school_residence_basis", "own_property", estate.source)
            return
        spouse = _spouse_id(lookup) if owner == lookup.applicant_id_number else None
        if spouse is not None:
            owners.append(spouse)


# --- veteran ------------------------------------------------------------------------------------

PLACEMENTS = {
    "自主就业": "self_employment",
    "安排工作": "assigned_job",
    "逐月领取退役金": "monthly_pay",
    "退休": "retirement",
    "供养": "support",
}


@resolver("veteran")
def _veteran(lookup: Lookup) -> None:
    record = lookup.registry.veteran(lookup.applicant_id_number)
    if record is not None:
        lookup.note(record.source, lookup.applicant_id_number)
        source = record.source
        lookup.put("veteran_service_branch", record.service_branch, source)
        lookup.put("veteran_enlisted_on", record.enlisted_on.isoformat(), source)
        lookup.put("veteran_discharged_on", record.discharged_on.isoformat(), source)
        lookup.put("veteran_discharge_kind", record.discharge_kind, source)
        lookup.put("veteran_placement", PLACEMENTS.get(record.placement), source)
    person = _applicant_person(lookup)
    if person is not None and person.alive:
        # a soldier's household registration is cancelled on enlisting: a live record is restored
        lookup.put("veteran_hukou_restored", True, person.source)


# --- after a death ------------------------------------------------------------------------------


def _find_deceased(lookup: Lookup) -> tuple[str, bool] | None:
    """The most recently deceased member of the applicant's household, else their spouse."""
    applicant = _applicant_person(lookup)
    if applicant is None:
        return None
    household = lookup.registry.household(applicant.household_id)
    deaths = []
    if household is not None:
        lookup.note(household.source, lookup.applicant_id_number)
        for member in household.member_id_numbers:
            if member != lookup.applicant_id_number:
                death = _record(lookup, "death", member, lookup.registry.death_of)
                if death is not None:
                    deaths.append((death.death_date, member, True))
    spouse = _spouse_id(lookup) if not deaths else None
    if spouse is not None:
        death = _record(lookup, "death", spouse, lookup.registry.death_of)
        if death is not None:
            deaths.append((death.death_date, spouse, False))
    if not deaths:
        return None
    _date, id_number, same_household = max(deaths)
    return id_number, same_household


@resolver("deceased")
def _deceased(lookup: Lookup) -> None:
    found = _find_deceased(lookup)
    if found is None:
        return
    id_number, same_household = found
    person = lookup.person(id_number)
    if person is not None:
        put_person(lookup, "deceased", person)
        lookup.put("deceased_same_household", same_household, person.source)
    death = lookup.found[f"death:{id_number}"]
    lookup.put("deceased_death_date", death.death_date.isoformat(), death.source)
    lookup.put("deceased_death_place", death.place, death.source)
    lookup.put("deceased_death_cause", death.cause_category, death.source)
    lookup.put("deceased_death_cert_number", death.cert_number, death.source)
    insurance = _social_insurance(lookup, id_number)
    if insurance is not None:
        lookup.put("deceased_pension_insured", True, insurance.source)
    medical = _medical_insurance(lookup, id_number)
    if medical is not None:
        lookup.put("deceased_medical_scheme", medical.scheme, medical.source)
    fund = _housing_fund(lookup, id_number)
    if fund is not None:
        has_balance = fund.status != "closed" and fund.balance_cents > 0
        lookup.put("deceased_has_housing_fund", has_balance, fund.source)
        if has_balance:
            lookup.put("deceased_housing_fund_account", fund.account_number, fund.source)


def prefill(registry: Registry, applicant_id_number: str, subjects: tuple[str, ...]) -> Lookup:
    """Run the resolvers of `subjects` in order for the applicant."""
    lookup = Lookup(timed(registry), applicant_id_number)  # each lookup measured (/metrics)
    for subject in subjects:
        resolve = RESOLVERS.get(subject)
        if resolve is None:
            continue
        try:
            resolve(lookup)
        except RegistryUnavailable as error:
            # Degraded mode: what this registry would supply is asked of the applicant instead.
            lookup.unavailable.setdefault(error.registry, error)
    return lookup
