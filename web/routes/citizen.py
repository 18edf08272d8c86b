"""Pages for citizens: the matters, the combined form, my cases, a case's progress and results."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import UploadFile

from services.cases import service as cases
from services.cases.results import result_document
from services.errors import InvalidInput
from services.registries.service import accesses_to
from web.deps import CitizenUser, CsrfChecked, CurrentUser, LoginDep, RuntimeDep, SessionDep
from web.rendering import render

router = APIRouter(tags=["pages: citizen"])


@router.get("/")
def home(request: Request, login: LoginDep, rt: RuntimeDep):
    if login is not None and login[0].role == "clerk":
        return RedirectResponse("/clerk", status_code=303)
    matters = [m for m in rt.catalog.matters.values() if m.published]
    return render(request, "citizen/home.html", matters=matters)


@router.get("/matters/{code}/apply")
def apply_page(request: Request, code: str, user: CitizenUser, session: SessionDep, rt: RuntimeDep):
    form = cases.prepare_form(session, rt, user=user, matter_code=code)
    return render(request, "citizen/apply.html", form=form, errors={})


@router.post("/matters/{code}/apply", dependencies=[CsrfChecked])
async def apply(
    request: Request, code: str, user: CitizenUser, session: SessionDep, rt: RuntimeDep
):
    submitted = await request.form()
    answers = {
        k: v
        for k, v in submitted.items()
        if isinstance(v, str) and k not in ("csrf_token", "refresh")
    }
    if submitted.get("refresh"):
        # "Update the form": apply the answers to conditional sections, store nothing.
        form = cases.prepare_form(session, rt, user=user, matter_code=code, answers=answers)
        return render(request, "citizen/apply.html", form=form, errors={})
    uploads = []
    for key, value in submitted.multi_items():
        if key.startswith("material_") and isinstance(value, UploadFile) and value.filename:
            content = await value.read(rt.settings.upload_limit_bytes + 1)
            uploads.append(
                cases.UploadedFile(key.removeprefix("material_"), value.filename, content)
            )
    try:
        case = cases.submit_application(
            session, rt, user=user, matter_code=code, answers=answers, uploads=uploads
        )
    except InvalidInput as exc:
        form = cases.prepare_form(session, rt, user=user, matter_code=code, answers=answers)
        return render(request, "citizen/apply.html", status_code=422, form=form, errors=exc.fields)
    return RedirectResponse(f"/cases/{case.id}", status_code=303)


@router.get("/cases")
def my_cases(request: Request, user: CitizenUser, session: SessionDep):
    return render(request, "citizen/cases.html", cases=cases.cases_of(session, user=user))


@router.get("/cases/{case_id}")
def case_page(
    request: Request, case_id: int, user: CurrentUser, session: SessionDep, rt: RuntimeDep
):
    case = cases.load_case(session, case_id=case_id, user=user)
    return render(
        request,
        "citizen/case.html",
        case=case,
        items=cases.item_views(session, rt, case),
        events=cases.events_of(session, case=case),
        uploads=cases.uploads_of(session, case=case),
    )


@router.get("/cases/{case_id}/items/{item_id}/result", response_class=HTMLResponse)
def download_result(
    case_id: int, item_id: int, user: CurrentUser, session: SessionDep, rt: RuntimeDep
):
    case = cases.load_case(session, case_id=case_id, user=user)
    name, html = result_document(session, rt, case=case, item_id=item_id)
    return HTMLResponse(html, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/my-data-access")
def data_access(request: Request, user: CitizenUser, session: SessionDep):
    return render(
        request, "citizen/data_access.html", accesses=accesses_to(session, id_number=user.id_number)
    )
