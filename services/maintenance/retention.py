"""Retention: the personal data of a case closed longer ago than `retention_days` is purged,
one case per transaction, and the case is marked `purged_at`.

Purged: the answers, facts and their sources, the applicant's name and ID number and the
subject key on the case; the uploaded files (from the file store, whichever it is) and their
rows; the process instance (its state holds the answers), its task rows and timers; the
postal delivery (the address); the inbox messages about the case; the texts of the history,
the clerks' comments, findings, results and correction requests; the evaluation's comment and
its follow-up's resolution; incident reasons; each certificate's PDF and holder (its number,
hash and signature stay, so the holder's own copy still verifies, and verification says the
rest was purged); the subject and record named in the data-access log (the rows stay: who
looked, when, at which case number and why).

Kept, anonymised: the case row (matter, status, outcome, times, number, the applicant's
account id), its items' rows (department, statuses, due and decision dates, automatic and
correction counts) and the evaluations' levels: everything the dashboard counts, so its
figures are the same before and after a purge.

Each run also removes what has expired but is only pruned when new work comes (idempotent API
answers, registry snapshots kept for a form, draft uploads, saved application drafts), and
finished webhook deliveries older than the period (their payloads name cases)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.engine import CursorResult, Engine
from sqlmodel import Session, col

from engine.clock import utcnow
from engine.store import HumanTask, ProcessInstance, TimerJob
from services.cases.models import (
    ApplicationDraft,
    Case,
    CaseEvent,
    CaseItem,
    Delivery,
    DraftUpload,
    IdempotentRequest,
    Incident,
    Upload,
)
from services.certificates.models import Certificate
from services.departments.models import WebhookDelivery
from services.evaluations.models import Evaluation, FollowUp
from services.idempotency import KEPT
from services.notifications.models import Notification
from services.offers.service import expire_offers
from services.registries.models import DataAccess, PrefillSnapshot
from services.storage import FileStore

log = logging.getLogger(__name__)

BATCH = 100  # cases read per query; each is purged in its own transaction
APPLICANT = "申请人"  # who the history names instead of the applicant
NUMBERS_SHOWN = 20  # case numbers named in a run's summary (the log names them all)


@dataclass
class PurgeReport:
    """What a purge did (or, dry, would do): the case numbers and how many rows of each kind."""

    cutoff: datetime
    dry_run: bool = False
    numbers: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    more: bool = False  # stopped at its time limit with cases left

    def summary(self) -> str:
        verb = "would purge" if self.dry_run else "purged"
        counts = ", ".join(f"{kind} {n}" for kind, n in sorted(self.counts.items()) if n)
        shown = ", ".join(self.numbers[:NUMBERS_SHOWN])
        if len(self.numbers) > NUMBERS_SHOWN:
            shown += f" and {len(self.numbers) - NUMBERS_SHOWN} more"
        text = f"{verb} {len(self.numbers)} cases closed before {self.cutoff:%Y-%m-%d}"
        if counts:
            text += f" ({counts})"
        if shown:
            text += f": {shown}"
        return text + ("; more left for the next run" if self.more else "")


def purge(
    db: Engine,
    files: FileStore,
    *,
    days: int,
    dry_run: bool = False,
    until: datetime | None = None,
) -> PurgeReport:
    """Purge every case completed more than `days` ago, one transaction per case; `dry_run`
    rolls each back (nothing changes, the counts are exact). Stops taking new cases after
    `until` (the job's lock has a limit), with `more` set. `days` 0: retention is off."""
    report = PurgeReport(cutoff=utcnow() - timedelta(days=days), dry_run=dry_run)
    if days <= 0:
        return report
    after = 0
    with Session(db) as session:
        while ids := _closed_before(session, report.cutoff, after=after):
            for case_id in ids:
                if until is not None and utcnow() > until:
                    report.more = True
                    return _logged(report)
                after = case_id
                found = purge_case(session, files, case_id=case_id)
                if found is None:  # purged meanwhile by another run, or reopened
                    session.rollback()
                    continue
                number, counts = found
                if dry_run:
                    session.rollback()
                else:
                    session.commit()
                    log.info("retention: purged case %s (%s)", number, _counted(counts))
                report.numbers.append(number)
                report.counts.update(counts)
        report.counts.update(_expired(session, report.cutoff))
        if dry_run:
            session.rollback()
        else:
            session.commit()
    return _logged(report)


def _logged(report: PurgeReport) -> PurgeReport:
    log.info("retention: %s", report.summary())
    if len(report.numbers) > NUMBERS_SHOWN:
        log.info("retention: case numbers: %s", ", ".join(report.numbers))
    return report


def _counted(counts: Counter[str]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()) if n) or "nothing else"


def _closed_before(session: Session, cutoff: datetime, *, after: int) -> list[int]:
    """The next ids (above `after`) of cases completed before `cutoff` and not yet purged."""
    return list(
        session.scalars(
            select(Case.id)
            .where(
                col(Case.status) == "completed",
                col(Case.completed_at) < cutoff,
                col(Case.purged_at).is_(None),
                col(Case.id) > after,
            )
            .order_by(col(Case.id))
            .limit(BATCH)
        ).all()
    )


def _changed(session: Session, statement) -> int:
    result: CursorResult = session.execute(statement.execution_options(synchronize_session=False))
    return result.rowcount


def purge_case(
    session: Session, files: FileStore, *, case_id: int
) -> tuple[str, Counter[str]] | None:
    """Purge one closed case in the session's transaction (the caller commits); returns its
    number and the rows touched by kind, or None when it is no longer to be purged. The case
    row is marked first, by a conditional UPDATE: of two purges at once, one does the work."""
    found = session.execute(
        select(Case.number, Case.applicant_user_id, Case.applicant_name, Case.instance_id).where(
            col(Case.id) == case_id
        )
    ).first()
    if found is None:
        return None
    number, applicant_user_id, applicant_name, instance_id = found
    now = utcnow()
    marked = _changed(
        session,
        update(Case)
        .where(
            col(Case.id) == case_id,
            col(Case.purged_at).is_(None),
            col(Case.status) == "completed",
        )
        .values(
            purged_at=now,
            applicant_id_number="",
            applicant_name="",
            data={},
            provenance={},
            checklist=[],
            subject_key=None,
            instance_id=None,
        ),
    )
    if marked != 1:
        return None
    counts: Counter[str] = Counter()
    of_case = col(Upload.case_id) == case_id
    for (stored_name,) in session.execute(select(Upload.stored_name).where(of_case)).all():
        files.delete(session, stored_name)
    counts["uploads"] = _changed(session, delete(Upload).where(of_case))
    if instance_id is not None:
        _changed(session, delete(HumanTask).where(col(HumanTask.instance_id) == instance_id))
        _changed(session, delete(TimerJob).where(col(TimerJob.instance_id) == instance_id))
        counts["process instances"] = _changed(
            session, delete(ProcessInstance).where(col(ProcessInstance.id) == instance_id)
        )
    counts["deliveries"] = _changed(session, delete(Delivery).where(Delivery.case_id == case_id))
    counts["notifications"] = _changed(
        session, delete(Notification).where(col(Notification.case_id) == case_id)
    )
    _changed(
        session,
        update(CaseItem)
        .where(col(CaseItem.case_id) == case_id)
        .values(comment=None, finding=None, incident=None, result={}, correction={}),
    )
    counts["history entries"] = _changed(
        session, update(CaseEvent).where(col(CaseEvent.case_id) == case_id).values(message="")
    )
    _changed(
        session,
        update(CaseEvent)
        .where(
            col(CaseEvent.case_id) == case_id,
            or_(
                col(CaseEvent.actor_user_id) == applicant_user_id,
                col(CaseEvent.actor) == applicant_name,
            ),
        )
        .values(actor=APPLICANT),
    )
    counts["certificates"] = _changed(
        session,
        update(Certificate)
        .where(col(Certificate.case_id) == case_id)
        .values(holder_name="", holder_id_number="", pdf=b"", purged_at=now),
    )
    evaluations = select(Evaluation.id).where(col(Evaluation.case_id) == case_id)
    _changed(
        session,
        update(Evaluation).where(col(Evaluation.case_id) == case_id).values(comment=None),
    )
    _changed(
        session,
        update(FollowUp)
        .where(col(FollowUp.evaluation_id).in_(evaluations))
        .values(resolution=None),
    )
    _changed(session, update(Incident).where(col(Incident.case_id) == case_id).values(reason=""))
    counts["data-access entries"] = _changed(
        session,
        update(DataAccess)
        .where(col(DataAccess.case_id) == case_id)
        .values(subject_id_number="", record_id=""),
    )
    return number or f"#{case_id}", counts


def _expired(session: Session, cutoff: datetime) -> Counter[str]:
    """Remove what expired but is pruned only when new work of its kind comes."""
    now = utcnow()
    counts: Counter[str] = Counter()
    counts["idempotent answers"] = _changed(
        session, delete(IdempotentRequest).where(col(IdempotentRequest.created_at) < now - KEPT)
    )
    counts["registry snapshots"] = _changed(
        session, delete(PrefillSnapshot).where(col(PrefillSnapshot.expires_at) <= now)
    )
    counts["draft uploads"] = _changed(
        session, delete(DraftUpload).where(col(DraftUpload.expires_at) <= now)
    )
    counts["application drafts"] = _changed(
        session, delete(ApplicationDraft).where(col(ApplicationDraft.expires_at) <= now)
    )
    counts["offers expired"] = expire_offers(session)  # marked, kept: the person sees them
    counts["webhook deliveries"] = _changed(
        session,
        delete(WebhookDelivery).where(
            col(WebhookDelivery.status) != "pending", col(WebhookDelivery.created_at) < cutoff
        ),
    )
    return counts
