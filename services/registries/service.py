"""Registry lookups for a matter, each one written to the access log in the caller's transaction."""

from __future__ import annotations

from sqlmodel import Session, col, select

from services.registries.models import DataAccess
from services.registries.prefill import Lookup, prefill
from services.registries.records import Registry


def lookup_for_matter(
    session: Session,
    *,
    registry: Registry,
    applicant_id_number: str,
    subjects: tuple[str, ...],
    actor_user_id: int | None,
    purpose: str,
    case_id: int | None = None,
) -> Lookup:
    """Prefill a matter's subjects for the applicant and log every record read."""
    lookup = prefill(registry, applicant_id_number, subjects)
    for read in lookup.reads:
        session.add(
            DataAccess(
                actor_user_id=actor_user_id,
                subject_id_number=read.subject_id_number,
                source_registry=read.registry,
                record_id=read.record_id,
                case_id=case_id,
                purpose=purpose,
            )
        )
    return lookup


def accesses_to(session: Session, *, id_number: str, limit: int = 200) -> list[DataAccess]:
    """Who read this person's records, newest first."""
    query = (
        select(DataAccess)
        .where(DataAccess.subject_id_number == id_number)
        .order_by(col(DataAccess.id).desc())
        .limit(limit)
    )
    return list(session.exec(query).all())
