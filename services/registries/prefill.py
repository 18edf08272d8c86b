"""Resolve the subjects of a matter from the registries and turn their records into facts.

A subject resolver knows how to find one subject (the applicant, the newborn child, the
mother, ...) for the signed-in applicant, and which dictionary facts its records supply.
Every record read is noted in a `Lookup` so the caller can log it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from forms.compiler import Known
from services.registries.records import Person, Registry, Source


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
    if "birth" not in lookup.found:
        births = lookup.registry.births_to(lookup.applicant_id_number)
        lookup.found["birth"] = births[0] if births else None
        if births:
            lookup.note(births[0].source, lookup.applicant_id_number)
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
    marriage = lookup.registry.marriage_of(lookup.applicant_id_number)
    if applicant is None:
        return None
    if (applicant.sex == "F") == (role == "mother"):
        return applicant.id_number
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


def prefill(registry: Registry, applicant_id_number: str, subjects: tuple[str, ...]) -> Lookup:
    """Run the resolvers of `subjects` in order for the applicant."""
    lookup = Lookup(registry, applicant_id_number)
    for subject in subjects:
        resolve = RESOLVERS.get(subject)
        if resolve is not None:
            resolve(lookup)
    return lookup
