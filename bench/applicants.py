"""The benchmarks' applicants: families of the generated registry cloned under new numbers, and
a citizen account with a login session for each applicant.

A matter takes one open or granted case per subject (the newborn's birth certificate, the school
child's ID number: `subject_key` in the matter's catalog file), so a benchmark that submits many
applications needs as many families. A clone copies every registry row about a family (the
applicant, their current spouse and their children who have ID numbers: persons, household,
marriages, births, deaths, insurance, housing fund, property, student and veteran records,
certificates) under new citizen ID numbers (GB 11643: same sex, same birth date unless that date
is written in another of the family's rows, another region or sequence) and new record numbers.
Its applications then have the same shape as the original family's and a subject of their own.

Accounts and sessions are rows as `open_session` writes them, inserted in bulk with one argon2
hash of the demo password: sign-ins are slow by design and not part of any benchmark.
"""

from __future__ import annotations

import functools
import re
import secrets
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import insert, text
from sqlmodel import Session

from demo.registry import DISTRICTS, MIGRANT_BIRTH_REGIONS, citizen_id
from demo.seed import _demo_password_hash
from engine.clock import utcnow
from services.accounts.models import LoginSession, User
from services.accounts.service import _token_hash


@dataclass(frozen=True)
class Applicant:
    id_number: str
    name: str


# --- cloning families in the registry file -----------------------------------------------------

# The columns naming a person, by table (household: through its members' rows; the owners of a
# property: every owner row of a property one of the family owns).
PERSON_COLUMNS: dict[str, tuple[str, ...]] = {
    "marriage": ("husband_id_number", "wife_id_number"),
    "birth": ("mother_id_number", "father_id_number", "child_id_number"),
    "death": ("id_number",),
    "medical_insurance": ("id_number",),
    "social_insurance": ("id_number",),
    "housing_fund": ("id_number",),
    "student": ("id_number",),
    "veteran": ("id_number",),
    "certificate": ("holder_id_number",),
}
# The record number of each table renumbered in a clone (certificates' ids are made of numbers
# renumbered here and of ID numbers, so they follow).
RENUMBERED: dict[str, str] = {
    "household": "household_id",
    "marriage": "cert_number",
    "birth": "cert_number",
    "death": "cert_number",
    "housing_fund": "account_number",
    "real_estate": "cert_number",
    "student": "student_number",
}
REGIONS = tuple(d.code for d in DISTRICTS) + MIGRANT_BIRTH_REGIONS  # valid GB 11643 places


class _Value:
    """A column value of a family's row, split once around the family's numbers (tokens)."""

    __slots__ = ("parts",)

    def __init__(self, parts: list[str]) -> None:
        self.parts = parts  # literal, token, literal, token, ..., literal

    def render(self, mapping: dict[str, str]) -> str:
        parts = self.parts
        return "".join(mapping[p] if n % 2 else p for n, p in enumerate(parts))


@dataclass
class _Family:
    """One family's rows, as templates whose numbers are replaced in each copy."""

    applicant: Applicant
    people: tuple[str, ...]  # ID numbers
    keys: list[tuple[str, str]]  # (table, record number) to renumber
    movable: dict[str, str]  # ID number -> its birth date, written nowhere else in the rows
    rows: list[tuple[str, tuple]]  # (table, values with _Value for those naming numbers)

    def render(self, mapping: dict[str, str]) -> Iterator[tuple[str, tuple]]:
        for table, values in self.rows:
            yield table, tuple(v.render(mapping) if isinstance(v, _Value) else v for v in values)


def _select(conn: sqlite3.Connection, table: str, where: str, params: list) -> list[tuple]:
    return conn.execute(f"SELECT * FROM {table} WHERE {where}", params).fetchall()


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]


def read_family(conn: sqlite3.Connection, applicant: Applicant) -> _Family:
    """The registry rows about the applicant's family (see the module's docstring)."""
    me = applicant.id_number
    people = [me]
    for husband, wife in conn.execute(
        "SELECT husband_id_number, wife_id_number FROM marriage WHERE status = 'married' "
        "AND (husband_id_number = ? OR wife_id_number = ?)",
        (me, me),
    ):
        people.append(wife if husband == me else husband)
    for (child,) in conn.execute(
        "SELECT b.child_id_number FROM birth b JOIN person p ON p.id_number = b.child_id_number "
        "WHERE b.mother_id_number = ? OR b.father_id_number = ? ORDER BY b.birth_date",
        (me, me),
    ):
        people.append(child)
    people = list(dict.fromkeys(people))
    marks = ", ".join("?" * len(people))
    rows: dict[str, list[tuple]] = {
        "person": _select(conn, "person", f"id_number IN ({marks})", people)
    }
    households = sorted({row[5] for row in rows["person"]})
    rows["household"] = _select(
        conn, "household", f"household_id IN ({', '.join('?' * len(households))})", households
    )
    for table, columns in PERSON_COLUMNS.items():
        where = " OR ".join(f"{column} IN ({marks})" for column in columns)
        rows[table] = _select(conn, table, where, people * len(columns))
    estates = [
        cert
        for (cert,) in conn.execute(
            f"SELECT DISTINCT cert_number FROM real_estate_owner WHERE id_number IN ({marks})",
            people,
        )
    ]
    estate_marks = ", ".join("?" * len(estates))
    rows["real_estate"] = _select(conn, "real_estate", f"cert_number IN ({estate_marks})", estates)
    rows["real_estate_owner"] = _select(
        conn, "real_estate_owner", f"cert_number IN ({estate_marks})", estates
    )
    keys = []
    for table, column in RENUMBERED.items():
        index = _columns(conn, table).index(column)
        keys += [(table, row[index]) for row in rows[table]]
    # A birth date written only in the person's own row may move with a new ID number.
    elsewhere = {
        value
        for table, table_rows in rows.items()
        for row in table_rows
        for n, value in enumerate(row)
        if isinstance(value, str) and not (table == "person" and n == 3)
    }
    born = [row[3] for row in rows["person"]]
    movable = {
        row[0]: row[3]
        for row in rows["person"]
        if born.count(row[3]) == 1 and not any(row[3] in value for value in elsewhere)
    }
    tokens = sorted({*people, *(key for _table, key in keys), *movable.values()}, key=len)
    pattern = re.compile("(" + "|".join(re.escape(t) for t in reversed(tokens)) + ")")
    templates = []
    for table, table_rows in rows.items():
        for row in table_rows:
            values = []
            for value in row:
                parts = pattern.split(value) if isinstance(value, str) else None
                values.append(_Value(parts) if parts and len(parts) > 1 else value)
            templates.append((table, tuple(values)))
    return _Family(applicant, tuple(people), keys, movable, templates)


class _Numbers:
    """New ID numbers and record numbers, none of them in the registry already."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.ids = {row[0] for row in conn.execute("SELECT id_number FROM person")}
        self.keys = {
            table: {row[0] for row in conn.execute(f"SELECT {column} FROM {table}")}
            for table, column in RENUMBERED.items()
        }
        self.counters: dict[str, int] = defaultdict(lambda: 1_000_000)
        self.candidates: dict[tuple[str, bool], Iterator[str]] = {}

    def id_like(self, id_number: str, movable: bool) -> str:
        """An unused ID number of the same sex, born the same day unless `movable`."""
        key = (id_number[6:14] + id_number[16], movable)
        if key not in self.candidates:
            self.candidates[key] = _ids_like(id_number, movable)
        for candidate in self.candidates[key]:
            if candidate not in self.ids:
                self.ids.add(candidate)
                return candidate
        raise RuntimeError(f"no unused ID numbers left like {id_number}")

    def key_like(self, table: str, key: str) -> str:
        """An unused record number: the key's last run of digits (up to six of them) counted
        down from 999999."""
        taken = self.keys[table]
        digits = list(re.finditer(r"\d+", key))
        width = min(6, len(digits[-1].group())) if digits else 6
        end = digits[-1].end() if digits else len(key)
        while self.counters[table] > 0:
            self.counters[table] -= 1
            candidate = (
                f"{key[: end - width]}{self.counters[table] % 10**width:0{width}d}{key[end:]}"
            )
            if candidate not in taken:
                taken.add(candidate)
                return candidate
        raise RuntimeError(f"no unused {table} numbers left")


def _ids_like(id_number: str, movable: bool) -> Iterator[str]:
    """ID numbers of the same sex (GB 11643: an odd sequence is a man), for the same birth date
    in every region of REGIONS, then (if `movable`) for the nearest days of the same year."""
    born = date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    days = [born]
    if movable:
        for shift in range(1, 366):
            days += [
                d for d in (born + timedelta(shift), born - timedelta(shift)) if d.year == born.year
            ]
    first = 999 if int(id_number[16]) % 2 else 998
    for day in days:
        for sequence in range(first, 0, -2):
            for region in REGIONS:
                yield citizen_id(region, day, sequence)


def clone_families(path: Path, applicants: list[Applicant], copies: int) -> list[Applicant]:
    """Write `copies` clones of each applicant's family into the registry file at `path`; returns
    the clones' applicants, the first copy of every family, then the second, ... (so that
    consecutive applicants belong to different families)."""
    conn = sqlite3.connect(path)
    try:
        numbers = _Numbers(conn)
        families = [read_family(conn, applicant) for applicant in applicants]
        rows: dict[str, list[tuple]] = defaultdict(list)
        clones = []
        for _copy in range(copies):
            for family in families:
                mapping = {}
                for person in family.people:
                    new = numbers.id_like(person, person in family.movable)
                    mapping[person] = new
                    if person in family.movable:
                        mapping[family.movable[person]] = f"{new[6:10]}-{new[10:12]}-{new[12:14]}"
                for table, key in family.keys:
                    mapping[key] = numbers.key_like(table, key)
                for table, values in family.render(mapping):
                    rows[table].append(values)
                clones.append(Applicant(mapping[family.applicant.id_number], family.applicant.name))
        with conn:
            for table, table_rows in rows.items():
                marks = ", ".join("?" * len(table_rows[0]))
                conn.executemany(f"INSERT INTO {table} VALUES ({marks})", table_rows)
    finally:
        conn.close()
    return clones


# --- accounts and sessions ------------------------------------------------------------------------


@functools.cache
def _password_hash() -> str:
    return _demo_password_hash()


def add_citizens(rt, applicants: list[Applicant]) -> list[str]:
    """One account and one login session per applicant, in bulk; returns their bearer tokens."""
    password_hash = _password_hash()
    now = utcnow()
    tokens = [secrets.token_urlsafe(32) for _ in applicants]
    with Session(rt.db) as session:
        # Demo accounts may already exist for some of the generated people: reuse them.
        existing = set(
            session.execute(text("SELECT username FROM user_account WHERE role = 'citizen'"))
            .scalars()
            .all()
        )
        new = [a for a in dict.fromkeys(applicants) if a.id_number not in existing]
        if new:
            session.execute(
                insert(User),
                [
                    {
                        "username": a.id_number,
                        "display_name": a.name,
                        "role": "citizen",
                        "department": None,
                        "supervisor": False,
                        "id_number": a.id_number,
                        "password_hash": password_hash,
                        "active": True,
                        "created_at": now,
                    }
                    for a in new
                ],
            )
        ids = dict(
            session.execute(
                text("SELECT username, id FROM user_account WHERE role = 'citizen'")
            ).all()
        )
        if applicants:
            session.execute(
                insert(LoginSession),
                [
                    {
                        "token_hash": _token_hash(token),
                        "user_id": ids[a.id_number],
                        "csrf_token": secrets.token_urlsafe(24),
                        "created_at": now,
                        "expires_at": now + timedelta(hours=8),
                    }
                    for a, token in zip(applicants, tokens, strict=True)
                ],
            )
        session.commit()
    return tokens


class ApplicantPool:
    """Applicants signed in to one database, each taken once (by any thread): a second
    application for the same subject would be refused."""

    def __init__(self, applicants: list[Applicant], tokens: list[str]) -> None:
        self.applicants = applicants
        self.headers = [{"Authorization": f"Bearer {token}"} for token in tokens]
        self.taken = 0
        self.ran_out = False
        self._lock = threading.Lock()

    @classmethod
    def signed_in(cls, rt, applicants: list[Applicant]) -> ApplicantPool:
        """The applicants with an account and a session each in `rt`'s database."""
        return cls(applicants, add_citizens(rt, applicants))

    def take(self) -> tuple[Applicant, dict[str, str]] | None:
        """The next applicant and their request headers; None once all have been taken."""
        with self._lock:
            n = self.taken
            if n >= len(self.applicants):
                self.ran_out = True
                return None
            self.taken = n + 1
        return self.applicants[n], self.headers[n]

    def __len__(self) -> int:
        return len(self.applicants)
