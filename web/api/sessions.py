"""Signing in over the API: a bearer token for scripts, apps and department systems."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from services.accounts import service as accounts
from services.cases.schemas import ErrorPublic, LoginRequest, LoginResult
from web.api.routing import api_router
from web.client_address import client_address
from web.deps import RuntimeDep, SessionDep

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
