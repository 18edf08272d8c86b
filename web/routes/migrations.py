"""Migrating running cases to a newer process version (issue 21), pages for operators: the
matters with open cases on older versions (/operations/migrations), a dry run with the cases to
move chosen by checkboxes, applying it with a reason, and the run's report. Plain forms, no
script (JSON twins: web/api/migrations.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services import migration
from services.errors import InvalidInput
from web.api.migrations import overview, plan_for, run_public
from web.api.routing import PREFIX, RowId, twin
from web.deps import Code, CsrfChecked, OperatorUser, RuntimeDep, SessionDep
from web.openapi import answers
from web.rendering import render

router = APIRouter(tags=["pages: operations"])
API = f"{PREFIX}/operations/migrations"
VersionQuery = Annotated[int, Query(ge=1, le=1_000_000)]
FromQuery = Annotated[int | None, Query(ge=0, le=1_000_000)]


@router.get("/operations/migrations", response_class=HTMLResponse)
@twin(f"GET {API}", f"GET {API}/runs")
def migrations(request: Request, user: OperatorUser, session: SessionDep, rt: RuntimeDep):
    """Matters with open cases on older versions (choose the target version), the newest runs."""
    return render(request, "operations/migration_index.html", view=overview(session, rt, user))


def _plan_page(
    request: Request,
    session,
    rt,
    user,
    *where: object,
    error: InvalidInput | None = None,
    chosen: set[int] | None = None,
    reason: str = "",
):
    """The dry run's page; `where`: matter code, target version, from version."""
    public = plan_for(session, rt, user, *where)
    if chosen is None:
        chosen = {c.case_id for c in public.cases if c.mappable}
    return render(
        request,
        "operations/migration_plan.html",
        status_code=error.status if error else 200,
        plan=public,
        matter_name=rt.catalog.matters[public.matter].name,
        chosen=chosen,
        error=error,
        reason=reason,
    )


@router.get("/operations/migrations/{matter_code}/plan", response_class=HTMLResponse)
@twin(f"GET {API}/{{matter_code}}/plan")
@answers(404)
def migration_plan(
    request: Request,
    matter_code: Code,
    user: OperatorUser,
    session: SessionDep,
    rt: RuntimeDep,
    to_version: VersionQuery,
    from_version: FromQuery = None,
):
    """The dry run: each case's landing, skipped and repeated steps, moved deadlines, new
    items, or why it cannot be moved; the mappable cases chosen, a reason asked."""
    where = (matter_code, to_version, from_version)
    return _plan_page(request, session, rt, user, *where)


@router.post(
    "/operations/migrations/{matter_code}/runs",
    dependencies=[CsrfChecked],
    response_class=HTMLResponse,
)
@twin(f"POST {API}/{{matter_code}}/runs")
@answers(404, 422)
def run_migration(
    request: Request,
    matter_code: Code,
    user: OperatorUser,
    session: SessionDep,
    rt: RuntimeDep,
    to_version: Annotated[int, Form(ge=1, le=1_000_000, examples=[2])],
    from_version: Annotated[int | None, Form(ge=0, le=1_000_000, examples=[1])] = None,
    case_id: Annotated[list[int], Form(max_length=migration.MAX_CASES, examples=[[17]])] = (),
    reason: Annotated[str, Form(max_length=1000, examples=["新增社会保险参保登记"])] = "",
):
    """Apply the migration to the chosen cases; then the run's report."""
    try:
        run = migration.apply(
            session,
            rt,
            user=user,
            matter_code=matter_code,
            to_version=to_version,
            from_version=from_version,
            case_ids=list(case_id),
            reason=reason,
        )
    except InvalidInput as exc:
        session.rollback()
        where = (matter_code, to_version, from_version)
        chosen = set(case_id)
        return _plan_page(
            request, session, rt, user, *where, error=exc, chosen=chosen, reason=reason
        )
    return RedirectResponse(f"/operations/migrations/runs/{run.id}", status_code=303)


@router.get("/operations/migrations/runs/{run_id}", response_class=HTMLResponse)
@twin(f"GET {API}/runs/{{run_id}}")
@answers(404)
def migration_run(request: Request, run_id: RowId, user: OperatorUser, session: SessionDep):
    """A run's report: each case's outcome, and what to do with those not moved."""
    run = run_public(migration.get_run(session, user=user, run_id=run_id))
    return render(request, "operations/migration_run.html", run=run)
