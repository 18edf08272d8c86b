"""Why an item applies or not, and why it was decided so, over the API (issue 22). Pages:
web/routes/explanations.py. Both call services/cases/explanations.py, whose dataclasses are the
answer's shape (a read-only view, documented from them)."""

from __future__ import annotations

from services.cases import explanations
from services.cases.explanations import Explanation
from web.api.routing import RowId, api_router
from web.deps import CitizenUser, ClerkUser, Code, RuntimeDep, SessionDep

router = api_router(tags=["api: explanations"])


@router.get("/cases/{case_id}/items/{item_code}/explanation", response_model=Explanation)
def case_item_explanation(
    case_id: RowId, item_code: Code, user: CitizenUser, session: SessionDep, rt: RuntimeDep
):
    """Why an item of the applicant's own case applies or not (an item that does not apply has
    no task: it is named by its catalog code): the rule in words with its catalog version, the
    automatic check's decision table (rows in words, the matched ones, the process version), the
    facts read with their source, and the decision (approved by a clerk or at once with the
    checks that passed, rejected with the reason from the item's list, sent back with what to
    correct, pending). Someone else's case: 404."""
    return explanations.explain_for_applicant(
        session, rt, user=user, case_id=case_id, item_code=item_code
    )


@router.get("/tasks/{task_id}/explanation", response_model=Explanation)
def task_explanation(task_id: RowId, user: ClerkUser, session: SessionDep, rt: RuntimeDep):
    """The same for a clerk, through a task of their own department: personal numbers masked,
    facts the item does not use withheld; the view is logged for the applicant."""
    return explanations.explain_for_clerk(session, rt, user=user, item_id=task_id)
