"""Evaluations (好差评) over the API: the applicant rates a completed case (the form as data,
and the rating); departments' supervisors follow up bad reviews. The pages
(`web/routes/evaluations.py`) call the same service functions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.clock import utcnow
from services.calendar import local_date
from services.cases.access import load_case
from services.cases.schemas import NO_NUL, ErrorPublic
from services.evaluations import service as evaluations
from services.evaluations.models import Evaluation, FollowUp
from services.notifications.senders import default_sender
from web.api.routing import Offset, RowId, api_router
from web.deps import CitizenUser, ClerkUser, CsrfChecked, RuntimeDep, SessionDep

router = api_router(tags=["api: evaluations"])

FollowUpStatus = Literal["open", "resolved"]


class ReasonPublic(BaseModel):
    code: str
    label: str
    label_en: str


class LevelPublic(BaseModel):
    level: int = Field(description="5 very satisfied … 1 very dissatisfied")
    label: str
    label_en: str
    bad: bool = Field(description="A bad review (差评): at least one reason, followed up")
    reasons: list[str] = Field(description="The codes of the reasons one may give at this level")


class EvaluationPublic(BaseModel):
    id: int
    case_id: int
    level: int
    level_label: str
    level_label_en: str
    reasons: list[ReasonPublic]
    comment: str | None
    created_at: datetime


class EvaluationForm(BaseModel):
    """What the evaluation page offers: the levels and their reasons, and the evaluation if
    the case was rated already (once per case, once it is completed)."""

    case_id: int
    case_number: str | None
    case_status: str
    can_evaluate: bool = Field(description="Completed and not rated yet")
    levels: list[LevelPublic]
    reasons: list[ReasonPublic] = Field(description="Every reason, good and bad")
    evaluation: EvaluationPublic | None


class EvaluationCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"level": 5, "reasons": ["done_once", "quick"]},
                {"level": 1, "reasons": ["slow", "other"], "comment": "等了三周才办结"},
            ]
        }
    )

    level: int = Field(ge=1, le=5, description="5 very satisfied … 1 very dissatisfied")
    reasons: list[Annotated[str, Field(max_length=64, pattern=NO_NUL)]] = Field(
        default_factory=list,
        max_length=20,
        description="Reason codes allowed at the level (the form's `levels[].reasons`); at "
        "least one for a bad review; `other` needs a comment",
    )
    comment: str = Field(default="", max_length=500, pattern=NO_NUL)


def _reasons(codes) -> list[ReasonPublic]:
    labels = evaluations.REASON_LABELS
    return [ReasonPublic(code=c, label=labels[c][0], label_en=labels[c][1]) for c in codes]


def _evaluation_public(evaluation: Evaluation) -> EvaluationPublic:
    return EvaluationPublic(
        id=evaluation.id,
        case_id=evaluation.case_id,
        level=evaluation.level,
        level_label=evaluations.LEVELS[evaluation.level][0],
        level_label_en=evaluations.LEVELS[evaluation.level][1],
        reasons=_reasons(c for c in evaluation.reasons if c in evaluations.REASON_LABELS),
        comment=evaluation.comment,
        created_at=evaluation.created_at,
    )


@router.get("/cases/{case_id}/evaluation", response_model=EvaluationForm)
def evaluation_form(case_id: RowId, user: CitizenUser, session: SessionDep):
    """The applicant's evaluation of their case: the levels with the reasons each allows, and
    the evaluation once given."""
    case = load_case(session, case_id=case_id, user=user)
    given = evaluations.evaluation_of(session, case=case)
    return EvaluationForm(
        case_id=case.id,
        case_number=case.number,
        case_status=case.status,
        can_evaluate=case.status == "completed" and given is None,
        levels=[
            LevelPublic(
                level=level,
                label=label,
                label_en=label_en,
                bad=level <= evaluations.BAD_LEVEL,
                reasons=list(evaluations.reasons_for(level)),
            )
            for level, (label, label_en) in evaluations.LEVELS.items()
        ],
        reasons=_reasons(evaluations.REASON_LABELS),
        evaluation=_evaluation_public(given) if given else None,
    )


@router.post(
    "/cases/{case_id}/evaluation",
    response_model=EvaluationPublic,
    status_code=201,
    dependencies=[CsrfChecked],
    responses={
        409: {"model": ErrorPublic, "description": "Not completed yet, or already evaluated"}
    },
)
def evaluate(
    case_id: RowId, body: EvaluationCreate, user: CitizenUser, session: SessionDep, rt: RuntimeDep
):
    """The applicant rates their completed case, once. A bad review (level 2 or 1) opens a
    follow-up for the departments concerned, due in 15 working days."""
    case = load_case(session, case_id=case_id, user=user)
    evaluation = evaluations.evaluate(
        session,
        user=user,
        case=case,
        level=body.level,
        reasons=body.reasons,
        comment=body.comment,
        catalog=rt.catalog,
    )
    return _evaluation_public(evaluation)


class FollowUpState(BaseModel):
    id: int
    case_id: int
    department: str
    status: FollowUpStatus
    status_label: str
    status_label_en: str
    due_date: date = Field(description="15 working days after the review")
    overdue: bool
    resolution: str | None
    callback_done: bool
    resolved_at: datetime | None


class FollowUpPublic(FollowUpState):
    case_number: str | None
    applicant_name: str
    applicant_phone: str = Field(description="For the callback")
    level: int
    level_label: str
    level_label_en: str
    reasons: list[ReasonPublic]
    comment: str | None = Field(description="The applicant's comment")
    rated_at: datetime


class FollowUpResolve(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "resolution": "经核实系材料审核积压，已增派人手并向申请人致歉",
                    "callback_done": True,
                }
            ]
        }
    )

    resolution: str = Field(
        max_length=1000, pattern=NO_NUL, description="What was found and put right"
    )
    callback_done: bool = Field(
        description="The applicant was called back and told (required to resolve)"
    )


def _follow_up_state(follow_up: FollowUp, case_id: int, today: date) -> dict:
    return dict(
        id=follow_up.id,
        case_id=case_id,
        department=follow_up.department,
        status=follow_up.status,
        status_label=evaluations.FOLLOW_UP_STATUS[follow_up.status][0],
        status_label_en=evaluations.FOLLOW_UP_STATUS[follow_up.status][1],
        due_date=follow_up.due_date,
        overdue=follow_up.status == "open" and follow_up.due_date < today,
        resolution=follow_up.resolution,
        callback_done=follow_up.callback_done,
        resolved_at=follow_up.resolved_at,
    )


@router.get(
    "/follow-ups",
    response_model=list[FollowUpPublic],
    responses={403: {"model": ErrorPublic, "description": "Not a department supervisor"}},
)
def follow_ups(
    user: ClerkUser,
    session: SessionDep,
    status: FollowUpStatus = "open",
    limit: int = 50,
    offset: Offset = 0,
):
    """The bad reviews the supervisor's department must follow up, earliest due first. The
    applicants' phone numbers shown are logged as views of their cases."""
    today = local_date(utcnow())
    rows = evaluations.follow_ups(session, user=user, status=status, limit=limit, offset=offset)
    return [
        FollowUpPublic(
            **_follow_up_state(row.follow_up, row.case.id, today),
            case_number=row.case.number,
            applicant_name=row.case.applicant_name,
            applicant_phone=row.applicant_phone,
            level=row.evaluation.level,
            level_label=row.level_label[0],
            level_label_en=row.level_label[1],
            reasons=_reasons(c for c in row.evaluation.reasons if c in evaluations.REASON_LABELS),
            comment=row.evaluation.comment,
            rated_at=row.evaluation.created_at,
        )
        for row in rows
    ]


@router.post(
    "/follow-ups/{follow_up_id}/resolve",
    response_model=FollowUpState,
    dependencies=[CsrfChecked],
    responses={409: {"model": ErrorPublic, "description": "Resolved already"}},
)
def resolve_follow_up(
    follow_up_id: RowId,
    body: FollowUpResolve,
    user: ClerkUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """A supervisor records how the department put a bad review right, having called the
    applicant back; the applicant is told."""
    follow_up = evaluations.resolve_follow_up(
        session,
        user=user,
        follow_up_id=follow_up_id,
        resolution=body.resolution,
        callback_done=body.callback_done,
        catalog=rt.catalog,
        sender=default_sender(),
    )
    evaluation = session.get(Evaluation, follow_up.evaluation_id)
    return FollowUpState(**_follow_up_state(follow_up, evaluation.case_id, local_date(utcnow())))
