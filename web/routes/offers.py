"""Pages: offers (issue 22; the JSON twins in web/api/offers.py): what registry events prepared
for the citizen, each confirmed in one step, edited into the ordinary form, or declined."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.exc import SQLAlchemyError

from services.cases.schemas import NO_NUL
from services.errors import InvalidInput
from services.offers import service as offers
from web.api.routing import twin
from web.deps import CitizenUser, CsrfChecked, Id, RuntimeDep, SessionDep
from web.openapi import answers
from web.rendering import render, templates
from web.routes.citizen import _submitted as submitted_page

router = APIRouter(tags=["pages: offers"], default_response_class=HTMLResponse)


def offers_waiting(request: Request, user) -> int | None:
    """The header's count of offers waiting for the signed-in citizen (None for others, or
    when the request has no session or the database cannot answer)."""
    session = getattr(request.state, "db_session", None)
    if user is None or user.role != "citizen" or session is None:
        return None
    try:
        with session.no_autoflush:
            return offers.open_count(session, user=user)
    except SQLAlchemyError:
        return None


templates.env.globals["offers_waiting"] = offers_waiting  # base.html's navigation


@router.get("/offers")
@twin("GET /api/v1/offers")
def offers_page(request: Request, user: CitizenUser, session: SessionDep, rt: RuntimeDep):
    """为您准备的服务: the offers registry events made for the citizen, newest first."""
    views = offers.list_offers(session, rt, user=user)
    return render(request, "offers/list.html", views=views, states=offers.STATES)


def _offer_page(request, session, rt, user, offer_id: int, errors=None, given=None, status=200):
    view = offers.view_offer(session, rt, user=user, offer_id=offer_id)
    asked = list(view.ask)
    known = {f.key for f in asked}
    for key in errors or {}:  # what the registries did not hold, asked now as well
        fact = rt.catalog.facts.get(key)
        if fact is not None and key not in known:
            asked.append(fact)
            known.add(key)
    return render(
        request,
        "offers/offer.html",
        status_code=status,
        view=view,
        asked=asked,
        errors=errors or {},
        given=given or {},
        states=offers.STATES,
        item_states=offers.ITEM_STATES,
    )


@router.get("/offers/{offer_id}")
@twin("GET /api/v1/offers/{offer_id}")
def offer_page(
    request: Request, offer_id: Id, user: CitizenUser, session: SessionDep, rt: RuntimeDep
):
    """One offer: the matter, each item and why, what the event filled in, what is still
    asked, and 确认办理 / 修改后办理 / 不需要."""
    return _offer_page(request, session, rt, user, offer_id)


@router.post("/offers/{offer_id}/confirm", dependencies=[CsrfChecked])
@twin("POST /api/v1/offers/{offer_id}/confirm")
@answers(303, 409, 422, 503)
async def confirm(
    request: Request, offer_id: Id, user: CitizenUser, session: SessionDep, rt: RuntimeDep
):
    """确认办理: consent and submit in one step; the case page follows. A missing answer shows
    the offer again naming it (nothing started)."""
    form = await request.form()
    given = {
        str(key)[:64]: str(value)[:500]
        for key, value in form.multi_items()
        if key != "csrf_token" and isinstance(value, str)
    }
    return await run_in_threadpool(_confirm, request, session, rt, user, offer_id, given)


def _confirm(request, session, rt, user, offer_id: int, given: dict[str, str]):
    try:
        case = offers.confirm_offer(session, rt, user=user, offer_id=offer_id, answers=given)
    except InvalidInput as refused:
        return _offer_page(
            request, session, rt, user, offer_id, errors=refused.fields, given=given, status=422
        )
    return submitted_page(rt, case)


@router.post("/offers/{offer_id}/edit", dependencies=[CsrfChecked])
@twin("GET /api/v1/offers/{offer_id}", "PUT /api/v1/matters/{code}/draft")
@answers(303, 409)
def edit(offer_id: Id, user: CitizenUser, session: SessionDep, rt: RuntimeDep):
    """修改后办理: the offer's answers become the citizen's draft of the ordinary form."""
    matter = offers.edit_offer(session, rt, user=user, offer_id=offer_id)
    return RedirectResponse(f"/matters/{matter}/apply?draft=resume", status_code=303)


@router.post("/offers/{offer_id}/decline", dependencies=[CsrfChecked])
@twin("POST /api/v1/offers/{offer_id}/decline")
@answers(303, 409)
def decline(
    offer_id: Id,
    user: CitizenUser,
    session: SessionDep,
    reason: Annotated[str, Form(max_length=200, pattern=NO_NUL, examples=["已在医院办理"])] = "",
):
    """不需要: decline the offer (an optional reason); nothing is read or started."""
    offers.decline_offer(session, user=user, offer_id=offer_id, reason=reason)
    return RedirectResponse(f"/offers/{offer_id}", status_code=303)
