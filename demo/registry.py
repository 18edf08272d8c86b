"""Generate the embedded demo dataset of the shared-data registries as one SQLite file.

The population lives in households in Shanghai's central districts; every other registry is
derived from it, so the registries agree with one another. The demo cast is always included.
Run: `python -m demo.registry PATH [--people N] [--seed S] [--today YYYY-MM-DD]`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from faker import Faker
from stdnum.cn import ric
from stdnum.cn import uscc as uscc_code

from demo.people import (
    DEMO_COMPANIES,
    DEMO_HOUSEHOLDS,
    DEMO_PEOPLE,
    SHENJIANG,
    YUNFAN,
    demo_cast,
)
from services.calendar import months_after, statutory_retirement_date

CITY = "上海市"


@dataclass(frozen=True)
class District:
    """A real district: its region code, name, certificate abbreviation and real streets."""

    code: str
    name: str
    abbr: str
    streets: tuple[str, ...]


# Central districts whose codes stdnum accepts for any birth year.
DISTRICTS: tuple[District, ...] = (
    District("310101", "黄浦区", "黄", (
        "南京东路", "淮海中路", "西藏南路", "复兴东路", "河南南路", "陆家浜路", "建国中路", "瑞金二路",
    )),
    District("310104", "徐汇区", "徐", (
        "漕溪北路", "肇嘉浜路", "天钥桥路", "龙华中路", "宜山路", "斜土路", "衡山路", "零陵路",
    )),
    District("310105", "长宁区", "长", (
        "愚园路", "天山路", "仙霞路", "虹桥路", "中山西路", "延安西路", "遵义路", "古北路",
    )),
    District("310106", "静安区", "静", (
        "南京西路", "威海路", "江宁路", "北京西路", "共和新路", "延长路", "大统路", "西康路",
    )),
    District("310107", "普陀区", "普", (
        "曹杨路", "长寿路", "真北路", "武宁路", "金沙江路", "中山北路", "铜川路", "桃浦路",
    )),
    District("310109", "虹口区", "虹", (
        "四川北路", "曲阳路", "广中路", "大连路", "东江湾路", "海宁路", "溧阳路", "欧阳路",
    )),
    District("310110", "杨浦区", "杨", (
        "国权路", "控江路", "长阳路", "黄兴路", "平凉路", "邯郸路", "政立路", "淞沪路",
    )),
)  # fmt: skip
DISTRICT_BY_CODE = {district.code: district for district in DISTRICTS}

# Birthplaces of people who moved to the city (county codes valid for any birth year).
MIGRANT_BIRTH_REGIONS = (
    "330122", "330127", "340121", "340421", "340621", "360121", "430121", "430321", "510121",
    "510321",
)  # fmt: skip

MATERNITY_HOSPITALS: tuple[tuple[str, str], ...] = (
    ("中国福利会国际和平妇幼保健院", "310104"),
    ("复旦大学附属妇产科医院", "310101"),
    ("上海市第一妇婴保健院", "310106"),
    ("上海交通大学医学院附属仁济医院", "310101"),
    ("上海市长宁区妇幼保健院", "310105"),
    ("上海市普陀区妇婴保健院", "310107"),
)
GENERAL_HOSPITALS = (
    "复旦大学附属华山医院",
    "复旦大学附属中山医院",
    "上海市第六人民医院",
    "上海交通大学医学院附属瑞金医院",
    "上海市第一人民医院",
    "上海市杨浦区中心医院",
)
ETHNICITIES = ("汉族", "回族", "满族", "蒙古族", "壮族", "土家族", "苗族", "朝鲜族", "维吾尔族")
ETHNICITY_CUM_WEIGHTS = (960, 968, 975, 979, 983, 988, 992, 995, 998)
MODERN_MALE_NAMES = (
    "子轩", "浩宇", "宇轩", "梓豪", "俊杰", "浩然", "思远", "博文", "一鸣", "宇航", "子墨", "睿",
    "皓轩", "嘉懿", "沐阳", "天佑", "铭泽", "奕辰", "承泽", "逸飞",
)  # fmt: skip
MODERN_FEMALE_NAMES = (
    "子涵", "欣怡", "梓涵", "诗涵", "雨桐", "一诺", "可馨", "语嫣", "若汐", "思彤", "梦琪", "佳怡",
    "雨萱", "欣妍", "诗琪", "晨曦", "安琪", "芷若", "婉清", "语桐",
)  # fmt: skip
TRADE_NAME_CHARS = "鑫华盛瑞恒达信通嘉泰宏远诚辉丰源海申浦金星云帆腾鼎新锦立德益安合众联创博"
INDUSTRIES = (
    "科技", "信息技术", "贸易", "餐饮管理", "物流", "建筑工程", "商务咨询", "文化传播", "物业管理",
    "医疗器械", "电子", "食品",
)  # fmt: skip
SHOP_KINDS = ("便利店", "小吃店", "理发店", "五金店", "水果店", "服装店")
COMPANY_KINDS = (
    "有限责任公司（自然人投资或控股）",
    "有限责任公司（自然人独资）",
    "股份有限公司（非上市、自然人投资或控股）",
    "个人独资企业",
    "个体工商户",
)
COMPANY_KIND_WEIGHTS = (45, 20, 5, 5, 25)
GRADES = (
    "一年级", "二年级", "三年级", "四年级", "五年级", "六年级", "七年级", "八年级", "九年级",
    "高一", "高二", "高三",
)  # fmt: skip
SERVICE_BRANCHES = ("陆军", "海军", "空军", "火箭军", "武警部队")
REAL_ESTATE_ISSUER = "上海市规划和自然资源局"
# Short codes that prefix certificate record ids (kind/number/holder would not fit 64 chars).
CERTIFICATE_CODES = {
    "id_card": "ID",
    "household_booklet": "HB",
    "marriage_certificate": "MC",
    "birth_medical_certificate": "BM",
    "death_medical_certificate": "DM",
    "real_estate_certificate": "RE",
    "business_licence": "BL",
}
RECENT_BIRTH_DAYS = 60
CANCELLATION_DAYS = 30

SCHEMA = """
CREATE TABLE household (
    household_id TEXT PRIMARY KEY, address TEXT NOT NULL, region TEXT NOT NULL,
    head_id_number TEXT NOT NULL, established_on TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE person (
    id_number TEXT PRIMARY KEY, name TEXT NOT NULL, sex TEXT NOT NULL, birth_date TEXT NOT NULL,
    ethnicity TEXT NOT NULL, household_id TEXT NOT NULL, position INTEGER NOT NULL,
    hukou_address TEXT NOT NULL, hukou_region TEXT NOT NULL, alive INTEGER NOT NULL,
    death_date TEXT, cancelled INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE marriage (
    cert_number TEXT PRIMARY KEY, husband_id_number TEXT NOT NULL, wife_id_number TEXT NOT NULL,
    registered_on TEXT NOT NULL, office TEXT NOT NULL, status TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE birth (
    cert_number TEXT PRIMARY KEY, child_name TEXT, sex TEXT NOT NULL, birth_date TEXT NOT NULL,
    birth_place TEXT NOT NULL, hospital TEXT NOT NULL, mother_id_number TEXT NOT NULL,
    father_id_number TEXT, child_id_number TEXT
) WITHOUT ROWID;
CREATE TABLE death (
    cert_number TEXT PRIMARY KEY, id_number TEXT NOT NULL, death_date TEXT NOT NULL,
    place TEXT NOT NULL, cause_category TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE medical_insurance (
    id_number TEXT PRIMARY KEY, scheme TEXT NOT NULL, maternity_insurance INTEGER NOT NULL,
    employer_uscc TEXT, contribution_months INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE social_insurance (
    id_number TEXT PRIMARY KEY, pension_contribution_months INTEGER NOT NULL,
    first_insured_on TEXT NOT NULL, employer_uscc TEXT, employer_name TEXT,
    unemployment_insured INTEGER NOT NULL, status TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE housing_fund (
    account_number TEXT PRIMARY KEY, id_number TEXT NOT NULL, balance_cents INTEGER NOT NULL,
    status TEXT NOT NULL, employer_uscc TEXT
) WITHOUT ROWID;
CREATE TABLE real_estate (
    cert_number TEXT PRIMARY KEY, address TEXT NOT NULL, area_m2 REAL NOT NULL,
    usage TEXT NOT NULL, registered_on TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE real_estate_owner (
    cert_number TEXT NOT NULL, position INTEGER NOT NULL, id_number TEXT NOT NULL,
    PRIMARY KEY (cert_number, position)
) WITHOUT ROWID;
CREATE TABLE legal_person (
    uscc TEXT PRIMARY KEY, name TEXT NOT NULL, legal_rep_id_number TEXT NOT NULL,
    address TEXT NOT NULL, kind TEXT NOT NULL, established_on TEXT NOT NULL, status TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE student (
    student_number TEXT PRIMARY KEY, id_number TEXT NOT NULL, school TEXT NOT NULL,
    grade TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE veteran (
    id_number TEXT PRIMARY KEY, service_branch TEXT NOT NULL, enlisted_on TEXT NOT NULL,
    discharged_on TEXT NOT NULL, discharge_kind TEXT NOT NULL, placement TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE certificate (
    cert_id TEXT PRIMARY KEY, kind TEXT NOT NULL, number TEXT NOT NULL,
    holder_id_number TEXT NOT NULL, issuer TEXT NOT NULL, issued_on TEXT NOT NULL,
    details TEXT NOT NULL
) WITHOUT ROWID;
"""

# One index per lookup the Registry protocol does beyond primary keys.
INDEXES = """
CREATE INDEX person_household ON person (household_id, position);
CREATE INDEX marriage_husband ON marriage (husband_id_number, status);
CREATE INDEX marriage_wife ON marriage (wife_id_number, status);
CREATE INDEX birth_mother ON birth (mother_id_number, birth_date);
CREATE INDEX birth_father ON birth (father_id_number, birth_date);
CREATE INDEX birth_child ON birth (child_id_number);
CREATE UNIQUE INDEX death_person ON death (id_number);
CREATE UNIQUE INDEX housing_fund_person ON housing_fund (id_number);
CREATE INDEX real_estate_owner_person ON real_estate_owner (id_number);
CREATE INDEX legal_person_rep ON legal_person (legal_rep_id_number);
CREATE UNIQUE INDEX student_person ON student (id_number);
CREATE INDEX certificate_holder ON certificate (holder_id_number, kind);
"""

TABLES = (
    "household", "person", "marriage", "birth", "death", "medical_insurance", "social_insurance",
    "housing_fund", "real_estate", "real_estate_owner", "legal_person", "student", "veteran",
    "certificate",
)  # fmt: skip

Row = tuple[object, ...]


@dataclass(eq=False)
class _Household:
    household_id: str
    district: District
    address: str
    established_on: date
    members: list[_Person] = field(default_factory=list)


@dataclass(eq=False)
class _Person:
    id_number: str
    surname: str
    name: str
    sex: str
    birth_date: date
    ethnicity: str
    household: _Household | None = None
    alive: bool = True
    death_date: date | None = None
    cancelled: bool = False
    scripted: bool = False


@dataclass(frozen=True)
class _Company:
    uscc: str
    name: str
    rep: _Person
    district: District
    address: str
    kind: str
    established_on: date
    status: str


@dataclass(frozen=True)
class _NamePools:
    surnames: tuple[str, ...]
    male: tuple[str, ...]
    female: tuple[str, ...]
    trade_names: tuple[str, ...]


def generate_dataset(
    path: Path, *, people: int = 20000, seed: int = 20261123, today: date
) -> dict[str, int]:
    """Write a fresh registry dataset to `path` (atomically) and return row counts per table."""
    dataset = _Dataset(seed, today)
    _add_demo_cast(dataset)
    _add_population(dataset, people)
    companies = _add_companies(dataset, max(10, people // 40))
    _add_careers(dataset, companies)
    _add_students(dataset)
    _add_veterans(dataset)
    _add_population_rows(dataset)
    return _write_atomically(path, dataset.rows)


# ---------------------------------------------------------------------------------------------
# Calendar arithmetic


def _years_after(day: date, years: int) -> date:
    """The same calendar day `years` later (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _months_between(start: date, end: date) -> int:
    """Whole calendar months from `start` to `end` (0 if `end` is earlier)."""
    months = (end.year - start.year) * 12 + end.month - start.month - (end.day < start.day)
    return max(0, months)


def _age(birth_date: date, today: date) -> int:
    before_birthday = (today.month, today.day) < (birth_date.month, birth_date.day)
    return today.year - birth_date.year - before_birthday


def _school_grade(birth_date: date, today: date) -> str | None:
    """The grade of a child who started school the first September after turning six."""
    start_year = birth_date.year + (6 if (birth_date.month, birth_date.day) < (9, 1) else 7)
    school_year = today.year if today.month >= 9 else today.year - 1
    index = school_year - start_year
    return GRADES[index] if 0 <= index < len(GRADES) else None


# ---------------------------------------------------------------------------------------------
# Identifiers


def citizen_id(region: str, birth_date: date, sequence: int) -> str:
    """An 18-character citizen ID (GB 11643); an odd sequence means male."""
    body = f"{region}{birth_date:%Y%m%d}{sequence:03d}"
    return body + ric.calc_check_digit(body + "0")


def organization_code_check(code: str) -> str:
    """The check character of an 8-character organization code (GB 11714)."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    remainder = 11 - sum(int(c, 36) * w for c, w in zip(code, weights, strict=True)) % 11
    return {10: "X", 11: "0"}.get(remainder, str(remainder))


def credit_code(authority_kind: str, region: str, organization: str) -> str:
    """A unified social credit code (GB 32100) from its parts, with both check characters."""
    body = f"{authority_kind}{region}{organization}{organization_code_check(organization)}"
    return body + uscc_code.calc_check_digit(body)


# ---------------------------------------------------------------------------------------------
# The dataset under construction


def _name_pools(seed: int) -> _NamePools:
    """Name pools drawn once from a seeded Faker, so later draws are cheap."""
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    surnames = tuple(fake.last_name() for _ in range(3000))
    male = tuple(fake.first_name_male() for _ in range(800))
    female = tuple(fake.first_name_female() for _ in range(800))
    prefixes = {fake.company_prefix() for _ in range(400)}
    return _NamePools(surnames, male, female, tuple(sorted(filter(_is_trade_name, prefixes))))


def _is_trade_name(prefix: str) -> bool:
    """Faker prefixes fit as trade names if Chinese, two or four characters, with no industry."""
    chinese = all("\u4e00" <= char <= "\u9fff" for char in prefix)
    industry = ("公司", "电子", "软件", "信息", "科技", "电脑", "数字", "计算机")
    return chinese and len(prefix) in (2, 4) and not any(word in prefix for word in industry)


class _Dataset:
    """Rows of every table plus the people and households they are derived from."""

    def __init__(self, seed: int, today: date) -> None:
        self.rng = random.Random(seed)
        self.today = today
        self.names = _name_pools(seed)
        self.persons: list[_Person] = []
        self.by_id: dict[str, _Person] = {}
        self.households: list[_Household] = []
        self.rows: dict[str, list[Row]] = {table: [] for table in TABLES}
        self.companies: dict[str, _Company] = {}
        self._counters: dict[object, int] = {}
        self._addresses: set[str] = set()
        self._company_names: set[str] = set()

    def next_serial(self, key: object, *, start: int = 1, max_step: int = 1) -> int:
        """The next number of a named sequence, skipping up to `max_step - 1` numbers."""
        value = self._counters.get(key, start - 1) + self.rng.randint(1, max_step)
        self._counters[key] = value
        return value

    def random_date(self, start: date, end: date) -> date:
        return start + timedelta(days=self.rng.randint(0, max(0, (end - start).days)))

    # people and households

    def given_name(self, sex: str, birth_date: date) -> str:
        rng = self.rng
        if birth_date.year >= 2000 and rng.random() < 0.6:
            return rng.choice(MODERN_MALE_NAMES if sex == "M" else MODERN_FEMALE_NAMES)
        return rng.choice(self.names.male if sex == "M" else self.names.female)

    def new_id_number(self, region: str, birth_date: date, sex: str) -> str:
        while True:
            sequence = self.rng.randrange(1, 500) * 2 - (1 if sex == "M" else 0)
            id_number = citizen_id(region, birth_date, sequence)
            if id_number not in self.by_id:
                return id_number

    def new_person(
        self, sex: str, birth_date: date, district: District, *, surname: str | None = None
    ) -> _Person:
        """A random person born in `district` (or, for some adults, elsewhere in China)."""
        rng = self.rng
        region = district.code
        if _age(birth_date, self.today) >= 18 and rng.random() < 0.2:
            region = rng.choice(MIGRANT_BIRTH_REGIONS)
        id_number = self.new_id_number(region, birth_date, sex)
        surname = surname or rng.choice(self.names.surnames)
        name = surname + self.given_name(sex, birth_date)
        ethnicity = ETHNICITIES[
            rng.choices(range(len(ETHNICITIES)), cum_weights=ETHNICITY_CUM_WEIGHTS)[0]
        ]
        return self.register(_Person(id_number, surname, name, sex, birth_date, ethnicity))

    def register(self, person: _Person) -> _Person:
        self.persons.append(person)
        self.by_id[person.id_number] = person
        return person

    def reserve_address(self, address: str) -> str:
        """Mark a hand-picked address as taken, so no random one repeats it."""
        self._addresses.add(address)
        return address

    def reserve_company_name(self, name: str) -> bool:
        """Mark a company name as taken; False if it already was."""
        if name in self._company_names:
            return False
        self._company_names.add(name)
        return True

    def home_address(self, district: District) -> str:
        rng = self.rng
        while True:
            street = rng.choice(district.streets)
            room = rng.randint(1, 18) * 100 + rng.randint(1, 4)
            lane, building = rng.randint(1, 1500), rng.randint(1, 40)
            address = f"{CITY}{district.name}{street}{lane}弄{building}号{room}室"
            if address not in self._addresses:
                self._addresses.add(address)
                return address

    def street_address(self, district: District, suffix: str) -> str:
        rng = self.rng
        while True:
            street = rng.choice(district.streets)
            address = f"{CITY}{district.name}{street}{rng.randint(1, 2000)}号{suffix}"
            if address not in self._addresses:
                self._addresses.add(address)
                return address

    def new_household(
        self,
        district: District,
        established_on: date,
        *,
        household_id: str | None = None,
        address: str | None = None,
    ) -> _Household:
        if household_id is None:
            household_id = f"{district.code}{self.next_serial(('household', district.code)):06d}"
        address = address or self.home_address(district)
        household = _Household(household_id, district, address, established_on)
        self.households.append(household)
        return household

    def join(self, household: _Household, *persons: _Person) -> None:
        for person in persons:
            person.household = household
            household.members.append(person)

    # records

    def add_marriage(
        self, husband: _Person, wife: _Person, registered_on: date, status: str = "married"
    ) -> None:
        assert husband.household is not None
        office_district = husband.household.district
        serial = self.next_serial(("marriage", office_district.code, registered_on.year))
        number = f"J{office_district.code}-{registered_on.year}-{serial:06d}"
        office = f"{CITY}{office_district.name}婚姻登记处"
        self.rows["marriage"].append(
            (number, husband.id_number, wife.id_number, registered_on.isoformat(), office, status)
        )
        if status != "married":
            return
        details = {
            "husband_name": husband.name,
            "husband_id_number": husband.id_number,
            "wife_name": wife.name,
            "wife_id_number": wife.id_number,
        }
        for holder in (husband, wife):
            self.add_certificate(
                "marriage_certificate", number, holder, office, registered_on, details
            )

    def add_birth(
        self,
        mother: _Person,
        father: _Person | None,
        birth_date: date,
        *,
        sex: str,
        child: _Person | None = None,
        child_name: str | None = None,
        hospital: tuple[str, str] | None = None,
    ) -> str:
        """Record a birth; a registered `child` gives the name, otherwise `child_name` (or none)."""
        hospital_name, region = hospital or self.rng.choice(MATERNITY_HOSPITALS)
        letter = "ABCDEFGHJKLMNPQRSTUVWXYZ"[(birth_date.year - 1996) % 24]
        number = f"{letter}{region[:2]}{self.next_serial('birth', max_step=9):07d}"
        name = child.name if child else child_name
        place = f"{CITY}{DISTRICT_BY_CODE[region].name}"
        self.rows["birth"].append(
            (
                number,
                name,
                sex,
                birth_date.isoformat(),
                place,
                hospital_name,
                mother.id_number,
                father.id_number if father else None,
                child.id_number if child else None,
            )
        )
        if name:
            self._add_birth_certificates(
                number, name, sex, birth_date, hospital_name, mother, father
            )
        return number

    def _add_birth_certificates(
        self,
        number: str,
        name: str,
        sex: str,
        birth_date: date,
        hospital: str,
        mother: _Person,
        father: _Person | None,
    ) -> None:
        """The birth medical certificate, held by each parent (issued once the child is named)."""
        details = {
            "child_name": name,
            "sex": sex,
            "birth_date": birth_date.isoformat(),
            "hospital": hospital,
            "mother_name": mother.name,
            "father_name": father.name if father else "",
        }
        issued_on = min(self.today, birth_date + timedelta(days=3))
        for parent in (mother, father):
            if parent is not None:
                self.add_certificate(
                    "birth_medical_certificate", number, parent, hospital, issued_on, details
                )

    def add_death(self, person: _Person, death_date: date, *, natural: bool = True) -> None:
        assert person.household is not None
        place = self.rng.choice(GENERAL_HOSPITALS) if self.rng.random() < 0.8 else "家中"
        region = person.household.district.code
        number = f"D{region}{death_date.year}{self.next_serial(('death', region)):05d}"
        cause = "natural" if natural else "unnatural"
        person.alive, person.death_date = False, death_date
        person.cancelled = (self.today - death_date).days > CANCELLATION_DAYS
        self.rows["death"].append((number, person.id_number, death_date.isoformat(), place, cause))
        issuer = _death_certifier(place, person.household.district, natural=natural)
        details = {
            "name": person.name,
            "death_date": death_date.isoformat(),
            "place": place,
            "cause_category": cause,
        }
        self.add_certificate(
            "death_medical_certificate", number, person, issuer, death_date, details
        )

    def add_medical_insurance(
        self,
        person: _Person,
        scheme: str,
        months: int,
        *,
        maternity: bool = False,
        employer: str | None = None,
    ) -> None:
        self.rows["medical_insurance"].append(
            (person.id_number, scheme, int(maternity), employer, months)
        )

    def add_social_insurance(
        self,
        person: _Person,
        months: int,
        first_insured_on: date,
        status: str,
        *,
        employer: _Company | None = None,
        unemployment_insured: bool = True,
    ) -> None:
        self.rows["social_insurance"].append(
            (
                person.id_number,
                months,
                first_insured_on.isoformat(),
                employer.uscc if employer else None,
                employer.name if employer else None,
                int(unemployment_insured),
                status,
            )
        )

    def add_housing_fund(
        self, person: _Person, balance_cents: int, status: str, employer: str | None
    ) -> None:
        account = f"31{self.next_serial('housing_fund', start=10_000_000, max_step=7):010d}"
        self.rows["housing_fund"].append(
            (account, person.id_number, balance_cents, status, employer)
        )

    def add_real_estate(
        self,
        owners: Sequence[_Person],
        address: str,
        area_m2: float,
        usage: str,
        registered_on: date,
    ) -> str:
        district = next(d for d in DISTRICTS if d.name in address)
        year = registered_on.year
        serial = self.next_serial(("real_estate", year, district.abbr), max_step=30)
        number = f"沪({year}){district.abbr}字不动产权第{serial:06d}号"
        self.rows["real_estate"].append(
            (number, address, area_m2, usage, registered_on.isoformat())
        )
        for position, owner in enumerate(owners):
            self.rows["real_estate_owner"].append((number, position, owner.id_number))
        details = {
            "address": address,
            "area_m2": f"{area_m2:.2f}",
            "usage": usage,
            "ownership": "单独所有" if len(owners) == 1 else "共同共有",
            "owners": "、".join(owner.name for owner in owners),
        }
        for owner in owners:
            self.add_certificate(
                "real_estate_certificate", number, owner, REAL_ESTATE_ISSUER, registered_on, details
            )
        return number

    def add_company(self, company: _Company) -> _Company:
        self.companies[company.uscc] = company
        established = company.established_on
        self.rows["legal_person"].append(
            (
                company.uscc,
                company.name,
                company.rep.id_number,
                company.address,
                company.kind,
                established.isoformat(),
                company.status,
            )
        )
        if company.status == "存续":
            issuer = f"{CITY}{company.district.name}市场监督管理局"
            details = {
                "name": company.name,
                "kind": company.kind,
                "address": company.address,
                "legal_representative": company.rep.name,
            }
            self.add_certificate(
                "business_licence", company.uscc, company.rep, issuer, established, details
            )
        return company

    def add_certificate(
        self,
        kind: str,
        number: str,
        holder: _Person,
        issuer: str,
        issued_on: date,
        details: dict[str, str],
    ) -> None:
        self.rows["certificate"].append(
            (
                f"{CERTIFICATE_CODES[kind]}/{number}/{holder.id_number}",
                kind,
                number,
                holder.id_number,
                issuer,
                issued_on.isoformat(),
                json.dumps(details, ensure_ascii=False, sort_keys=True),
            )
        )


def _death_certifier(place: str, district: District, *, natural: bool) -> str:
    """Who issues the death certificate: police for unnatural deaths, else hospital or clinic."""
    if not natural:
        return f"{CITY}公安局{district.name}分局"
    return place if place != "家中" else f"{CITY}{district.name}社区卫生服务中心"


# ---------------------------------------------------------------------------------------------
# The demo cast


def _birth_date_of(id_number: str) -> date:
    return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def _add_demo_cast(ds: _Dataset) -> None:
    """Insert the fixed demo people, their households, employers and records."""
    names = {person.id_number: person.name for person in DEMO_PEOPLE}
    for spec in DEMO_HOUSEHOLDS:
        district = DISTRICT_BY_CODE[spec.region]
        ds.reserve_address(spec.address)
        head_birth = _birth_date_of(spec.member_id_numbers[0])
        established = max(_years_after(head_birth, 25), date(1990, 1, 1))
        household = ds.new_household(
            district, established, household_id=spec.household_id, address=spec.address
        )
        for id_number in spec.member_id_numbers:
            name = names[id_number]
            sex = "M" if int(id_number[16]) % 2 else "F"
            birth_date = _birth_date_of(id_number)
            person = _Person(id_number, name[0], name, sex, birth_date, "汉族", scripted=True)
            ds.join(household, ds.register(person))
    for spec in DEMO_COMPANIES:
        rep = ds.by_id[spec.legal_rep_id_number]
        district = DISTRICT_BY_CODE[spec.region]
        ds.reserve_company_name(spec.name)
        company = _Company(
            spec.uscc,
            spec.name,
            rep,
            district,
            spec.address,
            spec.kind,
            spec.established_on,
            "存续",
        )
        ds.add_company(company)
    for add_matter in (
        _demo_newborn,
        _demo_school_enrollment,
        _demo_retirement,
        _demo_employment,
        _demo_housing_fund,
        _demo_real_estate_transfer,
        _demo_veteran,
        _demo_unemployment,
        _demo_death,
        _demo_convenience_store,
    ):
        add_matter(ds)


def _demo_people(ds: _Dataset, matter: str) -> dict[str, _Person]:
    return {role: ds.by_id[person.id_number] for role, person in demo_cast(matter).items()}


def _home(person: _Person) -> _Household:
    assert person.household is not None, person.id_number
    return person.household


def _demo_employee(
    ds: _Dataset,
    person: _Person,
    employer: str,
    months: int,
    first_insured_on: date,
    *,
    fund_cents: int | None = None,
) -> None:
    """A contributing employee with employee medical insurance (maternity included)."""
    company = ds.companies[employer]
    ds.add_social_insurance(person, months, first_insured_on, "contributing", employer=company)
    ds.add_medical_insurance(person, "employee", months, maternity=True, employer=employer)
    if fund_cents is not None:
        ds.add_housing_fund(person, fund_cents, "normal", employer)


def _demo_retiree(ds: _Dataset, person: _Person, months: int, first_insured_on: date) -> None:
    ds.add_social_insurance(person, months, first_insured_on, "retired", unemployment_insured=False)
    ds.add_medical_insurance(person, "employee", months)


def _demo_newborn(ds: _Dataset) -> None:
    cast = _demo_people(ds, "newborn")
    today = ds.today
    ds.add_marriage(cast["grandfather"], cast["grandmother"], date(1986, 10, 1))
    ds.add_marriage(cast["husband"], cast["mother"], date(2021, 10, 8))
    ds.add_marriage(cast["father"], cast["wife"], date(2024, 5, 20))
    _demo_retiree(ds, cast["grandfather"], 480, date(1979, 9, 1))
    _demo_retiree(ds, cast["grandmother"], 372, date(1982, 3, 1))
    _demo_employee(ds, cast["husband"], SHENJIANG, 112, date(2014, 7, 1), fund_cents=9_234_500)
    _demo_employee(ds, cast["mother"], YUNFAN, 88, date(2016, 7, 1), fund_cents=7_120_000)
    _demo_employee(ds, cast["father"], SHENJIANG, 64, date(2018, 7, 1), fund_cents=4_215_600)
    ds.add_medical_insurance(cast["wife"], "resident", 24)
    ds.add_real_estate(
        [cast["grandfather"], cast["grandmother"]],
        _home(cast["grandfather"]).address,
        96.4,
        "住宅",
        date(1999, 3, 15),
    )
    ds.add_birth(
        cast["mother"],
        cast["husband"],
        today - timedelta(days=8),
        sex="F",
        child_name="张子涵",
        hospital=MATERNITY_HOSPITALS[0],
    )
    ds.add_birth(
        cast["wife"],
        cast["father"],
        today - timedelta(days=5),
        sex="M",
        hospital=MATERNITY_HOSPITALS[1],
    )


def _demo_school_enrollment(ds: _Dataset) -> None:
    cast = _demo_people(ds, "school_enrollment")
    ds.add_marriage(cast["parent"], cast["spouse"], date(2016, 9, 18))
    _demo_employee(ds, cast["parent"], YUNFAN, 124, date(2012, 7, 1), fund_cents=11_002_300)
    _demo_employee(ds, cast["spouse"], SHENJIANG, 110, date(2013, 9, 1), fund_cents=8_760_000)
    ds.add_medical_insurance(cast["child"], "resident", 72)
    ds.add_birth(
        cast["spouse"],
        cast["parent"],
        cast["child"].birth_date,
        sex="M",
        child=cast["child"],
        hospital=MATERNITY_HOSPITALS[1],
    )
    home = _home(cast["parent"]).address
    ds.add_real_estate([cast["parent"], cast["spouse"]], home, 89.2, "住宅", date(2019, 6, 18))


def _demo_retirement(ds: _Dataset) -> None:
    cast = _demo_people(ds, "retirement")
    ds.add_marriage(cast["applicant"], cast["spouse"], date(1991, 5, 1))
    _demo_employee(ds, cast["applicant"], SHENJIANG, 460, date(1988, 7, 1), fund_cents=18_643_250)
    _demo_retiree(ds, cast["spouse"], 300, date(1988, 3, 1))
    home = _home(cast["applicant"]).address
    ds.add_real_estate([cast["applicant"], cast["spouse"]], home, 78.5, "住宅", date(2004, 11, 20))


def _demo_employment(ds: _Dataset) -> None:
    cast = _demo_people(ds, "employment")
    hired_on = months_after(ds.today.replace(day=1), -4)
    months = _months_between(hired_on, ds.today) + 1
    ds.add_marriage(cast["father"], cast["mother"], date(2000, 10, 1))
    ds.add_birth(
        cast["mother"], cast["father"], cast["graduate"].birth_date, sex="M", child=cast["graduate"]
    )
    _demo_employee(ds, cast["graduate"], YUNFAN, months, hired_on, fund_cents=months * 112_000)
    _demo_employee(ds, cast["father"], SHENJIANG, 300, date(1995, 3, 1))
    _demo_retiree(ds, cast["mother"], 264, date(1993, 7, 1))
    _demo_employee(ds, cast["employer"], YUNFAN, 250, date(2005, 9, 1), fund_cents=20_350_000)


def _demo_housing_fund(ds: _Dataset) -> None:
    applicant = _demo_people(ds, "housing_fund")["applicant"]
    _demo_employee(ds, applicant, YUNFAN, 156, date(2013, 8, 1), fund_cents=15_678_900)
    flat = ds.reserve_address("上海市普陀区真北路2500弄16号1103室")
    ds.add_real_estate([applicant], flat, 89.5, "住宅", ds.today - timedelta(days=25))


def _demo_real_estate_transfer(ds: _Dataset) -> None:
    cast = _demo_people(ds, "real_estate_transfer")
    seller, spouse = cast["seller"], cast["spouse"]
    ds.add_marriage(seller, spouse, date(1996, 10, 2))
    _demo_employee(ds, seller, SHENJIANG, 380, date(1991, 7, 1), fund_cents=13_560_000)
    _demo_retiree(ds, spouse, 260, date(1992, 7, 1))
    _demo_employee(ds, cast["buyer"], SHENJIANG, 110, date(2014, 9, 1), fund_cents=9_876_500)
    home = _home(seller).address
    ds.add_real_estate([seller, spouse], home, 98.6, "住宅", date(2002, 8, 16))
    flat = ds.reserve_address("上海市虹口区四川北路1666弄2号1003室")
    ds.add_real_estate([seller], flat, 76.3, "住宅", date(2010, 4, 9))


def _demo_veteran(ds: _Dataset) -> None:
    cast = _demo_people(ds, "veteran")
    veteran = cast["veteran"]
    enlisted, discharged = date(2020, 9, 10), ds.today - timedelta(days=20)
    ds.add_marriage(cast["father"], cast["mother"], date(2000, 1, 1))
    ds.add_birth(cast["mother"], cast["father"], veteran.birth_date, sex="M", child=veteran)
    ds.rows["veteran"].append(
        (
            veteran.id_number,
            "陆军",
            enlisted.isoformat(),
            discharged.isoformat(),
            "士官退出现役",
            "自主就业",
        )
    )
    months = _months_between(enlisted, discharged)
    ds.add_social_insurance(veteran, months, enlisted, "suspended", unemployment_insured=False)


def _demo_unemployment(ds: _Dataset) -> None:
    applicant = _demo_people(ds, "unemployment")["applicant"]
    former = ds.companies[SHENJIANG]
    ds.add_social_insurance(applicant, 150, date(2014, 5, 1), "suspended", employer=former)
    ds.add_medical_insurance(applicant, "employee", 150, maternity=True, employer=SHENJIANG)
    ds.add_housing_fund(applicant, 4_521_000, "sealed", SHENJIANG)


def _demo_death(ds: _Dataset) -> None:
    cast = _demo_people(ds, "death")
    deceased = cast["deceased"]
    _demo_retiree(ds, deceased, 420, date(1966, 9, 1))
    ds.add_housing_fund(deceased, 864_000, "sealed", None)
    ds.add_death(deceased, ds.today - timedelta(days=3))
    _demo_employee(ds, cast["applicant"], YUNFAN, 300, date(2000, 7, 1), fund_cents=16_020_000)


def _demo_convenience_store(ds: _Dataset) -> None:
    applicant = _demo_people(ds, "convenience_store")["applicant"]
    ds.add_social_insurance(
        applicant, 200, date(2010, 3, 1), "contributing", unemployment_insured=False
    )
    ds.add_medical_insurance(applicant, "employee", 200)
    home = _home(applicant).address
    ds.add_real_estate([applicant], home, 72.4, "住宅", date(2011, 3, 3))
    shop = ds.reserve_address("上海市普陀区武宁路420号101室")
    ds.add_real_estate([applicant], shop, 35.6, "商业", date(2015, 9, 1))


# ---------------------------------------------------------------------------------------------
# The random population


def _add_population(ds: _Dataset, people: int) -> None:
    """Add random households until `people` more persons are in the population registry."""
    target = len(ds.persons) + people
    while len(ds.persons) < target:
        roll = ds.rng.random()
        if roll < 0.56:
            _add_family(ds)
        elif roll < 0.72:
            _add_elderly_couple(ds)
        elif roll < 0.88:
            _add_single(ds, ds.rng.randint(20, 45))
        elif roll < 0.94:
            _add_single_parent(ds)
        else:
            _add_divorced_pair(ds)


def _birth_date_for_age(ds: _Dataset, min_age: int, max_age: int) -> date:
    """A birth date for someone between `min_age` and `max_age` years old today."""
    latest = _years_after(ds.today, -min_age) - timedelta(days=1)
    earliest = _years_after(ds.today, -max_age - 1) + timedelta(days=1)
    return ds.random_date(earliest, latest)


def _wedding_date(ds: _Dataset, husband: _Person, wife: _Person) -> date:
    """A wedding when both were of legal age, at least a month before today."""
    earliest = max(_years_after(husband.birth_date, 22), _years_after(wife.birth_date, 22))
    latest = min(ds.today - timedelta(days=30), _years_after(earliest, 8))
    return ds.random_date(earliest, max(earliest, latest))


def _couple(
    ds: _Dataset, district: District, wife_min_age: int, wife_max_age: int
) -> tuple[_Person, _Person, date]:
    """A husband and wife with the wife's age in range, and their wedding date."""
    wife_birth = _birth_date_for_age(ds, wife_min_age, wife_max_age)
    husband_birth = wife_birth - timedelta(days=ds.rng.randint(-300, 5 * 365))
    husband = ds.new_person("M", husband_birth, district)
    wife = ds.new_person("F", wife_birth, district)
    return husband, wife, _wedding_date(ds, husband, wife)


def _child_count(ds: _Dataset, mother_birth: date) -> int:
    if mother_birth.year < 1960:
        return ds.rng.choices((1, 2, 3), weights=(3, 5, 2))[0]
    if mother_birth.year < 1985:
        return ds.rng.choices((0, 1, 2), weights=(1, 8, 1))[0]
    return ds.rng.choices((0, 1, 2), weights=(3, 5, 2))[0]


def _add_children(
    ds: _Dataset, household: _Household, mother: _Person, father: _Person | None, since: date
) -> None:
    """Children still living at home, registered once older than the newborn window."""
    last = min(
        ds.today - timedelta(days=RECENT_BIRTH_DAYS + 1), _years_after(mother.birth_date, 42)
    )
    first = max(since + timedelta(days=300), _years_after(ds.today, -29))
    if first > last:
        return
    births = sorted(ds.random_date(first, last) for _ in range(_child_count(ds, mother.birth_date)))
    surname = (father or mother).surname
    for birth_date in births:
        sex = ds.rng.choice("MF")
        child = ds.new_person(sex, birth_date, household.district, surname=surname)
        ds.join(household, child)
        if birth_date.year >= 1996:
            ds.add_birth(mother, father, birth_date, sex=sex, child=child)


def _maybe_newborn(ds: _Dataset, mother: _Person, father: _Person) -> None:
    """Some younger couples had a baby in the last 60 days, not yet registered."""
    if not 22 <= _age(mother.birth_date, ds.today) <= 42 or ds.rng.random() >= 0.05:
        return
    birth_date = ds.today - timedelta(days=ds.rng.randint(0, RECENT_BIRTH_DAYS))
    sex = ds.rng.choice("MF")
    name = father.surname + ds.given_name(sex, birth_date) if ds.rng.random() < 0.6 else None
    ds.add_birth(mother, father, birth_date, sex=sex, child_name=name)


def _maybe_own_home(
    ds: _Dataset, household: _Household, owners: Sequence[_Person], chance: float, since: date
) -> None:
    rng = ds.rng
    if rng.random() >= chance:
        return
    earliest = max(since, _years_after(owners[0].birth_date, 23), date(1993, 1, 1))
    registered = ds.random_date(earliest, max(earliest, ds.today - timedelta(days=30)))
    area = round(rng.uniform(38, 150), 2)
    ds.add_real_estate(owners, household.address, area, "住宅", registered)
    if rng.random() < 0.06:
        other = ds.home_address(rng.choice(DISTRICTS))
        ds.add_real_estate(owners, other, round(rng.uniform(38, 120), 2), "住宅", registered)


def _add_family(ds: _Dataset) -> None:
    """A married couple with children at home, sometimes with a widowed grandmother."""
    district = ds.rng.choice(DISTRICTS)
    husband, wife, married_on = _couple(ds, district, 23, 62)
    household = ds.new_household(district, married_on)
    ds.join(household, husband, wife)
    ds.add_marriage(husband, wife, married_on)
    _add_children(ds, household, wife, husband, married_on)
    _maybe_newborn(ds, wife, husband)
    if ds.rng.random() < 0.12:
        _add_widowed_grandmother(ds, household, husband)
    _maybe_own_home(ds, household, [husband, wife], 0.72, married_on)


def _add_widowed_grandmother(ds: _Dataset, household: _Household, son: _Person) -> None:
    """The son's widowed mother moves in; her husband died years ago."""
    birth = _years_after(son.birth_date, -ds.rng.randint(22, 32))
    if _age(birth, ds.today) > 95:
        return
    grandmother = ds.new_person("F", birth, household.district)
    grandfather_birth = _years_after(birth, -ds.rng.randint(0, 4))
    grandfather = ds.new_person("M", grandfather_birth, household.district, surname=son.surname)
    ds.join(household, grandmother, grandfather)
    ds.add_marriage(grandfather, grandmother, _wedding_date(ds, grandfather, grandmother))
    earliest = max(_years_after(grandfather.birth_date, 60), ds.today - timedelta(days=3650))
    died_on = ds.random_date(earliest, ds.today - timedelta(days=1))
    ds.add_death(grandfather, died_on, natural=ds.rng.random() >= 0.05)


def _add_elderly_couple(ds: _Dataset) -> None:
    """Two retirees; one of them may have died, recently or years ago."""
    district = ds.rng.choice(DISTRICTS)
    husband, wife, married_on = _couple(ds, district, 58, 90)
    household = ds.new_household(district, married_on)
    ds.join(household, husband, wife)
    ds.add_marriage(husband, wife, married_on)
    if ds.rng.random() < 0.15:
        deceased = husband if ds.rng.random() < 0.6 else wife
        earliest = max(_years_after(deceased.birth_date, 60), ds.today - timedelta(days=3000))
        died_on = ds.random_date(earliest, ds.today - timedelta(days=1))
        ds.add_death(deceased, died_on, natural=ds.rng.random() >= 0.05)
        if deceased is husband and husband.cancelled:
            household.members.reverse()  # the widow heads the household now
    _maybe_own_home(ds, household, [husband, wife], 0.85, married_on)


def _add_single(ds: _Dataset, age: int, sex: str | None = None) -> _Person:
    district = ds.rng.choice(DISTRICTS)
    person = ds.new_person(sex or ds.rng.choice("MF"), _birth_date_for_age(ds, age, age), district)
    since = max(_years_after(person.birth_date, 18), date(1990, 1, 1))
    household = ds.new_household(district, since)
    ds.join(household, person)
    _maybe_own_home(ds, household, [person], 0.3, since)
    return person


def _add_single_parent(ds: _Dataset) -> None:
    """A divorced mother with her children; the father lives alone elsewhere."""
    mother = _add_single(ds, ds.rng.randint(28, 50), "F")
    father = _add_single(ds, _age(mother.birth_date, ds.today) + ds.rng.randint(0, 4), "M")
    married_on = _wedding_date(ds, father, mother)
    ds.add_marriage(father, mother, married_on, status="divorced")
    assert mother.household is not None
    _add_children(ds, mother.household, mother, father, married_on)


def _add_divorced_pair(ds: _Dataset) -> None:
    wife = _add_single(ds, ds.rng.randint(28, 55), "F")
    husband = _add_single(ds, _age(wife.birth_date, ds.today) + ds.rng.randint(0, 4), "M")
    ds.add_marriage(husband, wife, _wedding_date(ds, husband, wife), status="divorced")


# ---------------------------------------------------------------------------------------------
# Companies, careers, schools, military service


def _company_name(ds: _Dataset, kind: str, district: District) -> str:
    rng = ds.rng
    while True:
        if rng.random() < 0.5:
            trade = rng.choice(ds.names.trade_names)
        else:
            trade = "".join(rng.sample(TRADE_NAME_CHARS, 2))
        if kind == "个体工商户":
            name = f"{CITY}{district.name}{trade}{rng.choice(SHOP_KINDS)}"
        else:
            name = f"上海{trade}{rng.choice(INDUSTRIES)}有限公司"
            if kind == "个人独资企业":
                name = name.removesuffix("有限公司") + "商行"
        if ds.reserve_company_name(name):
            return name


def _organization_part(ds: _Dataset, established_on: date) -> str:
    """Eight characters of organization code: "MA…" since the 2015 reform, digits before."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    if established_on.year >= 2016:
        return "MA" + "".join(ds.rng.choice(alphabet) for _ in range(6))
    return f"{ds.rng.randrange(10**8):08d}"


def _add_companies(ds: _Dataset, count: int) -> list[_Company]:
    """Random legal persons represented by working-age adults; returns the active ones."""
    today = ds.today
    candidates = [
        p
        for p in ds.persons
        if not p.scripted and p.alive and 25 <= _age(p.birth_date, today) <= 65
    ]
    active: list[_Company] = []
    for _ in range(count if candidates else 0):
        rep = ds.rng.choice(candidates)
        kind = ds.rng.choices(COMPANY_KINDS, weights=COMPANY_KIND_WEIGHTS)[0]
        district = ds.rng.choice(DISTRICTS)
        earliest = max(_years_after(rep.birth_date, 22), date(1995, 1, 1))
        established = ds.random_date(earliest, today - timedelta(days=30))
        prefix = "92" if kind == "个体工商户" else "91"
        code = credit_code(prefix, district.code, _organization_part(ds, established))
        status = ds.rng.choices(("存续", "注销", "吊销"), weights=(92, 5, 3))[0]
        address = ds.street_address(district, f"{ds.rng.randint(1, 20)}层")
        name = _company_name(ds, kind, district)
        company = _Company(code, name, rep, district, address, kind, established, status)
        ds.add_company(company)
        if status == "存续":
            active.append(company)
    return active


def _add_careers(ds: _Dataset, companies: list[_Company]) -> None:
    """Social insurance, medical insurance and housing fund for every living random person."""
    demo_employers = [ds.companies[spec.uscc] for spec in DEMO_COMPANIES]
    employers = demo_employers + [c for c in companies if c.kind != "个体工商户"]
    for person in ds.persons:
        if person.scripted or person.cancelled:
            continue
        female_cadre = ds.rng.random() < 0.5
        retires_on = statutory_retirement_date(
            person.sex, person.birth_date, female_cadre=female_cadre
        )
        age = _age(person.birth_date, ds.today)
        if retires_on <= ds.today:
            _add_retiree_records(ds, person, retires_on)
        elif age < 18 or (age < 22 and ds.rng.random() < 0.8):
            if ds.rng.random() < 0.97:
                months = min(_months_between(person.birth_date, ds.today), 216)
                ds.add_medical_insurance(person, "resident", months)
        elif person.alive:
            _add_working_age_records(ds, person, ds.rng.choice(employers))


def _working_life(ds: _Dataset, person: _Person, end: date, coverage: float) -> tuple[date, int]:
    """When insurance started (age 18-24) and the months contributed until `end`."""
    start = ds.random_date(_years_after(person.birth_date, 18), _years_after(person.birth_date, 24))
    start = min(start, end - timedelta(days=31))
    months = max(1, int(_months_between(start, end) * coverage))
    return start, months


def _add_retiree_records(ds: _Dataset, person: _Person, retired_on: date) -> None:
    rng = ds.rng
    if rng.random() >= 0.88:
        ds.add_medical_insurance(person, "resident", rng.randint(12, 180))
        return
    start, months = _working_life(ds, person, retired_on, rng.uniform(0.75, 1.0))
    months = max(months, 180)
    ds.add_social_insurance(person, months, start, "retired", unemployment_insured=False)
    ds.add_medical_insurance(person, "employee", max(months - rng.randint(0, 60), 180))
    if rng.random() < 0.5:
        ds.add_housing_fund(person, 0, "closed", None)


def _add_working_age_records(ds: _Dataset, person: _Person, employer: _Company) -> None:
    """An employee, a flexible worker, someone between jobs or someone never insured."""
    rng, today = ds.rng, ds.today
    roll = rng.random()
    if roll < 0.14:
        ds.add_medical_insurance(person, "resident", rng.randint(1, 120))
        return
    if roll < 0.20:
        start, months = _working_life(ds, person, today, rng.uniform(0.5, 1.0))
        ds.add_social_insurance(person, months, start, "contributing", unemployment_insured=False)
        ds.add_medical_insurance(person, "employee", months)
        return
    suspended = roll < 0.26
    end = today - timedelta(days=rng.randint(10, 700)) if suspended else today
    start, months = _working_life(ds, person, end, rng.uniform(0.8, 1.0))
    status = "suspended" if suspended else "contributing"
    ds.add_social_insurance(person, months, start, status, employer=employer)
    recent = not suspended or (today - end).days <= 90
    if recent:
        maternity = rng.random() < 0.95
        ds.add_medical_insurance(
            person, "employee", months, maternity=maternity, employer=employer.uscc
        )
    else:
        ds.add_medical_insurance(person, "resident", _months_between(end, today))
    if rng.random() < 0.85:
        monthly = rng.randint(600, 5000) * 100
        balance = int(min(months, 240) * monthly * rng.uniform(0.1, 1.0))
        ds.add_housing_fund(person, balance, "sealed" if suspended else "normal", employer.uscc)


def _add_students(ds: _Dataset) -> None:
    """Student records for school-age children, at schools in their household's district."""
    for person in ds.persons:
        if person.scripted or not person.alive or person.household is None:
            continue
        grade = _school_grade(person.birth_date, ds.today)
        if grade is None or ds.rng.random() >= 0.95:
            continue
        district = person.household.district
        street = ds.rng.choice(district.streets)
        level = GRADES.index(grade)
        suffix = "小学" if level < 6 else "中学" if level < 9 else "高级中学"
        school = f"{CITY}{district.name}{street.removesuffix('路')}{suffix}"
        ds.rows["student"].append((f"G{person.id_number}", person.id_number, school, grade))


def _add_veterans(ds: _Dataset) -> None:
    """A few men aged 22-55 served two to sixteen years."""
    rng, today = ds.rng, ds.today
    for person in ds.persons:
        if person.scripted or not person.alive or person.sex != "M":
            continue
        if not 22 <= _age(person.birth_date, today) <= 55 or rng.random() >= 0.015:
            continue
        enlisted = date(person.birth_date.year + rng.randint(18, 20), 9, rng.randint(1, 20))
        years = rng.choice((2, 5, 8, 12, 16))
        discharged = min(_years_after(enlisted, years), today - timedelta(days=rng.randint(1, 400)))
        if discharged <= enlisted:
            continue
        served = (discharged - enlisted).days // 365
        if served >= 14:
            kind, placement = "军官转业", rng.choice(("安排工作", "逐月领取退役金"))
        else:
            kind = "义务兵退出现役" if served < 3 else "士官退出现役"
            placement = "自主就业" if rng.random() < 0.7 else "安排工作"
        branch = rng.choice(SERVICE_BRANCHES)
        ds.rows["veteran"].append(
            (
                person.id_number,
                branch,
                enlisted.isoformat(),
                discharged.isoformat(),
                kind,
                placement,
            )
        )


# ---------------------------------------------------------------------------------------------
# Population rows and identity certificates


def _id_card_validity(birth_date: date, today: date) -> tuple[date, date | None]:
    """The current ID card's validity: 10 years to 25, 20 years to 45, then long-term."""
    issued = _years_after(birth_date, 16)
    while True:
        age = _age(birth_date, issued)
        if age >= 46:
            return issued, None
        expires = _years_after(issued, 10 if age < 26 else 20)
        if expires > today:
            return issued, expires
        issued = expires


def _add_population_rows(ds: _Dataset) -> None:
    """Person and household rows with household booklets, and ID cards for those over 16."""
    today = ds.today
    for household in ds.households:
        _add_household_rows(ds, household)
    for person in ds.persons:
        if not person.alive or _age(person.birth_date, today) < 16:
            continue
        assert person.household is not None
        issued, expires = _id_card_validity(person.birth_date, today)
        details = {
            "name": person.name,
            "address": person.household.address,
            "valid_from": issued.isoformat(),
            "valid_until": expires.isoformat() if expires else "长期",
        }
        issuer = f"{CITY}公安局{person.household.district.name}分局"
        ds.add_certificate("id_card", person.id_number, person, issuer, issued, details)


def _add_household_rows(ds: _Dataset, household: _Household) -> None:
    district = household.district
    head = next(m for m in household.members if not m.cancelled)
    ds.rows["household"].append(
        (
            household.household_id,
            household.address,
            district.code,
            head.id_number,
            household.established_on.isoformat(),
        )
    )
    for position, person in enumerate(household.members):
        ds.rows["person"].append(
            (
                person.id_number,
                person.name,
                person.sex,
                person.birth_date.isoformat(),
                person.ethnicity,
                household.household_id,
                position,
                household.address,
                district.code,
                int(person.alive),
                person.death_date.isoformat() if person.death_date else None,
                int(person.cancelled),
            )
        )
    members = sum(not m.cancelled for m in household.members)
    details = {"address": household.address, "head_name": head.name, "member_count": str(members)}
    issuer = f"{CITY}公安局{district.name}分局"
    booklet = household.household_id
    ds.add_certificate(
        "household_booklet", booklet, head, issuer, household.established_on, details
    )


# ---------------------------------------------------------------------------------------------
# Writing the file


def _write_atomically(path: Path, rows: dict[str, list[Row]]) -> dict[str, int]:
    """Write all tables to a temporary file beside `path`, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        _write_tables(Path(temp_name), rows)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return {table: len(rows[table]) for table in TABLES}


def _primary_key(row: Row) -> tuple[str, int]:
    """Sort key: the first column (the key), then a position for the owner table's rows."""
    position = row[1] if isinstance(row[1], int) else 0
    return str(row[0]), position


def _write_tables(path: Path, rows: dict[str, list[Row]]) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode = OFF")
        connection.execute("PRAGMA synchronous = OFF")
        connection.execute("BEGIN")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                connection.execute(statement)
        for table in TABLES:
            table_rows = sorted(rows[table], key=_primary_key)
            if table_rows:
                marks = ", ".join("?" * len(table_rows[0]))
                connection.executemany(f"INSERT INTO {table} VALUES ({marks})", table_rows)
        for statement in INDEXES.split(";"):
            if statement.strip():
                connection.execute(statement)
        connection.execute("COMMIT")
    finally:
        connection.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate the embedded registry dataset.")
    parser.add_argument("path", type=Path)
    parser.add_argument("--people", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--today", type=date.fromisoformat, default=date.today())
    args = parser.parse_args(argv)
    counts = generate_dataset(args.path, people=args.people, seed=args.seed, today=args.today)
    for table, count in counts.items():
        print(f"{table:20} {count:>8}")


if __name__ == "__main__":
    main()
