"""Registry lookups for a matter, each one written to the access log in the caller's transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, update
from sqlmodel import Session, col, select

from engine.clock import utcnow
from forms.compiler import Known
from services import journal
from services.registries.models import Consent, DataAccess, PrefillSnapshot
from services.registries.prefill import Lookup, prefill
from services.registries.records import Registry, RegistryUnavailable

CONSENT_HOURS = 24
SNAPSHOT_MINUTES = 60  # how long one prefill serves an application's form and its submission


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
    case_number: str | None = None,
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
            case_number=case_number,
            purpose=purpose,
            lookup_id=lookup.snapshot_id,
        )


def prefill_for_application(
    session: Session,
    *,
    registry: Registry,
    applicant_user_id: int,
    applicant_id_number: str,
    matter: str,
    subjects: tuple[str, ...],
    actor_user_id: int,
    purpose: str,
    keep: bool = True,
    reuse: bool = True,
) -> Lookup:
    """The registry facts for one application of `matter`: those read for it earlier by the
    same actor, while they are fresh (no new read, no new log row: the form shown again after a
    refresh or a refused submission, and the submission itself, use them); else read now. With
    `keep`, a new reading is logged at once and kept for the application (`PrefillSnapshot`);
    without, its reads are left for the caller to log with the case (`log_reads`). Without
    `reuse`, nothing kept is looked for. The caller commits."""
    now = utcnow()
    kept = (
        None
        if not reuse
        else session.exec(
            _FRESH_SNAPSHOT,
            params={
                "applicant": applicant_user_id,
                "actor": actor_user_id,
                "matter": matter,
                "now": now,
            },
        ).first()
    )
    if kept is not None:
        return _restored(registry, applicant_id_number, kept)
    lookup = prefill(registry, applicant_id_number, subjects)
    if not keep:
        return lookup
    session.execute(delete(PrefillSnapshot).where(col(PrefillSnapshot.expires_at) <= now))
    snapshot = PrefillSnapshot(
        applicant_user_id=applicant_user_id,
        actor_user_id=actor_user_id,
        matter=matter,
        facts={key: _known_value(known) for key, known in lookup.facts.items()},
        unavailable={code: {"reason": e.reason} for code, e in lookup.unavailable.items()},
        created_at=now,
        expires_at=now + timedelta(minutes=SNAPSHOT_MINUTES),
    )
    session.add(snapshot)
    session.flush()
    lookup.snapshot_id = snapshot.id
    log_reads(session, lookup, actor_user_id=actor_user_id, purpose=purpose, case_id=None)
    return lookup


_FRESH_SNAPSHOT = (
    select(PrefillSnapshot)
    .where(
        PrefillSnapshot.applicant_user_id == bindparam("applicant"),
        PrefillSnapshot.actor_user_id == bindparam("actor"),
        PrefillSnapshot.matter == bindparam("matter"),
        col(PrefillSnapshot.expires_at) > bindparam("now"),
    )
    .order_by(col(PrefillSnapshot.id).desc())
)


def _known_value(known: Known) -> dict:
    return {
        "value": known.value,
        "registry": known.registry,
        "record_id": known.record_id,
        "retrieved_at": known.retrieved_at.isoformat(),
    }


def _restored(registry: Registry, applicant_id_number: str, kept: PrefillSnapshot) -> Lookup:
    lookup = Lookup(registry, applicant_id_number, snapshot_id=kept.id)
    for key, known in kept.facts.items():
        lookup.facts[key] = Known(
            known["value"],
            known["registry"],
            known["record_id"],
            datetime.fromisoformat(known["retrieved_at"]),
        )
    for code, why in kept.unavailable.items():
        lookup.unavailable[code] = RegistryUnavailable(code, reason=why["reason"])
    return lookup


def attach_reads_to_case(
    session: Session, *, lookup: Lookup, case_id: int, case_number: str
) -> None:
    """The application was submitted: the reads its prefill made name its case, and the kept
    facts (now in the case) are deleted. In the caller's transaction."""
    if lookup.snapshot_id is None:
        return
    session.execute(
        update(DataAccess)
        .where(col(DataAccess.lookup_id) == lookup.snapshot_id, col(DataAccess.case_id).is_(None))
        .values(case_id=case_id, case_number=case_number)
        .execution_options(synchronize_session=False)
    )
    session.execute(delete(PrefillSnapshot).where(col(PrefillSnapshot.id) == lookup.snapshot_id))


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
        case_number=case_number,
        purpose=purpose,
    )
