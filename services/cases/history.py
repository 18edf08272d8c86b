"""A case's history: one event per step, who did it and what happened (shown to the applicant
and to clerks). Events are journalled and written with the step's commit."""

from __future__ import annotations

from sqlmodel import Session

from services import journal
from services.accounts.models import User
from services.cases.models import CaseEvent

SYSTEM = "系统"  # the actor of events nobody did by hand (routing, deadlines, automatic checks)


def record(session: Session, *, case_id: int, user: User | None, kind: str, message: str) -> None:
    """Add an event to the case's history, done by `user` (None: the system)."""
    journal.append(
        session,
        CaseEvent,
        case_id=case_id,
        actor_user_id=user.id if user else None,
        actor=user.display_name if user else SYSTEM,
        kind=kind,
        message=message[:500],
    )
