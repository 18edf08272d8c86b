"""Registry lookups for a matter, each one written to the access log in the caller's transaction."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, col, select

from engine.clock import utcnow
from services import journal
from services.registries.models import Consent, DataAccess
from services.registries.prefill import Lookup, prefill
from services.registries.records import Registry

CONSENT_HOURS = 24


def grant_consent(session: Session, *, user_id: int, matter: str, registries: list[str]) -> Consent:
    """Record the applicant's authorization of a matter's lookups (valid for a day)."""
    consent = Consent(
        user_id=user_id,
        matter=matter,
        registries=sorted(registries),
        expires_at=utcnow() + timedelta(hours=CONSENT_HOURS),
    )
    session.add(consent)
    return consent


def current_consent(session: Session, *, user_id: int, matter: str) -> Consent | None:
    """The applicant's valid, not withdrawn authorization for the matter, if any."""
    query = (
        select(Consent)
        .where(
            Consent.user_id == user_id,
            Consent.matter == matter,
            Consent.withdrawn_at.is_(None),  # type: ignore[union-attr]
            Consent.expires_at > utcnow(),
        )
        .order_by(col(Consent.id).desc())
    )
    return session.exec(query).first()


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
    log_reads(session, lookup, actor_user_id=actor_user_id, purpose=purpose, case_id=case_id)
    return lookup


def log_reads(
    session: Session,
    lookup: Lookup,
    *,
    actor_user_id: int | None,
    purpose: str,
    case_id: int | None,
) -> None:
    """Log the records a lookup read, with who read them, why and for which case."""
    for read in lookup.reads:
        journal.append(
            session,
            DataAccess,
            actor_user_id=actor_user_id,
            subject_id_number=read.subject_id_number,
            source_registry=read.registry,
            record_id=read.record_id,
            case_id=case_id,
            purpose=purpose,
        )


def accesses_to(session: Session, *, id_number: str, limit: int = 200) -> list[DataAccess]:
    """Who read this person's records, newest first."""
    query = (
        select(DataAccess)
        .where(DataAccess.subject_id_number == id_number)
        .order_by(col(DataAccess.id).desc())
        .limit(limit)
    )
    return list(session.exec(query).all())


def all_accesses(
    session: Session, *, limit: int = 100, offset: int = 0, registry: str | None = None
) -> list[DataAccess]:
    """Every access, newest first, paged in SQL (for administrators)."""
    query = select(DataAccess).order_by(col(DataAccess.id).desc())
    if registry:
        query = query.where(DataAccess.source_registry == registry)
    return list(session.exec(query.offset(offset).limit(limit)).all())


def log_case_view(
    session: Session,
    *,
    actor_user_id: int,
    subject_id_number: str,
    case_id: int,
    case_number: str,
    purpose: str,
) -> None:
    """A clerk or administrator opened a case with its full personal data: the subject sees it."""
    journal.append(
        session,
        DataAccess,
        actor_user_id=actor_user_id,
        subject_id_number=subject_id_number,
        source_registry="onething",
        record_id=case_number,
        case_id=case_id,
        purpose=purpose,
    )
