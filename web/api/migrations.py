"""Migrating running cases to a newer version of their matter's process (issue 21) over the
API: the matters with open cases on older versions, a dry run, applying it, and the record of
each run (the pages: web/routes/migrations.py). Operators only."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from services import migration
from services.migration_models import MigrationRun
from web.api.routing import RowId, api_router
from web.deps import Code, CsrfChecked, OperatorUser, RuntimeDep, SessionDep
from web.openapi import answers

router = api_router(prefix="/operations", tags=["api: operations"])

Version = Annotated[int, Query(ge=0, le=1_000_000)]
CaseIds = Annotated[list[int], Field(max_length=migration.MAX_CASES)]


# ---------------------------------------------------------------- shapes


class MatterVersionsPublic(BaseModel):
    """A matter whose newest version some open cases do not run on."""

    matter: str
    matter_name: str
    current: int = Field(description="The newest deployed version")
    versions: list[int] = Field(description="Deployed versions, newest first")
    open_by_version: dict[int, int] = Field(
        description="Open cases on each version (0: the process file shipped with the system)"
    )
    behind: int = Field(description="Open cases on a version other than the newest")


class RunSummaryPublic(BaseModel):
    id: int
    matter: str
    from_version: int | None = Field(description="None: cases of every other version")
    to_version: int
    operator_user_id: int
    reason: str
    started_at: datetime
    finished_at: datetime | None
    chosen: int = Field(description="Cases the run set out to move")
    migrated: int
    unmappable: int
    changed: int = Field(description="Changed by a clerk meanwhile, twice: run again")
    skipped: int = Field(description="Finished or on the target version by then")


class MigrationsPublic(BaseModel):
    matters: list[MatterVersionsPublic]
    runs: list[RunSummaryPublic] = Field(description="The newest runs first")


class DeadlinePublic(BaseModel):
    item: str
    item_name: str
    deadline: str = Field(description="warning or overdue")
    old_due: datetime | None = Field(description="None: the timer waits only in the new version")
    new_due: datetime | None = Field(description="None: the timer no longer waits")


class NewItemPublic(BaseModel):
    item: str
    item_name: str
    department: str
    due_if_today: date = Field(
        description="Its due date were its task reached today (the item's time limit in "
        "working days, as at submission)"
    )


class StepLandingPublic(BaseModel):
    old: str = Field(description="The active step in the case's version")
    new: str = Field(description="The step it stands at in the target version")


class CasePlanPublic(BaseModel):
    case_id: int
    number: str
    from_version: int
    mappable: bool
    reason: str | None = Field(description="Why it cannot be moved (Chinese)")
    reason_en: str | None
    steps: list[StepLandingPublic]
    ahead: list[str] = Field(description="Steps the new version adds that the case will reach")
    skipped: list[str] = Field(description="Steps the new version adds behind where it stands")
    repeated: list[str] = Field(description="Finished steps the case would pass again")
    deadlines: list[DeadlinePublic] = Field(description="Deadlines that move")
    new_items: list[NewItemPublic] = Field(description="Items the case would get")


class PlanPublic(BaseModel):
    """A dry run: nothing was changed."""

    matter: str
    to_version: int
    from_version: int | None
    added: list[str] = Field(description="Steps the target version adds")
    removed: list[str] = Field(description="Steps the target version drops")
    mappable: int
    unmappable: int
    cases: list[CasePlanPublic]


class RunIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"to_version": 2, "case_ids": [17, 18], "reason": "新增社会保险参保登记"}]
        }
    )

    to_version: int = Field(ge=1, le=1_000_000)
    from_version: int | None = Field(
        default=None, ge=0, le=1_000_000, description="Only cases of this version (0: shipped)"
    )
    case_ids: CaseIds | None = Field(
        default=None, description="Only these cases (None: every open case that can be moved)"
    )
    reason: str = Field(
        max_length=500,
        description="Why: written into each moved case's history",
        examples=["新增社会保险参保登记"],
    )


class CaseOutcomePublic(BaseModel):
    case_id: int
    number: str | None
    from_version: int | None
    outcome: Literal["migrated", "unmappable", "changed", "skipped"]
    reason: str | None
    reason_en: str | None
    retried: bool = Field(description="A clerk changed it meanwhile once: it was tried again")


class RunPublic(RunSummaryPublic):
    outcomes: list[CaseOutcomePublic]


# ---------------------------------------------------------------- conversions


def matters_public(rows: list[migration.MatterVersions]) -> list[MatterVersionsPublic]:
    return [
        MatterVersionsPublic(
            matter=m.matter,
            matter_name=m.name,
            current=m.current,
            versions=m.versions,
            open_by_version=m.open_by_version,
            behind=m.behind,
        )
        for m in rows
    ]


def run_summary(run: MigrationRun) -> RunSummaryPublic:
    return RunSummaryPublic.model_validate(run, from_attributes=True)


def run_public(run: MigrationRun) -> RunPublic:
    outcomes = [
        CaseOutcomePublic(
            case_id=o["case_id"],
            number=o.get("number"),
            from_version=o.get("from_version"),
            outcome=o["outcome"],
            reason=o["reason"][0] if o.get("reason") else None,
            reason_en=o["reason"][1] if o.get("reason") else None,
            retried=bool(o.get("retried")),
        )
        for o in run.outcomes
    ]
    return RunPublic(**run_summary(run).model_dump(), outcomes=outcomes)


def plan_public(found: migration.Plan) -> PlanPublic:
    return PlanPublic(
        matter=found.matter,
        to_version=found.to_version,
        from_version=found.from_version,
        added=found.added,
        removed=found.removed,
        mappable=len(found.mappable),
        unmappable=len(found.unmappable),
        cases=[
            CasePlanPublic(
                case_id=c.case_id,
                number=c.number,
                from_version=c.from_version,
                mappable=c.mappable,
                reason=c.reason[0] if c.reason else None,
                reason_en=c.reason[1] if c.reason else None,
                steps=[StepLandingPublic(old=old, new=new) for old, new in c.steps],
                ahead=c.ahead,
                skipped=c.skipped,
                repeated=c.repeated,
                deadlines=[DeadlinePublic(**vars(d)) for d in c.deadlines],
                new_items=[
                    NewItemPublic(
                        item=i.code,
                        item_name=i.name,
                        department=i.department,
                        due_if_today=i.due_if_today,
                    )
                    for i in c.new_items
                ],
            )
            for c in found.cases
        ],
    )


def plan_for(
    session,
    rt,
    user,
    matter_code: str,
    to_version: int,
    from_version: int | None,
    case_ids: list[int] | None = None,
) -> PlanPublic:
    """The dry run, as the page and the API show it."""
    found = migration.plan(
        session,
        rt,
        user=user,
        matter_code=matter_code,
        to_version=to_version,
        from_version=from_version,
        case_ids=case_ids,
    )
    return plan_public(found)


def overview(session, rt, user) -> MigrationsPublic:
    """The migrations page's and the API's overview: matters behind, the newest runs."""
    return MigrationsPublic(
        matters=matters_public(migration.matters_behind(session, rt, user=user)),
        runs=[run_summary(run) for run in migration.runs(session, user=user)[:20]],
    )


# ---------------------------------------------------------------- operations


@router.get("/migrations", response_model=MigrationsPublic)
def migrations(user: OperatorUser, session: SessionDep, rt: RuntimeDep):
    """The matters with open cases on a version other than their newest, with how many on
    each version, and the newest migration runs."""
    return overview(session, rt, user)


@router.get("/migrations/runs", response_model=list[RunSummaryPublic])
def migration_runs(user: OperatorUser, session: SessionDep):
    """The recorded migration runs, newest first (at most 100)."""
    return [run_summary(run) for run in migration.runs(session, user=user)]


@router.get("/migrations/runs/{run_id}", response_model=RunPublic)
@answers(404)
def migration_run(run_id: RowId, user: OperatorUser, session: SessionDep):
    """One migration run: who, when, why, and each case's outcome."""
    return run_public(migration.get_run(session, user=user, run_id=run_id))


@router.get("/migrations/{matter_code}/plan", response_model=PlanPublic)
@answers(404)
def migration_plan(
    matter_code: Code,
    user: OperatorUser,
    session: SessionDep,
    rt: RuntimeDep,
    to_version: Version,
    from_version: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
    case_id: Annotated[list[int] | None, Query(max_length=migration.MAX_CASES)] = None,
):
    """A dry run of moving the matter's open cases (of `from_version`, else of every other
    version; only the `case_id`s given) to `to_version`: for each case where its active steps
    land, the steps added ahead of it or behind it, the steps it would pass again, the
    deadlines that move, the items it would get, or why it cannot be moved. Changes nothing."""
    return plan_for(session, rt, user, matter_code, to_version, from_version, case_id)


@router.post(
    "/migrations/{matter_code}/runs",
    response_model=RunPublic,
    status_code=201,
    dependencies=[CsrfChecked],
)
@answers(404, 422)
def run_migration(
    matter_code: Code, body: RunIn, user: OperatorUser, session: SessionDep, rt: RuntimeDep
):
    """Move the matter's open cases (those of `from_version`, only `case_ids` if given) to
    `to_version`, in batches, each case in its own transaction. A case that cannot be moved is
    reported with the reason; one a clerk changed meanwhile is tried again once, then reported
    `changed` (run again). Each moved case's history records the move and the reason."""
    run = migration.apply(
        session,
        rt,
        user=user,
        matter_code=matter_code,
        to_version=body.to_version,
        from_version=body.from_version,
        case_ids=body.case_ids,
        reason=body.reason,
    )
    return run_public(run)
