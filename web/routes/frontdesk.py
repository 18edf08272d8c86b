"""The front desk (综合窗口): one window accepts a walk-in applicant's whole matter."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from services.cases import confirmation, frontdesk
from services.cases.path import case_path
from services.configuration.matters import published_matters
from services.errors import InvalidInput
from web import application_form
from web.api.routing import twin
from web.deps import ClerkUser, Code, CsrfChecked, Id, RuntimeDep, SessionDep
from web.limits import body_limit, material_forms
from web.openapi import answers
from web.rendering import render

router = APIRouter(
    prefix="/frontdesk", tags=["pages: front desk"], default_response_class=HTMLResponse
)


@router.get("")
@twin("GET /api/v1/matters")
def start(request: Request, user: ClerkUser, session: SessionDep, rt: RuntimeDep):
    """Record a walk-in applicant: their ID number, the matter, present and identity checked,
    lookups authorized or not."""
    frontdesk.require_front_desk(user)
    matters = published_matters(session, rt)
    return render(request, "frontdesk/start.html", matters=matters, errors={})


@router.post("", dependencies=[CsrfChecked])
@twin("POST /api/v1/frontdesk/visits")
@answers(404)
def open_applicant(
    request: Request,
    user: ClerkUser,
    session: SessionDep,
    rt: RuntimeDep,
    id_number: Annotated[str, Form(examples=["310104199205160353"])] = "",
    matter: Annotated[str, Form(max_length=64, examples=["newborn"])] = "",
    present: Annotated[str, Form(examples=["1"])] = "",
    consent: Annotated[str, Form(examples=["1"])] = "",
):
    """Record the walk-in applicant at the window (present, identity checked; lookups
    authorized or not), check their ID, and open their form."""
    try:
        if not matter:  # the drop-down's 请选择: a choice, not an unknown matter
            raise InvalidInput("matter", "请选择办理事项", "Choose the matter")
        applicant, _visit = frontdesk.open_visit(
            session,
            rt,
            clerk=user,
            id_number=id_number,
            matter=matter,
            present=bool(present),
            consented=bool(consent),
        )
    except InvalidInput as exc:
        return render(
            request,
            "frontdesk/start.html",
            status_code=422,
            matters=published_matters(session, rt),
            errors=exc.fields,
            id_number=id_number,
            matter=matter,
        )
    return RedirectResponse(f"/frontdesk/apply/{matter}/{applicant.id}", status_code=303)


@router.get("/apply/{matter}/{applicant_id}")
@twin("GET /api/v1/frontdesk/visits/{applicant_id}/{matter}/form")
def form_page(
    request: Request,
    matter: Code,
    applicant_id: Id,
    user: ClerkUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """The applicant's form, for the clerk who recorded them at the window."""
    found = frontdesk.walk_in_form(
        session, rt, clerk=user, applicant_id=applicant_id, matter=matter
    )
    return render(
        request,
        "citizen/apply.html",
        form=found.form,
        errors={},
        manual=not found.visit.consented,
        drafts=found.drafts,
        action=f"/frontdesk/apply/{matter}/{found.applicant.id}",
        applicant=found.applicant,
    )


@router.post("/apply/{matter}/{applicant_id}", dependencies=[CsrfChecked])
@twin(
    "POST /api/v1/frontdesk/visits/{applicant_id}/{matter}/uploads",
    "POST /api/v1/frontdesk/visits/{applicant_id}/{matter}/form",
    "POST /api/v1/frontdesk/visits/{applicant_id}/{matter}/application",
)
@body_limit(material_forms)
@answers(200, 303, 409, 503)
async def accept(
    request: Request,
    matter: Code,
    applicant_id: Id,
    user: ClerkUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """Accept the application (一窗受理) with the scanned paper materials; print the receipt."""
    posted = await application_form.read_posted(request, rt)
    return await run_in_threadpool(
        _accept, request, session, rt, user, matter, applicant_id, posted
    )


def _accept(request, session, rt, user, matter: str, applicant_id: int, posted, preview=False):
    applicant, visit = frontdesk.current_visit(
        session, clerk=user, applicant_id=applicant_id, matter=matter
    )
    poster = dict(
        applicant=applicant, actor=user, matter=matter, posted=posted, consented=visit.consented
    )
    if preview:
        return application_form.preview(request, session, rt, **poster)
    return application_form.submit(
        request,
        session,
        rt,
        done=lambda case: RedirectResponse(f"/frontdesk/receipts/{case.id}", status_code=303),
        action=f"/frontdesk/apply/{matter}/{applicant.id}",
        **poster,
    )


@router.post("/apply/{matter}/{applicant_id}/preview", dependencies=[CsrfChecked])
@twin("POST /api/v1/frontdesk/visits/{applicant_id}/{matter}/form")
async def preview(
    request: Request,
    matter: Code,
    applicant_id: Id,
    user: ClerkUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """The parts of the walk-in applicant's form that depend on the answers so far (an HTML
    fragment for the page's live update; nothing is submitted or kept)."""
    posted = await application_form.read_posted(request, rt)
    return await run_in_threadpool(
        _accept, request, session, rt, user, matter, applicant_id, posted, True
    )


@router.get("/receipts/{case_id}")
@twin("GET /api/v1/frontdesk/receipts/{case_id}")
def receipt(request: Request, case_id: Id, user: ClerkUser, session: SessionDep, rt: RuntimeDep):
    """The printable acceptance receipt (受理回执), with what the applicant does next."""
    found = frontdesk.acceptance_receipt(session, rt, clerk=user, case_id=case_id)
    path = case_path(session, rt, case=found.case, for_applicant=False)
    return render(
        request,
        "frontdesk/receipt.html",
        receipt=found,
        next_steps=confirmation.next_steps(rt, found.case, path),
    )
