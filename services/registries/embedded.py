"""The embedded demo registry: every `Registry` lookup answered from one read-only SQLite file.

The file is written by `demo.registry`. Connections are opened read-only, one
per thread, so a multi-threaded server can share one `EmbeddedRegistry`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from services.registries.records import (
    BirthRecord,
    Certificate,
    DeathRecord,
    Household,
    HousingFund,
    LegalPerson,
    Marriage,
    MedicalInsurance,
    Person,
    RealEstate,
    SocialInsurance,
    Source,
    StudentRecord,
    VeteranRecord,
)

Row = tuple[Any, ...]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


class EmbeddedRegistry:
    """A `Registry` over the generated SQLite file; unknown ids give None or empty lists."""

    def __init__(self, path: Path, clock: Callable[[], datetime] = _utc_now) -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"Registry data file {path} is missing; generate it with: "
                f"python -m demo.registry {path}"
            )
        self.path = path
        self._uri = f"{path.resolve().as_uri()}?mode=ro"
        self._clock = clock
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the connections of every thread (the registry must not be used afterwards)."""
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()

    # plumbing

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self._uri, uri=True, check_same_thread=False)
            connection.execute("PRAGMA query_only = ON")
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def _one(self, sql: str, *params: object) -> Row | None:
        return self._connection().execute(sql, params).fetchone()

    def _all(self, sql: str, *params: object) -> list[Row]:
        return self._connection().execute(sql, params).fetchall()

    def _source(self, registry: str, record_id: str) -> Source:
        return Source(registry, record_id, self._clock())

    # population

    def person(self, id_number: str) -> Person | None:
        row = self._one(
            "SELECT id_number, name, sex, birth_date, ethnicity, household_id, hukou_address,"
            " hukou_region, alive, death_date FROM person WHERE id_number = ?",
            id_number,
        )
        if row is None:
            return None
        number, name, sex, born, ethnicity, household_id, address, region, alive, died = row
        return Person(
            id_number=number,
            name=name,
            sex=sex,
            birth_date=date.fromisoformat(born),
            ethnicity=ethnicity,
            household_id=household_id,
            hukou_address=address,
            hukou_region=region,
            alive=bool(alive),
            source=self._source("population", number),
            death_date=_date(died),
        )

    def household(self, household_id: str) -> Household | None:
        row = self._one(
            "SELECT household_id, address, region, head_id_number FROM household"
            " WHERE household_id = ?",
            household_id,
        )
        if row is None:
            return None
        members = self._all(
            "SELECT id_number FROM person WHERE household_id = ? AND cancelled = 0"
            " ORDER BY position",
            household_id,
        )
        return Household(
            household_id=row[0],
            address=row[1],
            region=row[2],
            head_id_number=row[3],
            member_id_numbers=tuple(member[0] for member in members),
            source=self._source("population", row[0]),
        )

    # civil status

    def marriage_of(self, id_number: str) -> Marriage | None:
        """The current (not divorced) marriage of a person, if any."""
        columns = "cert_number, husband_id_number, wife_id_number, registered_on, office, status"
        row = self._one(
            f"SELECT {columns} FROM marriage WHERE husband_id_number = ? AND status = 'married'"
            f" UNION ALL SELECT {columns} FROM marriage"
            " WHERE wife_id_number = ? AND status = 'married'"
            " ORDER BY registered_on DESC LIMIT 1",
            id_number,
            id_number,
        )
        if row is None:
            return None
        return Marriage(
            cert_number=row[0],
            husband_id_number=row[1],
            wife_id_number=row[2],
            registered_on=date.fromisoformat(row[3]),
            office=row[4],
            status=row[5],
            source=self._source("marriage", row[0]),
        )

    def births_to(self, parent_id_number: str) -> list[BirthRecord]:
        """Birth records naming the person as mother or father, newest first."""
        columns = (
            "cert_number, child_name, sex, birth_date, birth_place, hospital,"
            " mother_id_number, father_id_number"
        )
        rows = self._all(
            f"SELECT {columns} FROM birth WHERE mother_id_number = ?"
            f" UNION SELECT {columns} FROM birth WHERE father_id_number = ?"
            " ORDER BY birth_date DESC, cert_number",
            parent_id_number,
            parent_id_number,
        )
        return [
            BirthRecord(
                cert_number=row[0],
                child_name=row[1],
                sex=row[2],
                birth_date=date.fromisoformat(row[3]),
                birth_place=row[4],
                hospital=row[5],
                mother_id_number=row[6],
                father_id_number=row[7],
                source=self._source("birth", row[0]),
            )
            for row in rows
        ]

    def death_of(self, id_number: str) -> DeathRecord | None:
        row = self._one(
            "SELECT cert_number, id_number, death_date, place, cause_category FROM death"
            " WHERE id_number = ?",
            id_number,
        )
        if row is None:
            return None
        return DeathRecord(
            cert_number=row[0],
            id_number=row[1],
            death_date=date.fromisoformat(row[2]),
            place=row[3],
            cause_category=row[4],
            source=self._source("death", row[0]),
        )

    # insurance and housing fund

    def medical_insurance(self, id_number: str) -> MedicalInsurance | None:
        row = self._one(
            "SELECT id_number, scheme, maternity_insurance, employer_uscc, contribution_months"
            " FROM medical_insurance WHERE id_number = ?",
            id_number,
        )
        if row is None:
            return None
        return MedicalInsurance(
            id_number=row[0],
            scheme=row[1],
            maternity_insurance=bool(row[2]),
            employer_uscc=row[3],
            contribution_months=row[4],
            source=self._source("medical_insurance", row[0]),
        )

    def social_insurance(self, id_number: str) -> SocialInsurance | None:
        row = self._one(
            "SELECT id_number, pension_contribution_months, first_insured_on, employer_uscc,"
            " employer_name, unemployment_insured, status FROM social_insurance"
            " WHERE id_number = ?",
            id_number,
        )
        if row is None:
            return None
        return SocialInsurance(
            id_number=row[0],
            pension_contribution_months=row[1],
            first_insured_on=date.fromisoformat(row[2]),
            employer_uscc=row[3],
            employer_name=row[4],
            unemployment_insured=bool(row[5]),
            status=row[6],
            source=self._source("social_insurance", row[0]),
        )

    def housing_fund(self, id_number: str) -> HousingFund | None:
        row = self._one(
            "SELECT account_number, id_number, balance_cents, status, employer_uscc"
            " FROM housing_fund WHERE id_number = ?",
            id_number,
        )
        if row is None:
            return None
        return HousingFund(
            account_number=row[0],
            id_number=row[1],
            balance_cents=row[2],
            status=row[3],
            employer_uscc=row[4],
            source=self._source("housing_fund", row[0]),
        )

    # property and companies

    def real_estate_of(self, id_number: str) -> list[RealEstate]:
        rows = self._all(
            "SELECT e.cert_number, e.address, e.area_m2, e.usage, e.registered_on"
            " FROM real_estate_owner AS o JOIN real_estate AS e ON e.cert_number = o.cert_number"
            " WHERE o.id_number = ? ORDER BY e.registered_on DESC, e.cert_number",
            id_number,
        )
        return [
            RealEstate(
                cert_number=row[0],
                owner_id_numbers=self._owners(row[0]),
                address=row[1],
                area_m2=row[2],
                usage=row[3],
                registered_on=date.fromisoformat(row[4]),
                source=self._source("real_estate", row[0]),
            )
            for row in rows
        ]

    def _owners(self, cert_number: str) -> tuple[str, ...]:
        rows = self._all(
            "SELECT id_number FROM real_estate_owner WHERE cert_number = ? ORDER BY position",
            cert_number,
        )
        return tuple(row[0] for row in rows)

    def legal_persons_of(self, id_number: str) -> list[LegalPerson]:
        """Legal persons whose legal representative is this person."""
        rows = self._all(
            f"{_LEGAL_PERSON_SELECT} WHERE legal_rep_id_number = ? ORDER BY established_on, uscc",
            id_number,
        )
        return [self._legal_person(row) for row in rows]

    def legal_person(self, uscc: str) -> LegalPerson | None:
        row = self._one(f"{_LEGAL_PERSON_SELECT} WHERE uscc = ?", uscc)
        return self._legal_person(row) if row else None

    def _legal_person(self, row: Row) -> LegalPerson:
        return LegalPerson(
            uscc=row[0],
            name=row[1],
            legal_rep_id_number=row[2],
            address=row[3],
            kind=row[4],
            established_on=date.fromisoformat(row[5]),
            status=row[6],
            source=self._source("legal_person", row[0]),
        )

    # education and military service

    def student(self, id_number: str) -> StudentRecord | None:
        row = self._one(
            "SELECT student_number, id_number, school, grade FROM student WHERE id_number = ?",
            id_number,
        )
        if row is None:
            return None
        return StudentRecord(
            student_number=row[0],
            id_number=row[1],
            school=row[2],
            grade=row[3],
            source=self._source("education", row[0]),
        )

    def veteran(self, id_number: str) -> VeteranRecord | None:
        row = self._one(
            "SELECT id_number, service_branch, enlisted_on, discharged_on, discharge_kind,"
            " placement FROM veteran WHERE id_number = ?",
            id_number,
        )
        if row is None:
            return None
        return VeteranRecord(
            id_number=row[0],
            service_branch=row[1],
            enlisted_on=date.fromisoformat(row[2]),
            discharged_on=date.fromisoformat(row[3]),
            discharge_kind=row[4],
            placement=row[5],
            source=self._source("veterans", row[0]),
        )

    # electronic certificates

    def certificates_of(self, id_number: str, kind: str | None = None) -> list[Certificate]:
        sql = (
            "SELECT cert_id, kind, number, holder_id_number, issuer, issued_on, details"
            " FROM certificate WHERE holder_id_number = ?"
        )
        params: tuple[str, ...] = (id_number,)
        if kind is not None:
            sql += " AND kind = ?"
            params += (kind,)
        rows = self._all(sql + " ORDER BY issued_on DESC, cert_id", *params)
        return [
            Certificate(
                kind=row[1],
                number=row[2],
                holder_id_number=row[3],
                issuer=row[4],
                issued_on=date.fromisoformat(row[5]),
                source=self._source("certificates", row[0]),
                details=json.loads(row[6]),
            )
            for row in rows
        ]


_LEGAL_PERSON_SELECT = (
    "SELECT uscc, name, legal_rep_id_number, address, kind, established_on, status"
    " FROM legal_person"
)
