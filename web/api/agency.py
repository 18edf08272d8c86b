"""Acting for someone else (代办) over the API (issue 22): authorizations given, received and
withdrawn; the agent's application for the principal and the cases they filed; the principal's
record of what their agents did; the front desk's recording of a written authorization.
Pages: web/routes/agency.py (the same service functions)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import File, Form, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from forms.values import mask_id
from services.accounts.models import User
from services.agency import service as agency
from services.agency.models import Authorization
from services.cases.schemas import (
    CODE_PATTERN,
    NO_NUL,
    ErrorPublic,
    FactKey,
    FormPublic,
    MaterialCode,
    UploadPublic,
    UploadToken,
)
from services.cases.uploads import UploadedFile
from services.runtime import Runtime
from web.api.frontdesk import FrontDeskUser
from web.api.matters import form_public
from web.api.routing import PREFIX, RowId, api_router
from web.api.uploads import MATERIAL_REFUSED, ONE_FILE_TOO_LARGE, one_material, upload_public
from web.deps import CitizenUser, Code, CsrfChecked, RuntimeDep, SessionDep
from web.limits import body_limit
from web.openapi import answers

router = api_router(tags=["api: agency"])

NOT_IN_FORCE = {
    403: {
        "model": ErrorPublic,
        "description": "The authorization was withdrawn, has ended or does not cover the matter",
    }
}


class AuthorizationCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "agent_id_number": "31010620030618095X",
                    "agent_name": "陈思远",
                    "matters": ["retirement"],
                    "valid_until": "2027-03-01",
                }
            ]
        }
    )

    agent_id_number: str = Field(
        max_length=32, pattern=NO_NUL, description="The agent's citizen ID (they need an account)"
    )
    agent_name: str = Field(max_length=64, pattern=NO_NUL, description="The agent's name")
    matters: list[Annotated[str, Field(max_length=64, pattern=CODE_PATTERN)]] = Field(
        default=[], max_length=100, description="The matters it covers (codes)"
    )
    all_matters: bool = Field(default=False, description="It covers every matter")
    valid_until: date = Field(description="The last day it covers (at most a year from today)")


class AuthorizationPublic(BaseModel):
    """An authorization as its principal and its agent see it (ID numbers masked)."""

    id: int
    principal_name: str
    principal_id_number: str = Field(description="Masked")
    agent_name: str
    agent_id_number: str = Field(description="Masked")
    matters: list[str]
    all_matters: bool
    valid_from: date
    valid_until: date
    recorded_via: str = Field(description="online (by the principal) or frontdesk (scanned)")
    in_force: bool = Field(description="Not withdrawn, and today within its dates")
    withdrawn_at: datetime | None
    created_at: datetime


class AuthorizationsPublic(BaseModel):
    given: list[AuthorizationPublic] = Field(description="Given by the signed-in person")
    held: list[AuthorizationPublic] = Field(description="Held by them as an agent")


def authorization_public(row: Authorization) -> AuthorizationPublic:
    return AuthorizationPublic(
        **row.model_dump(exclude={"principal_id_number", "agent_id_number"}),
        principal_id_number=mask_id(row.principal_id_number),
        agent_id_number=mask_id(row.agent_id_number),
        in_force=agency.is_valid(row),
    )


@router.get("/authorizations", response_model=AuthorizationsPublic)
def authorizations(user: CitizenUser, session: SessionDep):
    """The authorizations the signed-in citizen gave (委托) and holds as an agent (代办)."""
    return AuthorizationsPublic(
        given=[authorization_public(r) for r in agency.given(session, user=user)],
        held=[authorization_public(r) for r in agency.held(session, user=user)],
    )


@router.post(
    "/authorizations",
    response_model=AuthorizationPublic,
    status_code=201,
    dependencies=[CsrfChecked],
)
def grant(body: AuthorizationCreate, user: CitizenUser, session: SessionDep, rt: RuntimeDep):
    """Authorize an agent, named by ID number and name, for the matters chosen (or all) until a
    date; the agent is told. An unknown agent, a wrong name or a date beyond a year: 422."""
    row = agency.grant(session, rt, principal=user, **body.model_dump())
    return authorization_public(row)


@router.post(
    "/authorizations/{authorization_id}/withdraw",
    response_model=AuthorizationPublic,
    dependencies=[CsrfChecked],
)
@answers(404)
def withdraw(authorization_id: RowId, user: CitizenUser, session: SessionDep):
    """Withdraw an authorization you gave, at once: the agent loses access to the cases they
    filed under it (withdrawing again changes nothing)."""
    return authorization_public(
        agency.withdraw(session, user=user, authorization_id=authorization_id)
    )


class AgentAnswers(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"answers": {"only_child_parent": False}}]}
    )

    answers: dict[FactKey, Any] = Field(default={}, description="The answers so far")


def _agent_form(session, rt, user, authorization_id: int, matter: str, answers=None):
    _row, _principal, form = agency.agent_form(
        session, rt, agent=user, authorization_id=authorization_id, matter=matter, answers=answers
    )
    return form_public(form, rt)


@router.get(
    "/authorizations/{authorization_id}/matters/{matter}/form",
    response_model=FormPublic,
    responses=NOT_IN_FORCE,
)
@answers(404)
def agent_form(
    authorization_id: RowId, matter: Code, user: CitizenUser, session: SessionDep, rt: RuntimeDep
):
    """The principal's combined form, for their agent: prefilled from the registries for the
    principal under the consent the authorization gives (each read logged with the agent as
    actor and the authorization as basis)."""
    return _agent_form(session, rt, user, authorization_id, matter)


@router.post(
    "/authorizations/{authorization_id}/matters/{matter}/form",
    response_model=FormPublic,
    responses=NOT_IN_FORCE,
    dependencies=[CsrfChecked],
)
@answers(404)
def evaluate_agent_form(
    authorization_id: RowId,
    matter: Code,
    body: AgentAnswers,
    user: CitizenUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """The principal's form for the answers so far (conditions applied; nothing kept)."""
    return _agent_form(session, rt, user, authorization_id, matter, body.answers)


class AgentApplication(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"matter": "retirement", "answers": {}}]}
    )

    matter: str = Field(max_length=64, pattern=CODE_PATTERN, description="The matter's code")
    answers: dict[FactKey, Any] = Field(default={}, description="The answers (as the form asks)")
    materials: dict[MaterialCode, UploadToken] = Field(
        default={},
        description="Files uploaded beforehand for this application (`POST .../uploads`), by "
        "material code",
    )


@router.post(
    "/authorizations/{authorization_id}/uploads",
    response_model=UploadPublic,
    status_code=201,
    dependencies=[CsrfChecked],
    responses={
        **NOT_IN_FORCE,
        **ONE_FILE_TOO_LARGE,
        **MATERIAL_REFUSED,
    },
)
@body_limit(one_material)
@answers(404)
async def upload_for(
    authorization_id: RowId,
    matter: Annotated[str, Form(max_length=64, pattern=CODE_PATTERN, examples=["retirement"])],
    material: Annotated[
        str, Form(max_length=64, pattern=CODE_PATTERN, examples=["only_child_certificate"])
    ],
    file: Annotated[UploadFile, File(description="The file: PDF, JPEG or PNG")],
    user: CitizenUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """Upload one material for the principal's application (multipart/form-data with `matter`,
    `material` and `file`), as `POST /api/v1/uploads` does for one's own: checked and kept for
    the agent under the token returned (name it in `materials` when applying)."""
    content = await file.read(rt.settings.upload_limit_bytes + 1)  # one byte over: refused
    draft = await run_in_threadpool(
        agency.upload_for,
        session,
        rt,
        agent=user,
        authorization_id=authorization_id,
        matter=matter,
        material_code=material,
        filename=file.filename or "upload",
        content=content,
    )
    return upload_public(draft)


class AgentCaseFiled(BaseModel):
    case_id: int
    case_number: str
    matter: str
    applicant_name: str = Field(description="The principal: the case is theirs")
    case_url: str = Field(description="The case as the agent sees it")


@router.post(
    "/authorizations/{authorization_id}/cases",
    response_model=AgentCaseFiled,
    status_code=201,
    responses=NOT_IN_FORCE,
    dependencies=[CsrfChecked],
)
@answers(404, 409, 503)
def apply_for(
    authorization_id: RowId,
    body: AgentApplication,
    user: CitizenUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """Apply for the principal under the authorization (为他人办理): the case's applicant is the
    principal, who is told; the agent is named in its history. Refused as `POST /api/v1/cases`
    is (422 with every field, 409 for a repeated subject)."""
    case = agency.apply_for(
        session,
        rt,
        agent=user,
        authorization_id=authorization_id,
        matter=body.matter,
        answers=body.answers,
        drafts=body.materials,
    )
    return AgentCaseFiled(
        case_id=case.id,
        case_number=case.number,
        matter=case.matter,
        applicant_name=case.applicant_name,
        case_url=f"{PREFIX}/agency/cases/{case.id}",
    )


class AgentCaseRow(BaseModel):
    id: int
    number: str | None
    matter: str
    applicant_name: str
    status: str
    created_at: datetime


class AgentItem(BaseModel):
    item_code: str
    department: str
    status: str


class AgentEvent(BaseModel):
    at: datetime
    actor: str
    kind: str
    message: str


class AgentCaseView(AgentCaseRow):
    authorization_id: int
    items: list[AgentItem]
    events: list[AgentEvent]


@router.get("/agency/cases", response_model=list[AgentCaseRow])
def agent_cases(user: CitizenUser, session: SessionDep):
    """The cases the signed-in agent filed under authorizations still in force, newest first."""
    return [
        AgentCaseRow(**c.model_dump(include=set(AgentCaseRow.model_fields)))
        for c in agency.agent_cases(session, agent=user)
    ]


@router.get("/agency/cases/{case_id}", response_model=AgentCaseView)
@answers(404)
def agent_case(case_id: RowId, user: CitizenUser, session: SessionDep):
    """A case the agent filed, while the authorization is in force (else 404): progress and
    history; the look is logged for the principal."""
    view = agency.agent_view(session, agent=user, case_id=case_id)
    return AgentCaseView(
        **view.case.model_dump(include=set(AgentCaseRow.model_fields)),
        authorization_id=view.authorization.id,
        items=[AgentItem(**i.model_dump(include=set(AgentItem.model_fields))) for i in view.items],
        events=[
            AgentEvent(**e.model_dump(include=set(AgentEvent.model_fields))) for e in view.events
        ],
    )


class AgentActPublic(BaseModel):
    at: datetime
    agent_name: str
    case_id: int | None
    case_number: str | None
    what: str


@router.get("/agency/record", response_model=list[AgentActPublic])
def agent_record(user: CitizenUser, session: SessionDep):
    """What the signed-in citizen's agents did for them (代办记录), newest first: each step of
    their cases done by an agent and each look at their data by an agent."""
    return [AgentActPublic(**vars(act)) for act in agency.agent_record(session, principal=user)]


@router.post(
    "/frontdesk/authorizations",
    response_model=AuthorizationPublic,
    status_code=201,
    dependencies=[CsrfChecked],
    responses={
        **ONE_FILE_TOO_LARGE,
        403: {"model": ErrorPublic, "description": "Not the front desk"},
    },
)
@body_limit(one_material)
async def record_written(
    principal_id_number: Annotated[
        str, Form(max_length=32, pattern=NO_NUL, examples=["310107196607150399"])
    ],
    agent_id_number: Annotated[
        str, Form(max_length=32, pattern=NO_NUL, examples=["31010620030618095X"])
    ],
    valid_until: Annotated[date, Form(examples=["2027-03-01"])],
    file: Annotated[UploadFile, File(description="The signed authorization: PDF, JPEG or PNG")],
    user: FrontDeskUser,
    session: SessionDep,
    rt: RuntimeDep,
    matters: Annotated[list[str] | None, Form(examples=[["retirement"]])] = None,
    all_matters: Annotated[bool, Form()] = False,
):
    """Record an authorization the principal signed on paper (multipart/form-data): the
    principal's and the agent's ID numbers, the matters, the last day, and the scan (checked by
    content and size, kept with it). The principal's account is opened if they have none."""
    content = await file.read(rt.settings.upload_limit_bytes + 1)  # one byte over: refused
    row = await run_in_threadpool(
        _record_written,
        session,
        rt,
        user,
        principal_id_number,
        agent_id_number,
        UploadedFile(agency.SCAN_MATERIAL, file.filename or "scan", content),
        matters or [],
        all_matters,
        valid_until,
    )
    return authorization_public(row)


def _record_written(
    session, rt: Runtime, clerk: User, principal, agent, scan, matters, every, until
):
    return agency.record_at_front_desk(
        session,
        rt,
        clerk=clerk,
        principal_id_number=principal,
        agent_id_number=agent,
        scan=scan,
        matters=matters,
        all_matters=every,
        valid_until=until,
    )
