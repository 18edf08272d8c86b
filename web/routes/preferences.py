"""A visitor's display preferences: the elderly-friendly mode (长辈版), switched on or off with
one button in every page's header and kept in the browser for a year."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse

from web.deps import CsrfChecked
from web.i18n import ELDERLY_COOKIE, PREFERENCE_SECONDS

router = APIRouter(include_in_schema=False)


def _back(target: str) -> str:
    """A page of this site to return to (never another site's address)."""
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


@router.post("/preferences/elderly", dependencies=[CsrfChecked])
def switch_elderly_mode(
    on: Annotated[bool, Form()] = False,
    back: Annotated[str, Form(max_length=2000)] = "/",
):
    """Switch the elderly-friendly mode on or off and return to the page the button was on.
    A page-only preference: the API has no display to change (docs/api.md)."""
    response = RedirectResponse(_back(back), status_code=303)
    if on:
        response.set_cookie(
            ELDERLY_COOKIE, "1", max_age=PREFERENCE_SECONDS, samesite="lax", httponly=True
        )
    else:
        response.delete_cookie(ELDERLY_COOKIE, samesite="lax", httponly=True)
    return response
