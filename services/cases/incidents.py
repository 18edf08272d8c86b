"""Incidents: a case's process could not run on (a condition, script, timer expression or
decision table failed: refused by the sandbox, over a bound, or an error in its code). The
step that met it is rolled back, whoever asked is told plainly, and the incident is recorded for
administrators, who fix the process; the case stays where it was, and the step can be tried
again once the process is fixed."""

from __future__ import annotations

from sqlmodel import Session, col, select

from engine.cases import StepFailed
from services.cases.models import Incident
from services.errors import DomainError

REASON_LIMIT = 500


class ProcessFailed(DomainError):
    """The request's step failed in the process (an incident was recorded): nothing of it was
    kept. Not the caller's fault: 503, try again once the process is fixed."""

    status = 503
    code = "process_failed"

    def __init__(self, message: str, message_en: str, *, incident_id: int):
        super().__init__(message, message_en)
        self.incident_id = incident_id


def add(
    session: Session,
    failure: StepFailed,
    *,
    matter: str,
    step: str,
    case_id: int | None = None,
    case_item_id: int | None = None,
    actor_user_id: int | None = None,
) -> Incident:
    """Add the incident to the session's transaction (the caller commits); the same element
    failing again on the same case while its incident is open adds nothing (one cause, one
    incident: every timer of a case can meet the same broken element)."""
    if case_id is not None:
        open_ = session.exec(
            select(Incident).where(
                Incident.case_id == case_id,
                Incident.element_id == failure.element_id[:200],
                col(Incident.resolved_at).is_(None),
            )
        ).first()
        if open_ is not None:
            return open_
    incident = Incident(
        matter=matter,
        step=step,
        case_id=case_id,
        case_item_id=case_item_id,
        element_id=failure.element_id[:200],
        element_name=(failure.element_name or "")[:200],
        reason=failure.reason[:REASON_LIMIT],
        actor_user_id=actor_user_id,
    )
    session.add(incident)
    return incident


def record(
    session: Session,
    failure: StepFailed,
    *,
    matter: str,
    step: str,
    case_id: int | None = None,
    case_item_id: int | None = None,
    actor_user_id: int | None = None,
) -> ProcessFailed:
    """Record the incident in a transaction of its own (the step's was rolled back: call this
    after the rollback) and return the error to raise for the request."""
    incident = add(
        session,
        failure,
        matter=matter,
        step=step,
        case_id=case_id,
        case_item_id=case_item_id,
        actor_user_id=actor_user_id,
    )
    session.commit()
    where = failure.element_name or failure.element_id
    return ProcessFailed(
        f"办理流程在“{where}”处出错，本次操作未生效，已记录故障（编号{incident.id}）并通知管理员处理，"
        "请稍后再试。",
        f"The process failed at {where!r}: nothing was saved. Incident {incident.id} was "
        "recorded for the administrators; please try again later.",
        incident_id=incident.id,
    )


def open_incidents(session: Session, *, limit: int = 100, offset: int = 0) -> list[Incident]:
    """Unresolved incidents, newest first (for administrators)."""
    return list(
        session.exec(
            select(Incident)
            .where(col(Incident.resolved_at).is_(None))
            .order_by(col(Incident.id).desc())
            .offset(offset)
            .limit(limit)
        ).all()
    )
