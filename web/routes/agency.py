"""Pages: acting for someone else, 委托代办 (issue 22; the JSON twins in web/api/agency.py).

A principal authorizes an agent and withdraws it (/agency); the agent applies for the
principal (/agency/apply/...) and follows the cases they filed (/agency/cases/...); the
principal reads what their agents did (/agency/record); the front desk records a written
authorization with its scan (/agency/frontdesk)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from services.agency import service as agency
from services.cases.uploads import UploadedFile
from services.configuration.matters import published_matters
from services.errors import InvalidInput
from web import application_form
from web.api.frontdesk import FrontDeskUser
from web.api.routing import twin
from web.api.uploads import one_material
from web.deps import CitizenUser, Code, CsrfChecked, Id, RuntimeDep, SessionDep
from web.limits import body_limit, material_forms
from web.openapi import answers
from web.rendering import render

router = APIRouter(prefix="/agency", tags=["pages: agency"], default_response_class=HTMLResponse)


def _overview(request, session, rt, user, errors=None, status_code=200, **typed):
    return render(
        request,
        "agency/index.html",
        status_code=status_code,
        given=agency.given(session, user=user),
        held=agency.held(session, user=user),
        filed=agency.agent_cases(session, agent=user),
        matters=published_matters(session, rt),
        is_valid=agency.is_valid,
        errors=errors or {},
        typed=typed,
    )


@router.get("")
@twin("GET /api/v1/authorizations", "GET /api/v1/agency/cases")
def overview(request: Request, user: CitizenUser, session: SessionDep, rt: RuntimeDep):
    """委托代办: the authorizations given (withdraw any), held (apply for the principal), the
    cases filed as an agent, and the form to authorize someone."""
    return _overview(request, session, rt, user)


@router.post("/authorizations", dependencies=[CsrfChecked])
@twin("POST /api/v1/authorizations")
@answers(303)
def grant(
    request: Request,
    user: CitizenUser,
    session: SessionDep,
    rt: RuntimeDep,
    agent_id_number: Annotated[str, Form(max_length=32, examples=["31010620030618095X"])] = "",
    agent_name: Annotated[str, Form(max_length=64, examples=["陈思远"])] = "",
    matters: Annotated[list[str] | None, Form(examples=[["retirement"]])] = None,
    all_matters: Annotated[str, Form(max_length=1, examples=["1"])] = "",
    valid_until: Annotated[str, Form(max_length=10, examples=["2027-03-01"])] = "",
    confirm: Annotated[str, Form(max_length=1, examples=["1"])] = "",
):
    """The principal authorizes the agent named (after confirming what it allows)."""
    try:
        if not confirm:
            raise InvalidInput(
                "confirm",
                "请确认授权内容：代办人可为您办理所选事项，并为此查询您的政府共享数据",
                "Confirm what you allow: the agent applies for you and your records are looked up",
            )
        agency.grant(
            session,
            rt,
            principal=user,
            agent_id_number=agent_id_number,
            agent_name=agent_name,
            matters=matters or [],
            all_matters=bool(all_matters),
            valid_until=_day(valid_until),
        )
    except InvalidInput as exc:
        return _overview(
            request,
            session,
            rt,
            user,
            exc.fields,
            422,
            agent_id_number=agent_id_number,
            agent_name=agent_name,
        )
    return RedirectResponse("/agency", status_code=303)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        raise InvalidInput("valid_until", "日期格式不正确", "Not a date") from None


@router.post("/authorizations/{authorization_id}/withdraw", dependencies=[CsrfChecked])
@twin("POST /api/v1/authorizations/{authorization_id}/withdraw")
@answers(303, 404)
def withdraw(authorization_id: Id, user: CitizenUser, session: SessionDep):
    """The principal withdraws an authorization, at once."""
    agency.withdraw(session, user=user, authorization_id=authorization_id)
    return RedirectResponse("/agency", status_code=303)


def _apply_page(request, session, rt, user, authorization_id: int, matter: str):
    row, principal, form = agency.agent_form(
        session, rt, agent=user, authorization_id=authorization_id, matter=matter
    )
    return render(
        request,
        "citizen/apply.html",
        form=form,
        errors={},
        manual=False,
        drafts={},
        action=f"/agency/apply/{row.id}/{matter}",
        applicant=principal,
        agency=row,
    )


@router.get("/apply/{authorization_id}/{matter}")
@twin("GET /api/v1/authorizations/{authorization_id}/matters/{matter}/form")
@answers(403, 404)
def apply_page(
    request: Request,
    authorization_id: Id,
    matter: Code,
    user: CitizenUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """为他人办理: the principal's form, prefilled for them under the authorization."""
    return _apply_page(request, session, rt, user, authorization_id, matter)


@router.post("/apply/{authorization_id}/{matter}", dependencies=[CsrfChecked])
@twin(
    "POST /api/v1/authorizations/{authorization_id}/cases",
    "POST /api/v1/authorizations/{authorization_id}/matters/{matter}/form",
    "POST /api/v1/authorizations/{authorization_id}/uploads",
)
@body_limit(material_forms)
@answers(200, 303, 403, 404, 409, 503)
async def apply(
    request: Request,
    authorization_id: Id,
    matter: Code,
    user: CitizenUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """Submit the principal's application as their agent; the case page for the agent follows."""
    posted = await application_form.read_posted(request, rt)
    return await run_in_threadpool(
        _apply, request, session, rt, user, authorization_id, matter, posted
    )


def _apply(request, session, rt, user, authorization_id: int, matter: str, posted, preview=False):
    row, principal = agency.usable(
        session, agent=user, authorization_id=authorization_id, matter=matter
    )
    poster = dict(
        applicant=principal,
        actor=user,
        matter=matter,
        posted=posted,
        consented=True,
        basis=agency.basis_of(row),
    )
    if preview:
        return application_form.preview(request, session, rt, **poster)

    def linked(current, case) -> None:  # in the submission's own transaction
        agency.link_case(current, authorization=row, case=case)

    def filed(case):
        return RedirectResponse(f"/agency/cases/{case.id}", status_code=303)

    return application_form.submit(
        request,
        session,
        rt,
        done=filed,
        then=linked,
        action=f"/agency/apply/{row.id}/{matter}",
        agency=row,
        **poster,
    )


@router.post("/apply/{authorization_id}/{matter}/preview", dependencies=[CsrfChecked])
@twin("POST /api/v1/authorizations/{authorization_id}/matters/{matter}/form")
@answers(403, 404)
async def apply_preview(
    request: Request,
    authorization_id: Id,
    matter: Code,
    user: CitizenUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """The parts of the principal's form that depend on the answers so far (an HTML fragment)."""
    posted = await application_form.read_posted(request, rt)
    return await run_in_threadpool(
        _apply, request, session, rt, user, authorization_id, matter, posted, True
    )


@router.get("/cases/{case_id}")
@twin("GET /api/v1/agency/cases/{case_id}")
@answers(404)
def agent_case(request: Request, case_id: Id, user: CitizenUser, session: SessionDep):
    """A case the agent filed, while the authorization lasts (the look is logged)."""
    view = agency.agent_view(session, agent=user, case_id=case_id)
    return render(request, "agency/case.html", view=view)


@router.get("/record")
@twin("GET /api/v1/agency/record")
def record(request: Request, user: CitizenUser, session: SessionDep):
    """代办记录: everything the principal's agents did for them."""
    acts = agency.agent_record(session, principal=user)
    return render(request, "agency/record.html", acts=acts)


@router.get("/frontdesk")
@twin("POST /api/v1/frontdesk/authorizations")
def frontdesk_page(request: Request, user: FrontDeskUser, session: SessionDep, rt: RuntimeDep):
    """The front desk records a written authorization (登记书面委托), with its scan."""
    matters = published_matters(session, rt)
    return render(request, "agency/frontdesk.html", matters=matters, errors={}, recorded=None)


@router.post("/frontdesk", dependencies=[CsrfChecked])
@twin("POST /api/v1/frontdesk/authorizations")
@body_limit(one_material)
async def frontdesk_record(
    request: Request,
    user: FrontDeskUser,
    session: SessionDep,
    rt: RuntimeDep,
    file: Annotated[UploadFile, File(description="The signed authorization: PDF, JPEG or PNG")],
    principal_id_number: Annotated[str, Form(max_length=32, examples=["310107196607150399"])] = "",
    agent_id_number: Annotated[str, Form(max_length=32, examples=["31010620030618095X"])] = "",
    matters: Annotated[list[str] | None, Form(examples=[["retirement"]])] = None,
    all_matters: Annotated[str, Form(max_length=1, examples=["1"])] = "",
    valid_until: Annotated[str, Form(max_length=10, examples=["2027-03-01"])] = "",
):
    """Record the written authorization and keep its scan."""
    content = await file.read(rt.settings.upload_limit_bytes + 1)  # one byte over: refused
    scan = UploadedFile(agency.SCAN_MATERIAL, file.filename or "scan", content)
    typed = dict(
        principal_id_number=principal_id_number,
        agent_id_number=agent_id_number,
        matters=matters or [],
        all_matters=bool(all_matters),
        valid_until=valid_until,
    )
    return await run_in_threadpool(_frontdesk_record, request, session, rt, user, scan, typed)


def _frontdesk_record(request, session, rt, user, scan: UploadedFile, typed: dict):
    try:
        recorded = agency.record_at_front_desk(
            session,
            rt,
            clerk=user,
            scan=scan,
            **{**typed, "valid_until": _day(typed["valid_until"])},
        )
    except InvalidInput as exc:
        return render(
            request,
            "agency/frontdesk.html",
            status_code=422,
            matters=published_matters(session, rt),
            errors=exc.fields,
            recorded=None,
            typed=typed,
        )
    return render(
        request,
        "agency/frontdesk.html",
        status_code=200,
        matters=published_matters(session, rt),
        errors={},
        recorded=recorded,
    )
