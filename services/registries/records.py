"""Typed records returned by shared-data registries (共享数据库).

Every record carries where it came from: the registry's code, the record's id in that
registry and when it was retrieved, so a form can show the source of each prefilled fact
and the audit log can name what was read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from forms.sources import registry_name
from services.errors import DomainError


@dataclass(frozen=True)
class Source:
    """Provenance of a record: registry code, record id and retrieval time."""

    registry: str
    record_id: str
    retrieved_at: datetime

    @property
    def registry_name(self) -> str:
        return registry_name(self.registry)


@dataclass(frozen=True)
class Person:
    id_number: str
    name: str
    sex: str  # "M" or "F"
    birth_date: date
    ethnicity: str
    household_id: str
    hukou_address: str
    hukou_region: str  # six-digit administrative region code
    alive: bool
    source: Source
    death_date: date | None = None


@dataclass(frozen=True)
class Household:
    household_id: str
    address: str
    region: str
    head_id_number: str
    member_id_numbers: tuple[str, ...]
    source: Source


@dataclass(frozen=True)
class Marriage:
    cert_number: str
    husband_id_number: str
    wife_id_number: str
    registered_on: date
    office: str
    status: str  # "married" or "divorced"
    source: Source


@dataclass(frozen=True)
class BirthRecord:
    cert_number: str  # 出生医学证明编号
    child_name: str | None
    sex: str
    birth_date: date
    birth_place: str
    hospital: str
    mother_id_number: str
    father_id_number: str | None
    source: Source


@dataclass(frozen=True)
class DeathRecord:
    cert_number: str
    id_number: str
    death_date: date
    place: str
    cause_category: str  # "natural" or "unnatural"
    source: Source


@dataclass(frozen=True)
class MedicalInsurance:
    id_number: str
    scheme: str  # "employee" or "resident"
    maternity_insurance: bool
    employer_uscc: str | None
    contribution_months: int
    source: Source


@dataclass(frozen=True)
class SocialInsurance:
    id_number: str
    pension_contribution_months: int
    first_insured_on: date
    employer_uscc: str | None
    employer_name: str | None
    unemployment_insured: bool
    status: str  # "contributing", "suspended", "retired"
    source: Source


@dataclass(frozen=True)
class HousingFund:
    account_number: str
    id_number: str
    balance_cents: int
    status: str  # "normal", "sealed", "closed"
    employer_uscc: str | None
    source: Source


@dataclass(frozen=True)
class RealEstate:
    cert_number: str  # 不动产权证书号
    owner_id_numbers: tuple[str, ...]
    address: str
    area_m2: float
    usage: str
    registered_on: date
    source: Source


@dataclass(frozen=True)
class LegalPerson:
    uscc: str
    name: str
    legal_rep_id_number: str
    address: str
    kind: str
    established_on: date
    status: str
    source: Source


@dataclass(frozen=True)
class StudentRecord:
    student_number: str
    id_number: str
    school: str
    grade: str
    source: Source


@dataclass(frozen=True)
class VeteranRecord:
    id_number: str
    service_branch: str
    enlisted_on: date
    discharged_on: date
    discharge_kind: str
    placement: str
    source: Source


@dataclass(frozen=True)
class Certificate:
    kind: str  # e.g. "birth_medical_certificate", "marriage_certificate"
    number: str
    holder_id_number: str
    issuer: str
    issued_on: date
    source: Source
    details: dict[str, str] = field(default_factory=dict)


class RegistryUnavailable(DomainError):
    """A registry could not answer; the citizen should fill in its facts by hand.

    `registry` is the registry code; `reason` is one of "unreachable" (network, timeouts, 5xx),
    "circuit_open" (failing fast), "bad_response" (unreadable answer), "configuration" (401, 403
    or a wrong URL) or "rejected" (another 4xx). `detail` is for operators and names no person.
    """

    status = 503
    code = "registry_unavailable"

    def __init__(self, registry: str, *, reason: str = "unreachable", detail: str = "") -> None:
        zh, en = registry_name(registry), registry_name(registry, "en")
        if reason == "configuration":
            message = f"{zh}暂时无法访问（数据共享交换平台的接入配置有误），请手动填写相关信息。"
            message_en = (
                f"The {en} is temporarily unavailable (the data-exchange platform's connection "
                "configuration is wrong); please fill in the details yourself."
            )
        else:
            message = f"{zh}暂时无法访问，请手动填写相关信息。"
            message_en = (
                f"The {en} is temporarily unavailable; please fill in the details yourself."
            )
        super().__init__(message, message_en)
        self.registry = registry
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.registry} unavailable ({self.reason}): {self.detail or self.message_en}"


class Registry(Protocol):
    """What a shared-data exchange offers. Every method returns records or empty results, and
    raises `RegistryUnavailable` when the registry cannot answer at all."""

    def person(self, id_number: str) -> Person | None: ...

    def household(self, household_id: str) -> Household | None: ...

    def marriage_of(self, id_number: str) -> Marriage | None:
        """The current (not divorced) marriage of a person, if any."""

    def births_to(self, parent_id_number: str) -> list[BirthRecord]:
        """Birth records naming the person as mother or father, newest first."""

    def death_of(self, id_number: str) -> DeathRecord | None: ...

    def medical_insurance(self, id_number: str) -> MedicalInsurance | None: ...

    def social_insurance(self, id_number: str) -> SocialInsurance | None: ...

    def housing_fund(self, id_number: str) -> HousingFund | None: ...

    def real_estate_of(self, id_number: str) -> list[RealEstate]: ...

    def legal_persons_of(self, id_number: str) -> list[LegalPerson]:
        """Legal persons whose legal representative is this person."""

    def legal_person(self, uscc: str) -> LegalPerson | None: ...

    def student(self, id_number: str) -> StudentRecord | None: ...

    def veteran(self, id_number: str) -> VeteranRecord | None: ...

    def certificates_of(self, id_number: str, kind: str | None = None) -> list[Certificate]: ...
