"""The front desk (综合窗口): one window accepts a walk-in applicant's whole matter."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from starlette.datastructures import UploadFile

from forms.compiler import lookups_of
from services.accounts.models import User
from services.cases import submission
from services.cases.frontdesk import acceptance_receipt, require_front_desk, walk_in_applicant
from services.cases.uploads import UploadedFile
from services.configuration.matters import effective_matter, published_matters
from services.errors import InvalidInput, NotFound
from services.registries.service import grant_consent
from web.deps import ClerkUser, CsrfChecked, Id, RuntimeDep, SessionDep
from web.limits import body_limit, material_forms
from web.rendering import render

router = APIRouter(prefix="/frontdesk", tags=["pages: front desk"])


@router.get("")
def start(request: Request, user: ClerkUser, session: SessionDep, rt: RuntimeDep):
    require_front_desk(user)
    matters = published_matters(session, rt)
    return render(request, "frontdesk/start.html", matters=matters, errors={})


@router.post("", dependencies=[CsrfChecked])
def open_applicant(
    request: Request,
    user: ClerkUser,
    session: SessionDep,
    rt: RuntimeDep,
    id_number: Annotated[str, Form()] = "",
    matter: Annotated[str, Form()] = "",
    consent: Annotated[str, Form()] = "",
):
    """Check the walk-in applicant's ID (and open their account if needed)."""
    require_front_desk(user)
    offered = effective_matter(session, rt, matter)  # 404 for an unknown matter
    if not offered.published:
        raise NotFound("没有这项“一件事”服务", f"No matter {matter!r}")
    try:
        applicant = walk_in_applicant(session, rt, clerk=user, id_number=id_number)
    except InvalidInput as exc:
        return render(
            request,
            "frontdesk/start.html",
            status_code=422,
            matters=published_matters(session, rt),
            errors=exc.fields,
            id_number=id_number,
        )
    if consent:
        registries = list(lookups_of(rt.catalog, offered))
        grant_consent(session, user_id=applicant.id, matter=matter, registries=registries)
        session.commit()
    query = "" if consent else "?manual=1"
    return RedirectResponse(f"/frontdesk/apply/{matter}/{applicant.id}{query}", status_code=303)


def _applicant(session, applicant_id: int) -> User:
    applicant = session.get(User, applicant_id)
    if applicant is None or applicant.role != "citizen":
        raise NotFound("申请人不存在", "No such applicant")
    return applicant


@router.get("/apply/{matter}/{applicant_id}")
def form_page(
    request: Request,
    matter: str,
    applicant_id: Id,
    user: ClerkUser,
    session: SessionDep,
    rt: RuntimeDep,
    manual: bool = False,
):
    require_front_desk(user)
    applicant = _applicant(session, applicant_id)
    form = submission.prepare_form(
        session, rt, user=applicant, matter_code=matter, consented=not manual, actor=user
    )
    return render(
        request,
        "citizen/apply.html",
        form=form,
        errors={},
        manual=manual,
        action=f"/frontdesk/apply/{matter}/{applicant.id}",
        applicant=applicant,
    )


@router.post("/apply/{matter}/{applicant_id}", dependencies=[CsrfChecked])
@body_limit(material_forms)
async def accept(
    request: Request,
    matter: str,
    applicant_id: Id,
    user: ClerkUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """Accept the application (一窗受理) with the scanned paper materials; print the receipt."""
    require_front_desk(user)
    applicant = _applicant(session, applicant_id)
    submitted = await request.form()
    manual = submitted.get("manual") == "1"
    skip = ("csrf_token", "refresh", "manual")
    answers = {k: v for k, v in submitted.items() if isinstance(v, str) and k not in skip}
    uploads = []
    for key, value in submitted.multi_items():
        if key.startswith("material_") and isinstance(value, UploadFile) and value.filename:
            content = await value.read(rt.settings.upload_limit_bytes + 1)
            uploads.append(UploadedFile(key.removeprefix("material_"), value.filename, content))
    options = dict(user=applicant, matter_code=matter, consented=not manual, actor=user)
    if submitted.get("refresh"):
        form = submission.prepare_form(session, rt, answers=answers, **options)
        return render(
            request,
            "citizen/apply.html",
            form=form,
            errors={},
            manual=manual,
            action=f"/frontdesk/apply/{matter}/{applicant.id}",
            applicant=applicant,
        )
    try:
        case = submission.submit_application(
            session, rt, answers=answers, uploads=uploads, channel="window", **options
        )
    except InvalidInput as exc:
        form = submission.prepare_form(session, rt, answers=answers, **options)
        return render(
            request,
            "citizen/apply.html",
            status_code=422,
            form=form,
            errors=exc.fields,
            manual=manual,
            action=f"/frontdesk/apply/{matter}/{applicant.id}",
            applicant=applicant,
        )
    return RedirectResponse(f"/frontdesk/receipts/{case.id}", status_code=303)


@router.get("/receipts/{case_id}")
def receipt(request: Request, case_id: Id, user: ClerkUser, session: SessionDep, rt: RuntimeDep):
    """The printable acceptance receipt (受理回执)."""
    return render(
        request,
        "frontdesk/receipt.html",
        receipt=acceptance_receipt(session, rt, clerk=user, case_id=case_id),
    )
