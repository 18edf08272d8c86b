"""Sign in and out."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services.accounts import service as accounts
from services.accounts import throttle
from services.errors import Forbidden, TooManyRequests
from web.api.routing import twin
from web.api.sessions import cookie_flags
from web.client_address import client_address
from web.deps import COOKIE, CsrfChecked, LoginDep, RuntimeDep, SessionDep
from web.openapi import answers
from web.rendering import render

router = APIRouter(tags=["pages: sign-in"], default_response_class=HTMLResponse)

# The recognised-device cookie: the random tokens this browser was given when it signed in to
# accounts (up to throttle.DEVICE_TOKENS_KEPT, joined by "."). Signing in from it is throttled
# on its own, so others' failed guesses cannot lock its user out (services/accounts/throttle.py).
DEVICE_COOKIE = "onething_device"


def _device_tokens(request: Request) -> list[str]:
    """The browser's recognised-device tokens, as many as are kept and of a token's length."""
    tokens = request.cookies.get(DEVICE_COOKIE, "").split(".")
    return [token for token in tokens[: throttle.DEVICE_TOKENS_KEPT] if 0 < len(token) <= 64]


def _safe_next(target: str | None) -> str:
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


# The sign-in form's CSRF token, before there is a session to hold one: a random value in a
# cookie and in the form, which must match (double submit). A cross-site page cannot read the
# cookie, and the browser does not send it with a cross-site POST (SameSite=Lax): it cannot
# sign a victim's browser in to an account of the attacker's choosing.
LOGIN_CSRF_COOKIE = "onething_login_csrf"


def _login_page(request: Request, rt, *, status_code: int = 200, **context):
    """The sign-in form, with the browser's sign-in CSRF token (a new one if it has none)."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = render(request, "login.html", status_code=status_code, login_csrf=token, **context)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, **{**cookie_flags(rt), "path": "/login"})
    return response


@router.get("/login")
@twin("POST /api/v1/login")
def login_page(request: Request, rt: RuntimeDep, login: LoginDep, next: str | None = None):
    return _login_page(request, rt, next=_safe_next(next))


@router.post("/login")
@twin("POST /api/v1/login")
@answers(401, 403, 429)
def login(
    request: Request,
    session: SessionDep,
    rt: RuntimeDep,
    username: Annotated[str, Form(examples=["31010519940908028X"])] = "",
    password: Annotated[str, Form(examples=["onething123"])] = "",
    next: Annotated[str, Form()] = "/",
    csrf_token: Annotated[str, Form()] = "",
):
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not expected or not secrets.compare_digest(csrf_token.encode(), expected.encode()):
        expired = Forbidden(
            "登录页面已过期，请重新输入密码登录（安全校验未通过）",
            "The sign-in page expired: enter your password again (security token mismatch)",
        )
        return _login_page(
            request, rt, status_code=403, error=expired, username=username, next=next
        )
    try:
        user = accounts.authenticate(
            session,
            username=username,
            password=password,
            address=client_address(request),
            device_tokens=_device_tokens(request),
        )
    except TooManyRequests as exc:
        response = _login_page(
            request, rt, status_code=429, error=exc, username=username, next=next
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except Forbidden as exc:
        return _login_page(request, rt, status_code=401, error=exc, username=username, next=next)
    earlier = request.cookies.get(COOKIE)
    if earlier:  # signing in again, maybe as someone else: the browser's earlier session ends
        accounts.close_session(session, token=earlier)
    token, _row = accounts.open_session(session, user=user, hours=rt.settings.session_hours)
    devices = throttle.remember_device(session, user_id=user.id, tokens=_device_tokens(request))
    session.commit()
    target = _safe_next(next)
    if target == "/" and user.role in ("clerk", "admin"):
        target = f"/{user.role}"
    elif target == "/" and user.role == "operator":
        target = "/operations"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, token, **cookie_flags(rt), max_age=rt.settings.session_hours * 3600)
    response.set_cookie(
        DEVICE_COOKIE,
        ".".join(devices),
        **{**cookie_flags(rt), "path": "/login"},
        max_age=int(throttle.DEVICE_LIFETIME.total_seconds()),
    )
    return response


@router.post("/logout", dependencies=[CsrfChecked])
@twin("POST /api/v1/logout")
def logout(request: Request, session: SessionDep, rt: RuntimeDep):
    token = request.cookies.get(COOKIE)
    if token:
        accounts.close_session(session, token=token)
        session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, **cookie_flags(rt))
    return response
