"""Pages for citizens: the matters, the combined form, my cases, a case's progress and results."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from forms.compiler import lookups_of
from services.accounts.service import actor_names
from services.cases import access, corrections, progress, submission
from services.cases.results import certificate_for, delivery_of, results_archive
from services.cases.uploads import uploads_of
from services.configuration.matters import effective_matter, published_matters
from services.errors import InvalidInput, NotFound
from services.evaluations.service import REASONS, evaluation_of
from services.registries.service import accesses_to, current_consent, grant_consent
from web import application_form
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
from web.rendering import render

router = APIRouter(tags=["pages: citizen"])


@router.get("/")
def home(request: Request, login: LoginDep, session: SessionDep, rt: RuntimeDep):
    if login is not None and login[0].role == "clerk":
        return RedirectResponse("/clerk", status_code=303)
    matters = published_matters(session, rt)
    return render(request, "citizen/home.html", matters=matters)


def _consented(session, user, code: str, manual: bool) -> bool:
    return not manual and current_consent(session, user_id=user.id, matter=code) is not None


@router.get("/matters/{code}/apply")
def apply_page(
    request: Request,
    code: Code,
    user: CitizenUser,
    session: SessionDep,
    rt: RuntimeDep,
    manual: bool = False,
):
    """The one form; first, the applicant authorizes the lookups or chooses to fill in everything."""
    matter = effective_matter(session, rt, code)
    if not matter.published:
        raise NotFound("没有这项“一件事”服务", f"No matter {code!r}")
    consented = _consented(session, user, code, manual)
    if not consented and not manual:
        return render(
            request, "citizen/consent.html", matter=matter, lookups=lookups_of(rt.catalog, matter)
        )
    form = submission.prepare_form(session, rt, user=user, matter_code=code, consented=consented)
    return render(request, "citizen/apply.html", form=form, errors={}, manual=manual)


@router.post("/matters/{code}/consent", dependencies=[CsrfChecked])
def consent(code: Code, user: CitizenUser, session: SessionDep, rt: RuntimeDep):
    matter = effective_matter(session, rt, code)
    registries = list(lookups_of(rt.catalog, matter))
    grant_consent(session, user_id=user.id, matter=code, registries=registries)
    session.commit()
    return RedirectResponse(f"/matters/{code}/apply", status_code=303)


@router.post("/matters/{code}/apply", dependencies=[CsrfChecked])
@body_limit(material_forms)
async def apply(
    request: Request, code: Code, user: CitizenUser, session: SessionDep, rt: RuntimeDep
):
    """Submit the one form (or, for "update the form", show it again for the answers)."""
    posted = await application_form.read_posted(request, rt)
    return await run_in_threadpool(_apply, request, session, rt, user, code, posted)


def _apply(request, session, rt, user, code: str, posted: application_form.Posted):
    return application_form.submit(
        request,
        session,
        rt,
        applicant=user,
        actor=None,
        matter=code,
        posted=posted,
        consented=_consented(session, user, code, posted.manual),
        done=lambda case: f"/cases/{case.id}",
    )


@router.get("/cases")
def my_cases(request: Request, user: CitizenUser, session: SessionDep):
    return render(request, "citizen/cases.html", cases=progress.cases_of(session, user=user))


def _case_page(request, session, rt, user, case, errors=None, status_code=200):
    items = progress.item_views(session, rt, case)
    forms = {}
    if user.role == "citizen":
        forms = {
            view.row.id: corrections.correction_form(rt, case=case, row=view.row)
            for view in items
            if view.status == "correction" and view.row
        }
    return render(
        request,
        "citizen/case.html",
        status_code=status_code,
        case=case,
        items=items,
        events=progress.events_of(session, case=case, for_applicant=user.role == "citizen"),
        uploads=uploads_of(session, case=case),
        delivery=delivery_of(session, case=case),
        corrections=forms,
        correction_errors=errors or {},
        evaluation=evaluation_of(session, case=case),
        reasons=REASONS,
    )


@router.get("/cases/{case_id}")
def case_page(
    request: Request, case_id: Id, user: CurrentUser, session: SessionDep, rt: RuntimeDep
):
    """The applicant's case. A clerk (from a link in a notice or a follow-up) is taken to
    their own department's item of it, the view their duty needs (logged there)."""
    if user.role == "clerk":
        case = access.load_case_progress(session, case_id=case_id, user=user)
        mine = access.own_items(session, case=case, department=user.department)
        return RedirectResponse(f"/clerk/items/{mine[0].id}", status_code=303)
    case = access.load_case(session, case_id=case_id, user=user)
    return _case_page(request, session, rt, user, case)


@router.post("/cases/{case_id}/items/{item_id}/correction", dependencies=[CsrfChecked])
@body_limit(material_forms)
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
            answers=posted.answers,
            uploads=posted.uploads,
        )
    except InvalidInput as exc:
        case = access.load_case(session, case_id=case_id, user=user)
        return _case_page(request, session, rt, user, case, {item_id: exc.fields}, 422)
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.get("/cases/{case_id}/items/{item_id}/result")
def download_result(
    case_id: Id, item_id: Id, user: CurrentUser, session: SessionDep, rt: RuntimeDep
):
    """An approved item's signed electronic certificate (PDF): the applicant's, or a clerk's of
    their own department's item."""
    case = access.result_case(session, case_id=case_id, item_id=item_id, user=user)
    certificate = certificate_for(session, rt, case=case, item_id=item_id)
    return Response(
        certificate.pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{certificate.number}.pdf"'},
    )


@router.get("/cases/{case_id}/results.zip")
def download_results(case_id: Id, user: CurrentUser, session: SessionDep, rt: RuntimeDep):
    """Every result of the case in one archive."""
    case = access.load_case(session, case_id=case_id, user=user)
    return Response(
        results_archive(session, rt, case=case),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{case.number}.zip"'},
    )


@router.get("/uploads/{upload_id}")
def view_upload(upload_id: Id, user: CurrentUser, session: SessionDep, rt: RuntimeDep):
    """An uploaded material, shown in the browser to the applicant and to the clerks whose item
    needs it."""
    upload, content = access.open_upload(session, rt, user=user, upload_id=upload_id)
    return Response(
        content,
        media_type=upload.content_type,
        headers={
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(upload.filename)}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'",
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/my-data-access")
def data_access(request: Request, user: CitizenUser, session: SessionDep):
    """Every read of the citizen's records: registry lookups and clerks opening their cases."""
    accesses = accesses_to(session, id_number=user.id_number)
    return render(
        request,
        "citizen/data_access.html",
        accesses=accesses,
        actors=actor_names(session, accesses),
    )
