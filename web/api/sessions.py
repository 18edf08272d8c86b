"""Signing in over the API: a bearer token for scripts, apps and department systems."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from services.accounts import service as accounts
from services.cases.schemas import ErrorPublic, LoginRequest, LoginResult
from web.api.routing import api_router
from web.client_address import client_address
from web.deps import COOKIE, CsrfChecked, CurrentUser, RuntimeDep, SessionDep, session_token
from web.openapi import answers

router = api_router(tags=["api: sign-in"])
LOGIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    429: {
        "model": ErrorPublic,
        "description": "Too many failed sign-ins: try again later",
        "headers": {
            "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
        },
    }
}


@router.post("/login", response_model=LoginResult, responses=LOGIN_RESPONSES)
@answers(403)
def login(body: LoginRequest, request: Request, session: SessionDep, rt: RuntimeDep):
    """Sign in and get a bearer token. After too many failed sign-ins for a username, or from
    the client's address, attempts are refused for a while: 429, with Retry-After in seconds."""
    user = accounts.authenticate(
        session, username=body.username, password=body.password, address=client_address(request)
    )
    token, _row = accounts.open_session(session, user=user, hours=rt.settings.session_hours)
    session.commit()
    return LoginResult(
        token=token, role=user.role, department=user.department, display_name=user.display_name
    )


@router.post("/logout", status_code=204, response_class=Response, dependencies=[CsrfChecked])
def logout(request: Request, user: CurrentUser, session: SessionDep, rt: RuntimeDep):
    """End the caller's session: the bearer token sent (or the browser's session cookie) no
    longer signs anyone in."""
    token, bearer = session_token(request, request.headers.get("authorization"))
    if token:
        accounts.close_session(session, token=token)
        session.commit()
    response = Response(status_code=204)
    if not bearer:
        response.delete_cookie(COOKIE, **cookie_flags(rt))
    return response


def cookie_flags(rt) -> dict:
    """The session cookie's flags, the same when it is set and when it is deleted: unreadable by
    scripts, not sent with cross-site posts, only over HTTPS in production, for the whole site."""
    return {"path": "/", "httponly": True, "samesite": "lax", "secure": rt.settings.secure_cookies}
