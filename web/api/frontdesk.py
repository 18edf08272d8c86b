"""The front desk (综合窗口) over the API: a walk-in applicant's matter accepted at one window,
as the front desk's pages do it (`web/routes/frontdesk.py`, the same service functions).

1. `POST /frontdesk/visits`: record that the person is at the window with their identity card
   checked (and whether they signed the authorization of the lookups). Nothing of the person is
   read before; the visit opens their form for this clerk and this matter for two hours.
2. `GET …/form` (or `POST …/form` with the answers so far): the same prefilled form and
   checklist as online, as data.
3. `POST …/uploads`: each scanned material (multipart), kept for this clerk under a token.
4. `POST …/application`: the answers and the tokens; the case is accepted at the window.
5. `GET /frontdesk/receipts/{case_id}`: the acceptance receipt (受理回执), logged."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, File, Form, UploadFile
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from forms.values import mask_id
from services.accounts.models import User
from services.cases import frontdesk, submission
from services.cases.confirmation import NextStepPublic, next_steps, next_steps_public
from services.cases.models import DraftUpload, WindowVisit
from services.cases.path import case_path
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
from services.runtime import Runtime
from web.api.matters import form_public
from web.api.routing import PREFIX, RowId, api_router
from web.api.uploads import MATERIAL_REFUSED, ONE_FILE_TOO_LARGE, one_material, upload_public
from web.deps import ClerkUser, Code, CsrfChecked, RuntimeDep, SessionDep
from web.limits import body_limit
from web.openapi import answers

router = api_router(tags=["api: front desk"])


def front_desk_clerk(user: ClerkUser) -> User:
    """The signed-in front-desk clerk (of the service centre); any other caller: 403."""
    frontdesk.require_front_desk(user)
    return user


FrontDeskUser = Annotated[User, Depends(front_desk_clerk)]
NO_VISIT = {
    403: {
        "model": ErrorPublic,
        "description": "Not the front desk, or the applicant was not recorded at this clerk's "
        "window for this matter within the last two hours (`POST /api/v1/frontdesk/visits`)",
    }
}


class VisitCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id_number": "310104199205160353",
                    "matter": "newborn",
                    "present": True,
                    "consent": True,
                }
            ]
        }
    )

    id_number: str = Field(
        max_length=32, pattern=NO_NUL, description="The citizen ID on the identity card checked"
    )
    matter: str = Field(max_length=64, pattern=CODE_PATTERN, description="The matter's code")
    present: bool = Field(
        description="The person is at the window and their identity card was checked: required "
        "(false: 422, and nothing of the person is read)"
    )
    consent: bool = Field(
        default=False,
        description="The person signed the authorization of the matter's registry lookups "
        "(recorded as their consent): the form is then prefilled; otherwise everything is "
        "asked and the materials scanned",
    )


class ApplicantRef(BaseModel):
    id: int = Field(description="The applicant's account (opened at the window if new)")
    name: str
    id_number: str = Field(description="The citizen ID, masked")


class VisitPublic(BaseModel):
    applicant: ApplicantRef
    matter: str
    consented: bool = Field(description="The lookups were authorized")
    expires_at: datetime = Field(description="The visit opens the applicant's form until then")
    form_url: str
    uploads_url: str
    application_url: str


class WalkInFormPublic(BaseModel):
    """The walk-in applicant's form, as the front desk's form page shows it."""

    applicant: ApplicantRef
    consented: bool
    expires_at: datetime
    form: FormPublic = Field(
        description="The combined form as data (as `GET /api/v1/matters/{code}/form`); upload "
        "materials to this visit's `uploads_url`, not to `/api/v1/uploads`"
    )
    drafts: list[UploadPublic] = Field(
        description="Files already uploaded for this application (their tokens go in "
        "`materials` when accepting)"
    )


class WalkInAnswers(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"answers": {"household_parent": "father"}}]}
    )

    answers: dict[FactKey, Any] = Field(
        default_factory=dict,
        description="Answers so far, by fact key; a key that is not a fact of the matter is "
        "refused (422, named)",
    )


class WalkInApplication(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "answers": {
                        "child_name": "张小满",
                        "household_parent": "father",
                        "applicant_phone": "13812345678",
                        "delivery_method": "window",
                    },
                    "materials": {"marriage_certificate": "q3VbXk2s9oQ0WmJ1zL4tYc8a"},
                }
            ]
        }
    )

    answers: dict[FactKey, Any] = Field(
        default_factory=dict,
        description="Answers by fact key (the form lists the facts, types, options and rules). "
        "Facts the registries supplied are taken from the server's own reading; any key that "
        "is not a fact of the matter is refused (422, named)",
    )
    materials: dict[MaterialCode, UploadToken] = Field(
        default_factory=dict,
        description="The scanned materials: material code → the token from this visit's "
        "`POST …/uploads` (an unknown or expired token is refused, 422)",
    )


class AcceptancePublic(BaseModel):
    case_id: int
    case_number: str | None
    matter: str
    channel: str = Field(description="window: accepted at the front desk")
    receipt_url: str = Field(description="The acceptance receipt to print (logged when read)")
    next_steps: list[NextStepPublic] = Field(
        default=[], description="What the applicant is told happens next, as the receipt says"
    )


class ReceiptItemPublic(BaseModel):
    name: str
    department: str
    time_limit_days: int = Field(description="The statutory time limit, in working days")


class ReceivedPublic(BaseModel):
    material: str = Field(description="The material's code")
    name: str
    filename: str


class ReceiptPublic(BaseModel):
    """The acceptance receipt (受理回执) as the front desk prints it."""

    case_id: int
    case_number: str | None
    matter: str
    matter_name: str
    applicant_name: str
    applicant_id_number: str = Field(description="Masked")
    accepted_at: datetime
    items: list[ReceiptItemPublic] = Field(description="The items the case was routed to")
    received: list[ReceivedPublic] = Field(description="The materials received")
    exempt: list[str] = Field(description="The materials fetched from registries (not needed)")
    track_url: str = Field(description="Where the applicant follows the case (the QR code)")
    qr_svg: str = Field(description="The QR code of `track_url`, as inline SVG")


def _applicant(applicant: User) -> ApplicantRef:
    return ApplicantRef(
        id=applicant.id, name=applicant.display_name, id_number=mask_id(applicant.id_number or "")
    )


def _visit_url(applicant_id: int, matter: str) -> str:
    return f"{PREFIX}/frontdesk/visits/{applicant_id}/{matter}"


@router.post(
    "/frontdesk/visits",
    response_model=VisitPublic,
    status_code=201,
    dependencies=[CsrfChecked],
    responses={403: {"model": ErrorPublic, "description": "Not the front desk"}},
)
@answers(404)
def open_visit(body: VisitCreate, user: FrontDeskUser, session: SessionDep, rt: RuntimeDep):
    """Record a walk-in applicant at the window: present, identity card checked, lookups
    authorized or not. Only then is the ID checked against the population registry (the read
    is logged) and the applicant's account opened if they never signed in online; an ID that
    fails its check digit or is not in the registry: 422."""
    applicant, visit = frontdesk.open_visit(
        session,
        rt,
        clerk=user,
        id_number=body.id_number,
        matter=body.matter,
        present=body.present,
        consented=body.consent,
    )
    return _visit_public(applicant, visit)


def _visit_public(applicant: User, visit: WindowVisit) -> VisitPublic:
    url = _visit_url(applicant.id, visit.matter)
    return VisitPublic(
        applicant=_applicant(applicant),
        matter=visit.matter,
        consented=visit.consented,
        expires_at=visit.expires_at,
        form_url=f"{url}/form",
        uploads_url=f"{url}/uploads",
        application_url=f"{url}/application",
    )


def _walk_in_form(
    session, rt: Runtime, user: User, applicant_id: int, matter: str, answers: dict | None
) -> WalkInFormPublic:
    found = frontdesk.walk_in_form(
        session, rt, clerk=user, applicant_id=applicant_id, matter=matter, answers=answers
    )
    form = form_public(found.form, rt)
    form.upload.url = f"{_visit_url(applicant_id, matter)}/uploads"
    return WalkInFormPublic(
        applicant=_applicant(found.applicant),
        consented=found.visit.consented,
        expires_at=found.visit.expires_at,
        form=form,
        drafts=[upload_public(draft) for draft in found.drafts.values()],
    )


@router.get(
    "/frontdesk/visits/{applicant_id}/{matter}/form",
    response_model=WalkInFormPublic,
    responses=NO_VISIT,
)
def walk_in_form(
    applicant_id: RowId, matter: Code, user: FrontDeskUser, session: SessionDep, rt: RuntimeDep
):
    """The walk-in applicant's combined form as data, for the clerk who recorded them at the
    window: prefilled from the registries if they authorized the lookups (each read logged)."""
    return _walk_in_form(session, rt, user, applicant_id, matter, None)


@router.post(
    "/frontdesk/visits/{applicant_id}/{matter}/form",
    response_model=WalkInFormPublic,
    dependencies=[CsrfChecked],
    responses=NO_VISIT,
)
def evaluate_walk_in_form(
    applicant_id: RowId,
    matter: Code,
    body: WalkInAnswers,
    user: FrontDeskUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """The walk-in applicant's form for the answers so far (the page's "update the form"): the
    items, facts and materials their conditions switch on, and the answers' format errors.
    Nothing is submitted or kept."""
    return _walk_in_form(session, rt, user, applicant_id, matter, body.answers)


@router.post(
    "/frontdesk/visits/{applicant_id}/{matter}/uploads",
    response_model=UploadPublic,
    status_code=201,
    dependencies=[CsrfChecked],
    responses={
        **NO_VISIT,
        **ONE_FILE_TOO_LARGE,
        **MATERIAL_REFUSED,
    },
)
@body_limit(one_material)
async def upload_scan(
    applicant_id: RowId,
    matter: Code,
    material: Annotated[
        str,
        Form(
            max_length=64,
            pattern=CODE_PATTERN,
            description="The material's code (the form's checklist)",
            examples=["marriage_certificate"],
        ),
    ],
    file: Annotated[UploadFile, File(description="The scan: PDF, JPEG or PNG")],
    user: FrontDeskUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """Upload one scanned material for the walk-in applicant's application (multipart/form-data
    with `material` and `file`), as `POST /api/v1/uploads` does for a citizen: checked (types
    by content, the size limit in the form's `upload`) and kept for this clerk under the token
    returned; a newer scan of the same material replaces it. Other content types: 415."""
    content = await file.read(rt.settings.upload_limit_bytes + 1)  # one byte over: refused
    draft = await run_in_threadpool(
        _keep_scan, session, rt, user, applicant_id, matter, material, file.filename, content
    )
    return upload_public(draft)


def _keep_scan(
    session, rt: Runtime, user: User, applicant_id: int, matter: str, material: str, name, content
) -> DraftUpload:
    applicant, _visit = frontdesk.current_visit(
        session, clerk=user, applicant_id=applicant_id, matter=matter
    )
    return submission.upload_material(
        session,
        rt,
        user=applicant,
        matter_code=matter,
        material_code=material,
        filename=name or "scan",
        content=content,
        actor=user,
    )


@router.post(
    "/frontdesk/visits/{applicant_id}/{matter}/application",
    response_model=AcceptancePublic,
    status_code=201,
    dependencies=[CsrfChecked],
    responses=NO_VISIT,
)
@answers(503)
def accept(
    applicant_id: RowId,
    matter: Code,
    body: WalkInApplication,
    user: FrontDeskUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """Accept the walk-in applicant's application at the window (一窗受理), with the scanned
    materials by their tokens: the case is the applicant's, accepted by this clerk. Every
    refusal at once: 422 with a message per fact and `material_<code>`; an application
    repeating an open or granted one for the same subject: 409."""
    applicant, visit = frontdesk.current_visit(
        session, clerk=user, applicant_id=applicant_id, matter=matter
    )
    case = submission.submit_application(
        session,
        rt,
        user=applicant,
        matter_code=matter,
        answers=body.answers,
        drafts=body.materials,
        channel="window",
        consented=visit.consented,
        actor=user,
    )
    return AcceptancePublic(
        case_id=case.id,
        case_number=case.number,
        matter=case.matter,
        channel=case.channel,
        receipt_url=f"{PREFIX}/frontdesk/receipts/{case.id}",
        next_steps=next_steps_public(
            next_steps(rt, case, case_path(session, rt, case=case, for_applicant=False))
        ),
    )


@router.get(
    "/frontdesk/receipts/{case_id}",
    response_model=ReceiptPublic,
    responses={403: {"model": ErrorPublic, "description": "Not the front desk"}},
)
def receipt(case_id: RowId, user: FrontDeskUser, session: SessionDep, rt: RuntimeDep):
    """The acceptance receipt of a case accepted at a window (404 for any other): case number,
    items with their time limits, materials received and fetched, where to follow the case.
    Each receipt read is logged in the applicant's data-access log."""
    found = frontdesk.acceptance_receipt(session, rt, clerk=user, case_id=case_id)
    case = found.case
    matter = rt.catalog.matters.get(case.matter)
    return ReceiptPublic(
        case_id=case.id,
        case_number=case.number,
        matter=case.matter,
        matter_name=matter.name if matter else case.matter,
        applicant_name=case.applicant_name,
        applicant_id_number=mask_id(case.applicant_id_number),
        accepted_at=case.created_at,
        items=[
            ReceiptItemPublic(name=i.name, department=i.department, time_limit_days=i.days)
            for i in found.items
        ],
        received=[
            ReceivedPublic(material=m.code, name=m.name, filename=m.filename)
            for m in found.received
        ],
        exempt=found.exempt,
        track_url=found.track_url,
        qr_svg=found.qr_svg,
    )
