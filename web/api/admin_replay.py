"""Replaying a candidate process or catalog change on recent cases over the API (the pages:
web/routes/replay.py). The process editor posts its current XML here before deploying."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from engine.validation import xml_bytes
from services import processes, replay
from services.cases.routing import department_name
from services.processes import MAX_BPMN_BYTES
from services.runtime import Runtime
from web.api.admin import too_large
from web.api.admin_processes import REFUSED, problems_json
from web.api.routing import api_router
from web.deps import AdminUser, Code, CsrfChecked, RuntimeDep, SessionDep
from web.limits import body_limit
from web.problems import PROBLEM, problem_body

router = api_router(prefix="/admin/replay", tags=["api: processes"])

MAX_DECISION_FILES = 20
MAX_DMN_BYTES = 500_000
MAX_CONDITIONS = 100
BODY_LIMIT = 2 * MAX_BPMN_BYTES + MAX_DECISION_FILES * MAX_DMN_BYTES // 4


# ---------------------------------------------------------------- shapes


class ReplayDecisionIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="The DMN file's name")
    xml: str = Field(max_length=MAX_DMN_BYTES, description="The DMN 1.3 XML")


class ReplayIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"xml": '<?xml version="1.0"?><definitions …/>', "limit": 50}]
        }
    )

    xml: str | None = Field(
        default=None,
        max_length=MAX_BPMN_BYTES,
        description="The candidate BPMN 2.0 XML (null: the process new cases use now)",
    )
    decisions: list[ReplayDecisionIn] | None = Field(
        default=None,
        max_length=MAX_DECISION_FILES,
        description="The candidate's decision tables (null: the matter's tables now)",
    )
    conditions: dict[Annotated[str, StringConstraints(max_length=100)], str] | None = Field(
        default=None,
        max_length=MAX_CONDITIONS,
        description="Candidate item conditions, item code -> expression over the data "
        'dictionary\'s facts ("": the item always applies); null: the conditions set now',
    )
    limit: int = Field(
        default=replay.DEFAULT_CASES,
        ge=1,
        le=replay.MAX_CASES,
        description=f"How many of the matter's newest cases to replay (at most {replay.MAX_CASES})",
    )


class ItemNamePublic(BaseModel):
    code: str
    name: str
    name_en: str


class ItemDepartmentChangePublic(BaseModel):
    item: ItemNamePublic
    old: str = Field(description="The department the case's item went to")
    old_name: str
    new: str = Field(description="The department the candidate routes it to")
    new_name: str


class DeadlineMovePublic(BaseModel):
    item: ItemNamePublic
    old: date = Field(description="The case's due date")
    new: date = Field(description="The due date with the candidate's time limit")
    days: int = Field(description="Working days moved (negative: earlier)")


class StepFailurePublic(BaseModel):
    """Where the candidate process failed on this case's data (nothing of the data is shown)."""

    element_id: str
    element_name: str


class CaseReplayPublic(BaseModel):
    """One case compared with the candidate: case number and item names only, no applicant's
    facts."""

    case_number: str
    submitted_at: datetime
    status: str = Field(description="The case's status (processing, correction, completed…)")
    differs: bool = Field(description="The candidate would have handled this case differently")
    appearing: list[ItemNamePublic] = Field(description="Routed by the candidate, not in the case")
    vanishing: list[ItemNamePublic] = Field(description="In the case, not routed by the candidate")
    applies_gained: list[ItemNamePublic] = Field(
        description="Items whose condition would start to hold (their facts asked)"
    )
    applies_lost: list[ItemNamePublic] = Field(
        description="Items whose condition would stop holding"
    )
    department_changes: list[ItemDepartmentChangePublic]
    deadline_moves: list[DeadlineMovePublic]
    first_before: list[ItemNamePublic] = Field(description="What the case's process routes first")
    first_after: list[ItemNamePublic] = Field(description="What the candidate routes first")
    failed: StepFailurePublic | None = Field(
        default=None, description="The candidate process failed on this case's data here"
    )


class ReplaySummaryPublic(BaseModel):
    compared: int = Field(description="Cases replayed")
    differing: int = Field(description="Cases the candidate would have handled differently")
    appearing: int = Field(description="Items appearing, over all cases")
    vanishing: int = Field(description="Items vanishing, over all cases")
    moved: int = Field(description="Deadlines moved, over all cases")
    failed: int = Field(description="Cases the candidate process failed on")


class ReplayPublic(BaseModel):
    matter: str
    name: str
    name_en: str
    limit: int
    process_changed: bool = Field(description="A candidate process was replayed")
    catalog_changed: bool = Field(description="A candidate catalog or condition set was replayed")
    summary: ReplaySummaryPublic
    cases: list[CaseReplayPublic] = Field(description="Newest first")


# ---------------------------------------------------------------- shared with the pages


def _item(name: replay.ItemName) -> ItemNamePublic:
    return ItemNamePublic(code=name.code, name=name.name, name_en=name.name_en)


def _items(names) -> list[ItemNamePublic]:
    return [_item(name) for name in names]


def replay_public(rt: Runtime, result: replay.Replay) -> ReplayPublic:
    """A replay as answered (and as the editor shows it)."""
    return ReplayPublic(
        matter=result.matter_code,
        name=result.matter_name,
        name_en=result.matter_name_en,
        limit=result.limit,
        process_changed=result.process_changed,
        catalog_changed=result.catalog_changed,
        summary=ReplaySummaryPublic(
            compared=result.compared,
            differing=result.differing,
            appearing=result.appearing,
            vanishing=result.vanishing,
            moved=result.moved,
            failed=result.failed,
        ),
        cases=[
            CaseReplayPublic(
                case_number=case.case_number,
                submitted_at=case.submitted_at,
                status=case.status,
                differs=case.differs,
                appearing=_items(case.appearing),
                vanishing=_items(case.vanishing),
                applies_gained=_items(case.applies_gained),
                applies_lost=_items(case.applies_lost),
                department_changes=[
                    ItemDepartmentChangePublic(
                        item=_item(change.item),
                        old=change.old,
                        old_name=department_name(rt, change.old),
                        new=change.new,
                        new_name=department_name(rt, change.new),
                    )
                    for change in case.department_changes
                ],
                deadline_moves=[
                    DeadlineMovePublic(item=_item(m.item), old=m.old, new=m.new, days=m.days)
                    for m in case.deadline_moves
                ],
                first_before=_items(case.first_before),
                first_after=_items(case.first_after),
                failed=(
                    StepFailurePublic(
                        element_id=case.failed.element_id, element_name=case.failed.element_name
                    )
                    if case.failed
                    else None
                ),
            )
            for case in result.cases
        ],
    )


def refused_json(exc: processes.Refused) -> JSONResponse:
    """A candidate process refused: its problems at their elements, not `fields`."""
    body = {k: v for k, v in problem_body(exc).items() if k != "fields"}
    body["problems"] = problems_json(exc.problems)
    return JSONResponse(body, status_code=422, media_type=PROBLEM)


# ---------------------------------------------------------------- operations


@router.post(
    "/{matter_code}",
    response_model=ReplayPublic,
    dependencies=[CsrfChecked],
    responses={**REFUSED, **too_large(BODY_LIMIT)},
)
@body_limit(BODY_LIMIT)
def replay_candidate(
    body: ReplayIn, matter_code: Code, user: AdminUser, session: SessionDep, rt: RuntimeDep
):
    """Replay a candidate process (with its decision tables) and/or item conditions on the
    matter's newest `limit` cases, closed and open, before deploying it: which cases would be
    routed differently, which items would appear or vanish, how deadlines would move. Nothing
    is stored but the access log (each case's data was read); 422 lists the candidate's
    problems by element id. Runs the process once or twice per case: at most 200 cases."""
    decisions = None
    if body.decisions is not None:
        decisions = tuple((d.name, xml_bytes(d.xml)) for d in body.decisions)
    try:
        result = replay.replay(
            session,
            rt,
            user=user,
            matter_code=matter_code,
            content=xml_bytes(body.xml) if body.xml is not None else None,
            decisions=decisions,
            conditions=body.conditions,
            limit=body.limit,
        )
    except processes.Refused as exc:
        return refused_json(exc)
    return replay_public(rt, result)
