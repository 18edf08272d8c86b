"""A case as its applicant sees it: every item's progress, the application, the materials, the
history, the delivery, what departments sent back for correction, the evaluation and every
result's certificate. One function, for the case page and the API's case answer alike."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from forms.catalog import Material
from forms.compiler import FormField
from services.accounts.models import User
from services.cases.access import load_case
from services.cases.corrections import correction_form
from services.cases.models import Case, CaseEvent, Delivery, Upload
from services.cases.path import PathStep, case_path
from services.cases.progress import ItemView, events_of, item_views
from services.cases.results import certificates_of_case, delivery_of
from services.cases.uploads import uploads_of
from services.certificates.models import Certificate
from services.evaluations.models import Evaluation
from services.evaluations.service import evaluation_of
from services.runtime import Runtime


@dataclass(frozen=True)
class CaseOverview:
    """What the applicant's case page shows."""

    case: Case
    items: list[ItemView]
    path: list[PathStep]  # every item of the matter in process order, with its state
    events: list[CaseEvent]  # the applicant's history (no departments' internal moves)
    uploads: list[Upload]
    delivery: Delivery | None
    # What each item sent back for correction asks for: case item id -> (facts, materials)
    corrections: dict[int, tuple[list[FormField], list[Material]]]
    evaluation: Evaluation | None
    certificates: dict[int, Certificate]  # case item id -> its result's certificate


def applicant_overview(session: Session, rt: Runtime, *, user: User, case_id: int) -> CaseOverview:
    """The applicant's own case (NotFound for anyone else), whole. Results not issued as
    certificates yet are issued now, so each one can be named and verified."""
    case = load_case(session, case_id=case_id, user=user)
    items = item_views(session, rt, case)
    approved = [view.row.id for view in items if view.row and view.status == "approved"]
    return CaseOverview(
        case=case,
        items=items,
        path=case_path(
            session,
            rt,
            case=case,
            for_applicant=True,
            rows=[view.row for view in items if view.row is not None],
        ),
        events=events_of(session, case=case, for_applicant=True),
        uploads=uploads_of(session, case=case),
        delivery=delivery_of(session, case=case),
        corrections={
            view.row.id: correction_form(rt, case=case, row=view.row)
            for view in items
            if view.status == "correction" and view.row
        },
        evaluation=evaluation_of(session, case=case) if case.status == "completed" else None,
        certificates=certificates_of_case(session, rt, case=case, approved=approved),
    )
