"""Pages for citizens: the matters, the combined form, my cases, a case's progress and results.
Each page calls the service functions its API twin calls (named by `twin`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from services.accounts.service import actor_names
from services.cases import access, confirmation, corrections, drafts, progress, submission
from services.cases.overview import applicant_overview
from services.cases.results import certificate_for, results_archive
from services.configuration.matters import published_matters
from services.errors import InvalidInput
from services.evaluations.service import REASONS
from services.registries.service import accesses_to
from web import application_form
from web.api.cases import BINARY, archive_response, certificate_response
from web.api.routing import twin
from web.api.sessions import cookie_flags
from web.api.uploads import upload_response
from web.deps import (
    CitizenUser,
    Code,
    CsrfChecked,
    CurrentUser,
    Id,
    LoginDep,
    RuntimeDep,
    SessionDep,
)
from web.limits import body_limit, material_forms
from web.openapi import answers
from web.rendering import render

router = APIRouter(tags=["pages: citizen"], default_response_class=HTMLResponse)


@router.get("/")
@twin("GET /api/v1/matters")
@answers(303)
def home(request: Request, login: LoginDep, session: SessionDep, rt: RuntimeDep):
    if login is not None and login[0].role == "clerk":
        return RedirectResponse("/clerk", status_code=303)
    matters = published_matters(session, rt)
    return render(request, "citizen/home.html", matters=matters)


@router.get("/matters/{code}/apply")
@twin(
    "GET /api/v1/matters/{code}/consent",
    "GET /api/v1/matters/{code}/form",
    "GET /api/v1/matters/{code}/draft",
)
def apply_page(
    request: Request,
    code: Code,
    user: CitizenUser,
    session: SessionDep,
    rt: RuntimeDep,
    manual: bool = False,
    draft: Literal["resume", "saved"] | None = None,
):
    """The one form; first, the applicant authorizes the lookups or chooses to fill in everything.
    A saved draft is offered to resume or discard (`draft=resume`: the form with its answers and
    files; `saved`: the same, just saved)."""
    saved = drafts.draft_of(session, rt, user=user, matter_code=code)
    resumed = saved is not None and draft is not None
    manual = manual or (resumed and saved.row.manual)
    asked = submission.consent_request(session, rt, user=user, matter_code=code)
    if asked.consent is None and not manual:
        return render(
            request,
            "citizen/consent.html",
            matter=asked.matter,
            lookups=asked.lookups,
            text=asked.text,
            hours=asked.hours,
        )
    consented = submission.lookups_consented(session, user=user, matter_code=code, manual=manual)
    form = submission.prepare_form(
        session,
        rt,
        user=user,
        matter_code=code,
        consented=consented,
        answers=drafts.resumed_answers(session, rt, saved) if resumed else None,
    )
    return render(
        request,
        "citizen/apply.html",
        form=form,
        errors={},
        manual=manual,
        draft=saved,
        resumed=resumed,
        just_saved=resumed and draft == "saved",
        drafts=saved.files if resumed else {},
    )


@router.post("/matters/{code}/draft/discard", dependencies=[CsrfChecked])
@twin("DELETE /api/v1/matters/{code}/draft")
def discard_draft(
    code: Code,
    user: CitizenUser,
    session: SessionDep,
    rt: RuntimeDep,
    manual: Annotated[str, Form(max_length=1, examples=["1"])] = "",
):
    """Discard the saved draft (and the files kept for it): the form starts empty again (filled
    in by hand still, with `manual`)."""
    drafts.discard_draft(session, rt, user=user, matter_code=code)
    again = "?manual=1" if manual else ""
    return RedirectResponse(f"/matters/{code}/apply{again}", status_code=303)


@router.post("/matters/{code}/consent", dependencies=[CsrfChecked])
@twin("POST /api/v1/matters/{code}/consent")
def consent(code: Code, user: CitizenUser, session: SessionDep, rt: RuntimeDep):
    submission.authorize_lookups(session, rt, user=user, matter_code=code)
    return RedirectResponse(f"/matters/{code}/apply", status_code=303)


@router.post("/matters/{code}/apply", dependencies=[CsrfChecked])
@twin(
    "POST /api/v1/cases",
    "POST /api/v1/matters/{code}/form",
    "POST /api/v1/uploads",
    "PUT /api/v1/matters/{code}/draft",
)
@body_limit(material_forms)
@answers(200, 303, 409, 503)
async def apply(
    request: Request, code: Code, user: CitizenUser, session: SessionDep, rt: RuntimeDep
):
    """Submit the one form (or, for "update the form", show it again for the answers; for
    保存草稿, save it as the citizen's draft)."""
    posted = await application_form.read_posted(request, rt)
    return await run_in_threadpool(_apply, request, session, rt, user, code, posted)


def _apply(request, session, rt, user, code: str, posted: application_form.Posted, preview=False):
    poster = dict(
        applicant=user,
        actor=None,
        matter=code,
        posted=posted,
        consented=submission.lookups_consented(
            session, user=user, matter_code=code, manual=posted.manual
        ),
    )
    if preview:
        return application_form.preview(request, session, rt, **poster)
    return application_form.submit(
        request, session, rt, done=lambda case: _submitted(rt, case), **poster
    )


@router.post("/matters/{code}/apply/preview", dependencies=[CsrfChecked])
@twin("POST /api/v1/matters/{code}/form")
async def apply_preview(
    request: Request, code: Code, user: CitizenUser, session: SessionDep, rt: RuntimeDep
):
    """The parts of the form that depend on the answers, for the answers so far (an HTML
    fragment for the page's live update; nothing is submitted or kept)."""
    posted = await application_form.read_posted(request, rt)
    return await run_in_threadpool(_apply, request, session, rt, user, code, posted, True)


@router.get("/cases")
@twin("GET /api/v1/cases")
def my_cases(request: Request, user: CitizenUser, session: SessionDep):
    return render(request, "citizen/cases.html", cases=progress.cases_of(session, user=user))


# Set on the redirect after a submission, for the case page it goes to: shown once, that page
# begins with the confirmation (the case number, each item's department and due date, what
# happens next). A cookie, so the page keeps the address every link and the API use.
SUBMITTED_COOKIE = "onething_submitted"


def _submitted(rt, case) -> Response:
    """Go to the new case's page, which shows the confirmation this once (PRG)."""
    response = RedirectResponse(f"/cases/{case.id}", status_code=303)
    flags = {**cookie_flags(rt), "path": f"/cases/{case.id}"}
    response.set_cookie(SUBMITTED_COOKIE, str(case.id), max_age=600, **flags)
    return response


def _case_page(
    request, session, rt, user, case_id: int, errors=None, status_code=200, submitted=False
):
    overview = applicant_overview(session, rt, user=user, case_id=case_id)
    confirmed = {}
    if submitted:
        confirmed = dict(
            confirmation_path=overview.path,
            next_steps=confirmation.next_steps(rt, overview.case, overview.path),
        )
    response = render(
        request,
        "citizen/submitted.html" if submitted else "citizen/case.html",
        status_code=status_code,
        case=overview.case,
        items=overview.items,
        case_path=overview.path,
        events=overview.events,
        uploads=overview.uploads,
        delivery=overview.delivery,
        corrections=overview.corrections,
        correction_errors=errors or {},
        evaluation=overview.evaluation,
        reasons=REASONS,
        **confirmed,
    )
    if submitted:
        response.delete_cookie(
            SUBMITTED_COOKIE, **{**cookie_flags(rt), "path": f"/cases/{case_id}"}
        )
    return response


@router.get("/cases/{case_id}")
@twin("GET /api/v1/cases/{case_id}")
def case_page(
    request: Request, case_id: Id, user: CurrentUser, session: SessionDep, rt: RuntimeDep
):
    """The applicant's case. A clerk (from a link in a notice or a follow-up) is taken to
    their own department's item of it, the view their duty needs (logged there)."""
    if user.role == "clerk":
        case = access.load_case_progress(session, case_id=case_id, user=user)
        mine = access.own_items(session, case=case, department=user.department)
        return RedirectResponse(f"/clerk/items/{mine[0].id}", status_code=303)
    submitted = request.cookies.get(SUBMITTED_COOKIE) == str(case_id)
    return _case_page(request, session, rt, user, case_id, submitted=submitted)


@router.post("/cases/{case_id}/items/{item_id}/correction", dependencies=[CsrfChecked])
@twin("POST /api/v1/cases/{case_id}/items/{item_id}/correction", "POST /api/v1/uploads")
@body_limit(material_forms)
@answers(409, 503)
async def correct(
    request: Request,
    case_id: Id,
    item_id: Id,
    user: CitizenUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """The applicant sends back what a department reopened; only that department resumes."""
    posted = await application_form.read_posted(request, rt)
    return await run_in_threadpool(_correct, request, session, rt, user, case_id, item_id, posted)


def _correct(request, session, rt, user, case_id: int, item_id: int, posted):
    try:
        corrections.submit_correction(
            session,
            rt,
            user=user,
            case_id=case_id,
            item_id=item_id,
            answers={k: v for k, v in posted.answers.items() if k != "correction_note"},
            uploads=posted.uploads,
            drafts=posted.drafts,
            note=posted.answers.get("correction_note", ""),
        )
    except InvalidInput as exc:
        return _case_page(request, session, rt, user, case_id, {item_id: exc.fields}, 422)
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.get(
    "/cases/{case_id}/items/{item_id}/result",
    response_class=Response,
    responses={200: {"content": {"application/pdf": BINARY}}},
)
@twin("GET /api/v1/cases/{case_id}/items/{item_id}/certificate")
def download_result(
    case_id: Id, item_id: Id, user: CurrentUser, session: SessionDep, rt: RuntimeDep
):
    """An approved item's signed electronic certificate (PDF): the applicant's, or a clerk's of
    their own department's item."""
    case = access.result_case(session, case_id=case_id, item_id=item_id, user=user)
    return certificate_response(rt, certificate_for(session, rt, case=case, item_id=item_id))


@router.get(
    "/cases/{case_id}/results.zip",
    response_class=Response,
    responses={200: {"content": {"application/zip": BINARY}}},
)
@twin("GET /api/v1/cases/{case_id}/results.zip")
def download_results(case_id: Id, user: CurrentUser, session: SessionDep, rt: RuntimeDep):
    """Every result of the case in one archive."""
    case = access.load_case(session, case_id=case_id, user=user)
    return archive_response(rt, case, results_archive(session, rt, case=case))


@router.get(
    "/uploads/{upload_id}",
    response_class=Response,
    responses={200: {"content": {"application/pdf": BINARY, "image/*": BINARY}}},
)
@twin("GET /api/v1/uploads/{upload_id}")
def view_upload(upload_id: Id, user: CurrentUser, session: SessionDep, rt: RuntimeDep):
    """An uploaded material, shown in the browser to the applicant and to the clerks whose item
    needs it."""
    return upload_response(*access.open_upload(session, rt, user=user, upload_id=upload_id))


@router.get("/my-data-access")
@twin("GET /api/v1/me/data-access")
def data_access(request: Request, user: CitizenUser, session: SessionDep):
    """Every read of the citizen's records: registry lookups and clerks opening their cases."""
    accesses = accesses_to(session, id_number=user.id_number)
    return render(
        request,
        "citizen/data_access.html",
        accesses=accesses,
        actors=actor_names(session, accesses),
    )
