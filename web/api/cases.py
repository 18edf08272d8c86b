"""Cases over the API: the citizen's applications and their progress."""

from __future__ import annotations

from services.cases import access, progress, submission
from services.cases.models import Case
from services.cases.schemas import CaseCreate, CasePublic, ItemStatus
from web.api.routing import Offset, RowId, api_router
from web.deps import CitizenUser, CsrfChecked, CurrentUser, RuntimeDep, SessionDep, read_only

router = api_router(tags=["api: cases"])


def _case_public(session, rt, case: Case) -> CasePublic:
    items = [
        item_status(rt, view.row)
        if view.row
        else ItemStatus(
            id=None,
            item=view.item.code,
            name=view.item.name,
            department=view.item.department,
            status=view.status,
            status_label=view.status_label,
            due_date=None,
            decided_at=None,
            comment=None,
            result_number=None,
        )
        for view in progress.item_views(session, rt, case)
    ]
    return CasePublic(**case.model_dump(include=set(CasePublic.model_fields)), items=items)


@router.post("/cases", response_model=CasePublic, status_code=201, dependencies=[CsrfChecked])
def start_case(body: CaseCreate, user: CitizenUser, session: SessionDep, rt: RuntimeDep):
    """Submit a combined application; with `consent`, registry facts are fetched on the server
    (the consent is recorded with the submission)."""
    case = submission.submit_application(
        session,
        rt,
        user=user,
        matter_code=body.matter,
        answers=body.answers,
        consented=body.consent,
        record_consent=body.consent,
    )
    return _case_public(session, rt, case)


@router.get("/cases", response_model=list[CasePublic])
@read_only
def my_cases(
    user: CitizenUser, session: SessionDep, rt: RuntimeDep, limit: int = 50, offset: Offset = 0
):
    """The signed-in citizen's cases, newest first."""
    found = progress.cases_of(
        session, user=user, limit=min(max(limit, 1), 200), offset=max(offset, 0)
    )
    return [_case_public(session, rt, case) for case in found]


@router.get("/cases/{case_id}", response_model=CasePublic)
def get_case(case_id: RowId, user: CurrentUser, session: SessionDep, rt: RuntimeDep):
    """A case with each department's status: for its applicant, and for the clerks and systems
    of the departments it was routed to (statuses only, no personal data)."""
    return _case_public(session, rt, access.load_case_progress(session, case_id=case_id, user=user))


def item_status(rt, row) -> ItemStatus:
    item = rt.catalog.items[row.item_code]
    return ItemStatus(
        id=row.id,
        item=row.item_code,
        name=item.name,
        department=row.department,
        status=row.status,
        status_label=progress.ITEM_STATUS[row.status][0],
        due_date=row.due_date,
        decided_at=row.decided_at,
        comment=row.comment,
        result_number=row.result_number,
        auto=row.auto,
        finding=row.finding,
        incident=row.incident,
    )
