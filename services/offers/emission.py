"""The registries' own events: what a registry publishes when it records a birth, sees a
person's statutory retirement date within 90 days, records a death or grants a business licence.

The embedded registry is a read-only file, so its events are published on demand (`onething
registry-event`, the demo, the tests): each builds the event from the registry's own record, as
the registry's side would, with an event id derived from the record (publishing the same record
twice is a replay, never a second offer). This is the registry publishing, not OneThing reading
a person's data for a case: nothing here is written to the data-access log, and the offer holds
only what the event carries.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session

from engine.clock import utcnow
from services.calendar import local_date, statutory_retirement_date
from services.errors import InvalidInput, NotFound
from services.offers.service import Received, receive_event
from services.registries.records import Registry
from services.runtime import Runtime

SOURCE = "embedded"
RETIREMENT_NOTICE_DAYS = 90
ADULT_YEARS = 18


def _person(registry: Registry, id_number: str):
    person = registry.person(id_number)
    if person is None:
        raise NotFound("共享数据库中没有此人", f"No person {id_number} in the registry")
    return person


def birth_event(registry: Registry, parent_id_number: str) -> tuple[str, dict[str, Any]]:
    """The newest birth recorded to this parent (event id, payload)."""
    births = registry.births_to(parent_id_number)
    if not births:
        raise NotFound("共享数据库中没有此人子女的出生记录", "No birth recorded to this parent")
    birth = births[0]
    payload = {
        "cert_number": birth.cert_number,
        "child_name": birth.child_name or "",
        "sex": birth.sex,
        "birth_date": birth.birth_date.isoformat(),
        "birth_place": birth.birth_place,
        "hospital": birth.hospital,
        "mother_id_number": birth.mother_id_number,
        "father_id_number": birth.father_id_number or "",
    }
    return f"birth:{birth.cert_number}", payload


def retirement_event(registry: Registry, id_number: str) -> tuple[str, dict[str, Any]]:
    """The person's statutory retirement date, when it is within RETIREMENT_NOTICE_DAYS."""
    person = _person(registry, id_number)
    due = statutory_retirement_date(person.sex, person.birth_date, female_cadre=False)
    today = local_date(utcnow())
    if not today <= due <= today + timedelta(days=RETIREMENT_NOTICE_DAYS):
        raise InvalidInput(
            "id_number",
            f"此人的法定退休日期（{due}）不在今后{RETIREMENT_NOTICE_DAYS}天内",
            f"This person's statutory retirement date ({due}) is not within "
            f"{RETIREMENT_NOTICE_DAYS} days",
        )
    payload = {"id_number": person.id_number, "name": person.name, "retirement_date": str(due)}
    return f"retirement:{person.id_number}:{due}", payload


def death_event(registry: Registry, id_number: str) -> tuple[str, dict[str, Any]]:
    """A recorded death, naming as next of kin the spouse and the adult members of the
    deceased's household."""
    person = _person(registry, id_number)
    death = registry.death_of(id_number)
    if death is None:
        raise NotFound("共享数据库中没有此人的死亡记录", "No death recorded for this person")
    kin: list[dict[str, str]] = []
    marriage = registry.marriage_of(id_number)
    if marriage is not None:
        spouse = (
            marriage.wife_id_number
            if marriage.husband_id_number == id_number
            else marriage.husband_id_number
        )
        kin.append({"id_number": spouse, "relation": "spouse"})
    household = registry.household(person.household_id) if person.household_id else None
    for member in household.member_id_numbers if household else ():
        other = registry.person(member)
        if other is None or member == id_number or not other.alive:
            continue
        if (death.death_date - other.birth_date).days < ADULT_YEARS * 365:
            continue
        if any(k["id_number"] == member for k in kin):
            continue
        younger = (other.birth_date - person.birth_date).days > 15 * 365
        kin.append({"id_number": member, "relation": "child" if younger else "other"})
    if not kin:
        raise NotFound("死亡记录未能确定近亲属", "No next of kin found for this death")
    payload = {
        "id_number": person.id_number,
        "name": person.name,
        "death_date": death.death_date.isoformat(),
        "cert_number": death.cert_number,
        "next_of_kin": kin[:10],
    }
    return f"death:{death.cert_number}", payload


def licence_event(registry: Registry, uscc: str) -> tuple[str, dict[str, Any]]:
    """A business licence granted (the legal person's registration)."""
    company = registry.legal_person(uscc)
    if company is None:
        raise NotFound("共享数据库中没有此企业", "No such legal person in the registry")
    payload = {
        "uscc": company.uscc,
        "name": company.name,
        "owner_id_number": company.legal_rep_id_number,
        "address": company.address,
    }
    return f"licence:{company.uscc}", payload


BUILDERS = {
    "birth_recorded": birth_event,
    "retirement_due": retirement_event,
    "death_recorded": death_event,
    "business_licensed": licence_event,
}


def publish(session: Session, rt: Runtime, *, kind: str, subject: str) -> Received:
    """Publish the embedded registry's event of `kind` about `subject` (a parent's ID number
    for a birth, the person's for a retirement or death, a credit code for a licence) and
    offer what it starts. Commits."""
    build = BUILDERS.get(kind)
    if build is None:
        raise InvalidInput(
            "kind", f"未知的事件类型（可用：{'、'.join(BUILDERS)}）", f"Unknown kind {kind!r}"
        )
    event_id, payload = build(rt.registry, subject)
    return receive_event(session, rt, source=SOURCE, event_id=event_id, kind=kind, payload=payload)
