"""Administrators configure the matters: publication on and off, which items a matter routes
(the catalog's, plus those its deployed process adds) and when each item applies (the JSON
twins: web/api/admin_matters.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services.accounts.service import actor_names
from services.cases.schemas import NO_NUL
from services.configuration import matters as config
from services.errors import InvalidInput
from web.api.routing import twin
from web.deps import AdminUser, Code, CsrfChecked, RuntimeDep, SessionDep
from web.rendering import render

router = APIRouter(prefix="/admin/config/matters", tags=["pages: admin"])


@router.get("", response_class=HTMLResponse)
@twin("GET /api/v1/admin/config/matters")
def matter_list(request: Request, user: AdminUser, session: SessionDep, rt: RuntimeDep):
    return render(request, "admin/config_matters.html", rows=config.matter_rows(session, rt))


def _page(
    request, session, rt, code: str, *, error: InvalidInput | None = None, status=200, typed=None
):
    found = config.matter_settings(session, rt, code)
    return render(
        request,
        "admin/config_matter.html",
        status_code=status,
        matter=found.matter,
        catalog_published=found.catalog_published,
        items=found.items,
        history=found.history,
        authors=actor_names(session, found.history, column="user_id"),
        version=found.version,
        error=error,
        errors=error.fields if error else {},
        typed=typed or {},
    )


@router.get("/{code}", response_class=HTMLResponse)
@twin("GET /api/v1/admin/config/matters/{code}")
def matter_page(request: Request, code: Code, user: AdminUser, session: SessionDep, rt: RuntimeDep):
    return _page(request, session, rt, code)


@router.post("/{code}/publication", dependencies=[CsrfChecked], response_class=HTMLResponse)
@twin("POST /api/v1/admin/config/matters/{code}/publication")
def publication(
    request: Request,
    code: Code,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
    published: Annotated[str, Form(examples=["1"])] = "",
):
    try:
        config.set_published(session, rt, user=user, code=code, published=published == "1")
    except InvalidInput as exc:
        session.rollback()
        return _page(request, session, rt, code, error=exc, status=422)
    return RedirectResponse(f"/admin/config/matters/{code}?saved=publication", status_code=303)


@router.post(
    "/{code}/items/{item_code}/condition", dependencies=[CsrfChecked], response_class=HTMLResponse
)
@twin("POST /api/v1/admin/config/matters/{code}/items/{item_code}/condition")
def condition(
    request: Request,
    code: Code,
    item_code: Code,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
    condition: Annotated[
        str, Form(max_length=2000, pattern=NO_NUL, examples=["household_parent == 'father'"])
    ] = "",
    restore: Annotated[str, Form()] = "",
):
    """Set when the item applies ("" = always), or restore the catalog's condition."""
    try:
        config.set_condition(
            session,
            rt,
            user=user,
            code=code,
            item_code=item_code,
            condition=None if restore else condition,
        )
    except InvalidInput as exc:
        session.rollback()
        return _page(
            request, session, rt, code, error=exc, status=422, typed={item_code: condition}
        )
    return RedirectResponse(
        f"/admin/config/matters/{code}?saved={item_code}#item-{item_code}", status_code=303
    )
