"""The generated registry dataset and the embedded registry over it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from stdnum.cn import ric, uscc

from demo.people import DEMO_COMPANIES, DEMO_PEOPLE, demo_cast
from demo.registry import TABLES, generate_dataset, statutory_retirement_date
from services.registries.embedded import EmbeddedRegistry

TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
MATTERS = (
    "newborn",
    "school_enrollment",
    "retirement",
    "employment",
    "housing_fund",
    "real_estate_transfer",
    "veteran",
    "unemployment",
    "death",
    "convenience_store",
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("registry") / "registry.sqlite"
    generate_dataset(path, people=500, today=TODAY)
    return path


@pytest.fixture(scope="module")
def db(dataset: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(dataset)
    yield connection
    connection.close()


@pytest.fixture(scope="module")
def registry(dataset: Path) -> Iterator[EmbeddedRegistry]:
    embedded = EmbeddedRegistry(dataset, clock=lambda: NOW)
    yield embedded
    embedded.close()


def _day(value: str) -> date:
    return date.fromisoformat(value)


def _months_between(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month - (end.day < start.day)


def _age(birth: date, on: date = TODAY) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


# generation


def test_same_seed_people_and_day_give_byte_identical_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    counts = generate_dataset(first, people=500, today=TODAY)
    assert generate_dataset(second, people=500, today=TODAY) == counts
    assert first.read_bytes() == second.read_bytes()


def test_another_seed_gives_other_people(tmp_path: Path, dataset: Path) -> None:
    other = tmp_path / "other.sqlite"
    generate_dataset(other, people=500, seed=7, today=TODAY)
    assert other.read_bytes() != dataset.read_bytes()


def test_generation_replaces_an_existing_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite"
    path.write_bytes(b"not a database")
    counts = generate_dataset(path, people=50, today=TODAY)
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT count(*) FROM person").fetchone()[0] == counts["person"]
    assert [p.name for p in tmp_path.iterdir()] == ["registry.sqlite"]


def test_counts_cover_every_table_and_the_requested_people(tmp_path: Path) -> None:
    counts = generate_dataset(tmp_path / "r.sqlite", people=300, today=TODAY)
    assert set(counts) == set(TABLES)
    assert 300 + len(DEMO_PEOPLE) <= counts["person"] <= 300 + len(DEMO_PEOPLE) + 8
    assert all(count > 0 for count in counts.values())


def test_every_lookup_uses_an_index(db: sqlite3.Connection) -> None:
    lookups = [
        "SELECT * FROM person WHERE household_id = ?",
        "SELECT * FROM marriage WHERE husband_id_number = ? AND status = 'married'",
        "SELECT * FROM marriage WHERE wife_id_number = ? AND status = 'married'",
        "SELECT * FROM birth WHERE mother_id_number = ?",
        "SELECT * FROM birth WHERE father_id_number = ?",
        "SELECT * FROM death WHERE id_number = ?",
        "SELECT * FROM housing_fund WHERE id_number = ?",
        "SELECT * FROM real_estate_owner WHERE id_number = ?",
        "SELECT * FROM legal_person WHERE legal_rep_id_number = ?",
        "SELECT * FROM student WHERE id_number = ?",
        "SELECT * FROM certificate WHERE holder_id_number = ? AND kind = ?",
    ]
    for sql in lookups:
        params = ("x", "y")[: sql.count("?")]
        plan = " ".join(row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", params))
        assert "USING" in plan and "SCAN" not in plan, (sql, plan)


# identifiers


def test_every_citizen_id_is_valid_and_its_sequence_parity_matches_sex(
    db: sqlite3.Connection,
) -> None:
    for id_number, sex, birth_date in db.execute("SELECT id_number, sex, birth_date FROM person"):
        ric.validate(id_number)
        assert ric.get_birth_date(id_number) == _day(birth_date)
        assert (int(id_number[16]) % 2 == 1) == (sex == "M"), id_number


def test_every_credit_code_is_valid_and_names_a_legal_person(db: sqlite3.Connection) -> None:
    codes = {row[0] for row in db.execute("SELECT uscc FROM legal_person")}
    for code in codes:
        uscc.validate(code)
    for table in ("medical_insurance", "social_insurance", "housing_fund"):
        used = db.execute(
            f"SELECT DISTINCT employer_uscc FROM {table} WHERE employer_uscc NOT NULL"
        )
        assert {row[0] for row in used} <= codes, table


def test_every_demo_id_is_valid_and_in_the_population_registry(
    registry: EmbeddedRegistry,
) -> None:
    for demo in DEMO_PEOPLE:
        ric.validate(demo.id_number)
        person = registry.person(demo.id_number)
        assert person is not None and person.name == demo.name
    for company in DEMO_COMPANIES:
        uscc.validate(company.uscc)


def test_every_matter_has_a_demo_login(registry: EmbeddedRegistry) -> None:
    for matter in MATTERS:
        assert any(p.login for p in demo_cast(matter).values()), matter


# consistency between registries


def test_birth_records_name_a_couple_from_the_marriage_registry(db: sqlite3.Connection) -> None:
    births = db.execute(
        "SELECT mother_id_number, father_id_number FROM birth WHERE father_id_number NOT NULL"
    ).fetchall()
    assert births
    for mother, father in births:
        marriage = db.execute(
            "SELECT 1 FROM marriage WHERE husband_id_number = ? AND wife_id_number = ?",
            (father, mother),
        ).fetchone()
        assert marriage is not None, (mother, father)


def test_registered_children_live_with_a_parent(db: sqlite3.Connection) -> None:
    rows = db.execute(
        "SELECT c.household_id, c.birth_date, b.birth_date, m.household_id, f.household_id"
        " FROM birth b JOIN person c ON c.id_number = b.child_id_number"
        " JOIN person m ON m.id_number = b.mother_id_number"
        " LEFT JOIN person f ON f.id_number = b.father_id_number"
    ).fetchall()
    assert rows
    for child_household, child_born, recorded_born, mother_household, father_household in rows:
        assert child_born == recorded_born
        assert child_household in (mother_household, father_household)


def test_recent_births_are_not_yet_in_the_population_registry(db: sqlite3.Connection) -> None:
    rows = db.execute("SELECT birth_date, child_id_number FROM birth").fetchall()
    recent = [child for born, child in rows if (TODAY - _day(born)).days <= 60]
    older = [child for born, child in rows if (TODAY - _day(born)).days > 60]
    assert recent and all(child is None for child in recent)
    assert older and all(child is not None for child in older)


def test_married_couples_have_the_right_sexes_and_mostly_share_a_household(
    db: sqlite3.Connection,
) -> None:
    rows = db.execute(
        "SELECT h.sex, w.sex, h.household_id = w.household_id FROM marriage m"
        " JOIN person h ON h.id_number = m.husband_id_number"
        " JOIN person w ON w.id_number = m.wife_id_number WHERE m.status = 'married'"
    ).fetchall()
    total = db.execute("SELECT count(*) FROM marriage WHERE status = 'married'").fetchone()[0]
    assert len(rows) == total
    assert all(husband == "M" and wife == "F" for husband, wife, _ in rows)
    assert sum(same for _, _, same in rows) >= 0.9 * total


def test_employee_medical_insurance_comes_with_social_insurance(db: sqlite3.Connection) -> None:
    orphans = db.execute(
        "SELECT m.id_number FROM medical_insurance m LEFT JOIN social_insurance s"
        " ON s.id_number = m.id_number WHERE m.scheme = 'employee' AND s.id_number IS NULL"
    ).fetchall()
    assert orphans == []
    resident_maternity = db.execute(
        "SELECT count(*) FROM medical_insurance WHERE scheme = 'resident' AND maternity_insurance"
    ).fetchone()[0]
    assert resident_maternity == 0


def test_many_employed_women_have_maternity_insurance(db: sqlite3.Connection) -> None:
    covered, employed = db.execute(
        "SELECT sum(m.maternity_insurance), count(*) FROM medical_insurance m"
        " JOIN person p ON p.id_number = m.id_number"
        " WHERE p.sex = 'F' AND m.employer_uscc NOT NULL"
    ).fetchone()
    assert employed > 20 and covered >= 0.8 * employed


def test_contribution_months_fit_each_persons_age(db: sqlite3.Connection) -> None:
    rows = db.execute(
        "SELECT p.birth_date, s.first_insured_on, s.pension_contribution_months, s.status"
        " FROM social_insurance s JOIN person p ON p.id_number = s.id_number"
    ).fetchall()
    for born, first, months, status in rows:
        born_on, first_on = _day(born), _day(first)
        assert _age(born_on, first_on) >= 16
        assert 0 < months <= _months_between(first_on, TODAY) + 1  # this month counts
        if status == "retired":
            assert _age(born_on) >= 50 and months >= 180


def test_housing_fund_accounts_belong_to_insured_people(db: sqlite3.Connection) -> None:
    orphans = db.execute(
        "SELECT f.id_number FROM housing_fund f LEFT JOIN social_insurance s"
        " ON s.id_number = f.id_number WHERE s.id_number IS NULL"
    ).fetchall()
    assert orphans == []


def test_most_owned_homes_are_household_addresses_of_their_owners(
    db: sqlite3.Connection,
) -> None:
    rows = db.execute(
        "SELECT e.address = h.address FROM real_estate e"
        " JOIN real_estate_owner o ON o.cert_number = e.cert_number AND o.position = 0"
        " JOIN person p ON p.id_number = o.id_number JOIN household h"
        " ON h.household_id = p.household_id WHERE e.usage = '住宅'"
    ).fetchall()
    assert rows and sum(row[0] for row in rows) >= 0.8 * len(rows)


def test_students_are_school_age_and_study_in_their_district(db: sqlite3.Connection) -> None:
    rows = db.execute(
        "SELECT p.birth_date, s.school, h.address FROM student s"
        " JOIN person p ON p.id_number = s.id_number"
        " JOIN household h ON h.household_id = p.household_id"
    ).fetchall()
    assert rows
    for born, school, address in rows:
        assert 5 <= _age(_day(born)) <= 19
        assert school[:6] == address[:6]  # 上海市 + district


def test_deaths_and_death_records_match(db: sqlite3.Connection) -> None:
    dead = db.execute("SELECT id_number, death_date FROM person WHERE NOT alive").fetchall()
    records = db.execute("SELECT id_number, death_date FROM death").fetchall()
    assert dead and sorted(dead) == sorted(records)


def test_households_list_registered_members_with_the_head_first(
    db: sqlite3.Connection, registry: EmbeddedRegistry
) -> None:
    for (household_id,) in db.execute("SELECT household_id FROM household LIMIT 60"):
        household = registry.household(household_id)
        assert household is not None
        assert household.member_id_numbers[0] == household.head_id_number
        for member in household.member_id_numbers:
            person = registry.person(member)
            assert person is not None and person.household_id == household_id
            assert person.hukou_address == household.address


def test_certificates_back_the_registry_records(db: sqlite3.Connection) -> None:
    kinds = dict(db.execute("SELECT kind, count(*) FROM certificate GROUP BY kind").fetchall())
    married = db.execute("SELECT count(*) FROM marriage WHERE status = 'married'").fetchone()[0]
    assert kinds["marriage_certificate"] == 2 * married
    assert kinds["household_booklet"] == db.execute("SELECT count(*) FROM household").fetchone()[0]
    assert kinds["id_card"] > 0 and kinds["real_estate_certificate"] > 0
    assert kinds["business_licence"] > 0 and kinds["birth_medical_certificate"] > 0


# the demo cast


def test_newborn_mother_has_maternity_insurance_and_a_named_child_born_8_days_ago(
    registry: EmbeddedRegistry,
) -> None:
    cast = demo_cast("newborn")
    mother = cast["mother"].id_number
    birth = registry.births_to(mother)[0]
    assert birth.birth_date == TODAY - timedelta(days=8) and birth.child_name == "张子涵"
    assert birth.mother_id_number == mother
    assert birth.father_id_number == cast["husband"].id_number
    marriage = registry.marriage_of(mother)
    assert marriage is not None and marriage.husband_id_number == birth.father_id_number
    insurance = registry.medical_insurance(mother)
    assert insurance is not None and insurance.scheme == "employee"
    assert insurance.maternity_insurance
    assert registry.certificates_of(mother, "birth_medical_certificate")


def test_newborn_father_has_an_unnamed_child_and_a_wife_without_maternity_insurance(
    registry: EmbeddedRegistry,
) -> None:
    cast = demo_cast("newborn")
    father = cast["father"].id_number
    birth = registry.births_to(father)[0]
    assert birth.birth_date == TODAY - timedelta(days=5) and birth.child_name is None
    marriage = registry.marriage_of(father)
    assert marriage is not None and marriage.wife_id_number == birth.mother_id_number
    insurance = registry.medical_insurance(birth.mother_id_number)
    assert insurance is not None and insurance.scheme == "resident"
    assert not insurance.maternity_insurance
    people = [registry.person(p.id_number) for p in cast.values()]
    assert len({person.household_id for person in people if person}) == 1


def test_school_enrollment_child_turns_six_before_september_and_parent_owns_a_home_there(
    registry: EmbeddedRegistry,
) -> None:
    cast = demo_cast("school_enrollment")
    parent = registry.person(cast["parent"].id_number)
    child = registry.person(cast["child"].id_number)
    assert parent is not None and child is not None
    enrollment_year = TODAY.year + 1 if TODAY.month >= 9 else TODAY.year
    assert _age(child.birth_date, date(enrollment_year, 8, 31)) == 6
    assert child.household_id == parent.household_id
    assert registry.student(child.id_number) is None
    district = parent.hukou_address[:6]
    homes = registry.real_estate_of(parent.id_number)
    assert any(home.address.startswith(district) and home.usage == "住宅" for home in homes)


def test_retirement_applicant_reaches_retirement_age_within_two_months(
    registry: EmbeddedRegistry,
) -> None:
    applicant = registry.person(demo_cast("retirement")["applicant"].id_number)
    assert applicant is not None and applicant.sex == "M"
    retires_on = statutory_retirement_date("M", applicant.birth_date, female_cadre=False)
    assert TODAY < retires_on <= TODAY + timedelta(days=61)
    pension = registry.social_insurance(applicant.id_number)
    assert pension is not None and pension.pension_contribution_months >= 180
    assert pension.status == "contributing"
    insurance = registry.medical_insurance(applicant.id_number)
    assert insurance is not None and insurance.scheme == "employee"
    fund = registry.housing_fund(applicant.id_number)
    assert fund is not None and fund.balance_cents > 0 and fund.status == "normal"


def test_employment_graduate_is_23_and_newly_insured_by_a_demo_company(
    registry: EmbeddedRegistry,
) -> None:
    cast = demo_cast("employment")
    graduate = registry.person(cast["graduate"].id_number)
    assert graduate is not None and _age(graduate.birth_date) == 23
    pension = registry.social_insurance(graduate.id_number)
    assert pension is not None and pension.status == "contributing"
    assert 1 <= pension.pension_contribution_months <= 6
    employer = registry.legal_person(pension.employer_uscc or "")
    assert employer is not None and employer.legal_rep_id_number == cast["employer"].id_number
    assert employer in registry.legal_persons_of(cast["employer"].id_number)


def test_housing_fund_applicant_has_a_balance_and_a_recent_purchase(
    registry: EmbeddedRegistry,
) -> None:
    applicant = demo_cast("housing_fund")["applicant"].id_number
    fund = registry.housing_fund(applicant)
    assert fund is not None and fund.status == "normal" and fund.balance_cents > 0
    newest = registry.real_estate_of(applicant)[0]
    assert (TODAY - newest.registered_on).days <= 60 and newest.owner_id_numbers == (applicant,)


def test_real_estate_seller_owns_a_flat_alone_and_the_buyer_can_log_in(
    registry: EmbeddedRegistry,
) -> None:
    cast = demo_cast("real_estate_transfer")
    seller = cast["seller"].id_number
    flats = registry.real_estate_of(seller)
    assert any(flat.owner_id_numbers == (seller,) for flat in flats)
    assert cast["seller"].login and cast["buyer"].login
    assert registry.person(cast["buyer"].id_number) is not None


def test_veteran_was_discharged_20_days_ago_into_his_parents_household(
    registry: EmbeddedRegistry,
) -> None:
    cast = demo_cast("veteran")
    record = registry.veteran(cast["veteran"].id_number)
    assert record is not None and record.discharged_on == TODAY - timedelta(days=20)
    veteran = registry.person(cast["veteran"].id_number)
    father = registry.person(cast["father"].id_number)
    assert veteran is not None and father is not None
    assert veteran.household_id == father.household_id


def test_unemployed_applicant_is_suspended_and_insured_for_over_a_year(
    registry: EmbeddedRegistry,
) -> None:
    applicant = demo_cast("unemployment")["applicant"].id_number
    pension = registry.social_insurance(applicant)
    assert pension is not None and pension.status == "suspended"
    assert pension.unemployment_insured and pension.pension_contribution_months >= 12


def test_deceased_retiree_died_3_days_ago_and_the_logged_in_child_shares_the_household(
    registry: EmbeddedRegistry,
) -> None:
    cast = demo_cast("death")
    deceased = registry.person(cast["deceased"].id_number)
    applicant = registry.person(cast["applicant"].id_number)
    assert deceased is not None and applicant is not None
    assert not deceased.alive and deceased.death_date == TODAY - timedelta(days=3)
    death = registry.death_of(deceased.id_number)
    assert death is not None and death.cause_category == "natural"
    assert death.death_date == deceased.death_date
    assert applicant.household_id == deceased.household_id
    assert cast["applicant"].login and not cast["deceased"].login
    pension = registry.social_insurance(deceased.id_number)
    assert pension is not None and pension.status == "retired"
    household = registry.household(deceased.household_id)
    assert household is not None and deceased.id_number in household.member_id_numbers


def test_convenience_store_applicant_owns_a_shop_and_no_company(
    registry: EmbeddedRegistry,
) -> None:
    applicant = demo_cast("convenience_store")["applicant"].id_number
    assert any(estate.usage == "商业" for estate in registry.real_estate_of(applicant))
    assert registry.legal_persons_of(applicant) == []


# the embedded registry


def test_unknown_ids_give_none_or_empty_lists(registry: EmbeddedRegistry) -> None:
    unknown = "110101199001011234"
    assert registry.person(unknown) is None
    assert registry.household("nope") is None
    assert registry.marriage_of(unknown) is None
    assert registry.births_to(unknown) == []
    assert registry.death_of(unknown) is None
    assert registry.medical_insurance(unknown) is None
    assert registry.social_insurance(unknown) is None
    assert registry.housing_fund(unknown) is None
    assert registry.real_estate_of(unknown) == []
    assert registry.legal_persons_of(unknown) == []
    assert registry.legal_person("91310000000000000X") is None
    assert registry.student(unknown) is None
    assert registry.veteran(unknown) is None
    assert registry.certificates_of(unknown) == []
    assert registry.certificates_of(unknown, "id_card") == []


def test_divorced_people_have_no_current_marriage(
    db: sqlite3.Connection, registry: EmbeddedRegistry
) -> None:
    husband, wife = db.execute(
        "SELECT husband_id_number, wife_id_number FROM marriage WHERE status = 'divorced'"
    ).fetchone()
    assert registry.marriage_of(husband) is None and registry.marriage_of(wife) is None


def test_sources_name_the_registry_the_primary_key_and_the_clock_time(
    registry: EmbeddedRegistry,
) -> None:
    mother = demo_cast("newborn")["mother"].id_number
    person = registry.person(mother)
    marriage = registry.marriage_of(mother)
    fund = registry.housing_fund(mother)
    assert person is not None and marriage is not None and fund is not None
    assert person.source.registry == "population" and person.source.record_id == mother
    assert marriage.source.record_id == marriage.cert_number
    assert fund.source.record_id == fund.account_number
    assert person.source.retrieved_at == NOW
    card = registry.certificates_of(mother, "id_card")[0]
    assert card.number == mother and card.details["name"] == "王芳"
    assert len(card.source.record_id) <= 64


def test_missing_file_names_the_command_that_generates_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="demo.registry"):
        EmbeddedRegistry(tmp_path / "missing.sqlite")


def test_lookups_work_from_many_threads(registry: EmbeddedRegistry) -> None:
    ids = [person.id_number for person in DEMO_PEOPLE] * 20
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(registry.person, ids))
    assert all(person is not None for person in found)
