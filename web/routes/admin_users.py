"""Administrators manage staff accounts and roles: the list, create, edit, disable and enable,
password resets, and each account's change history (the JSON twins: web/api/admin_users.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services.accounts import admin as accounts_admin
from services.accounts.models import User
from services.accounts.service import actor_names
from services.cases.schemas import ID_MAX
from services.errors import Conflict, Forbidden, InvalidInput
from web.api.admin_users import UserId
from web.api.routing import twin
from web.deps import AdminUser, CsrfChecked, RuntimeDep, SessionDep
from web.openapi import answers
from web.rendering import render

router = APIRouter(prefix="/admin/config/users", tags=["pages: admin"])
API = "/api/v1/admin/config/users"


def _form_page(request, *, account: User | None, values: dict, error=None):
    """The create (no `account`) or edit form, with the field errors of `error`."""
    return render(
        request,
        "admin/user_form.html",
        status_code=error.status if error else 200,
        account=account,
        values=values,
        error=error,
        errors=error.fields if isinstance(error, InvalidInput) else {},
        roles=accounts_admin.STAFF_ROLES,
        role_labels=accounts_admin.ROLE_LABELS,
        policy=accounts_admin.PASSWORD_POLICY,
    )


def _user_page(
    request,
    session,
    *,
    account: User,
    password: str | None = None,
    error=None,
    notice: str = "",
):
    """An account with its change history; `password` is shown once, never stored."""
    changes = accounts_admin.changes_of(session, user_id=account.id)
    response = render(
        request,
        "admin/user.html",
        status_code=error.status if error else 200,
        account=account,
        changes=changes,
        actors=actor_names(session, changes),
        password=password,
        error=error,
        notice=notice or request.query_params.get("notice", ""),
        staff=account.role in accounts_admin.STAFF_ROLES,
        role_labels=accounts_admin.ROLE_LABELS,
    )
    if password:
        response.headers["Cache-Control"] = "no-store"
    return response


@router.get("", response_class=HTMLResponse)
@twin(f"GET {API}")
def user_list(
    request: Request,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
    role: str = "staff",
    department: str = "",
    status: str = "",
    search: str = "",
    page: Annotated[int, Query(le=ID_MAX)] = 1,
):
    wanted = accounts_admin.UserFilter(
        role=role, department=department, status=status, search=search, page=page
    )
    error = None
    try:
        wanted = accounts_admin.normalize_filter(wanted, departments=rt.catalog.departments)
        found = accounts_admin.list_users(session, filter=wanted)
    except InvalidInput as exc:
        error, found = exc, accounts_admin.UserPage(rows=[], total=0, filter=wanted)
    return render(
        request,
        "admin/users.html",
        status_code=error.status if error else 200,
        error=error,
        found=found,
        role_labels=accounts_admin.ROLE_LABELS,
        role_filters=accounts_admin.ROLE_FILTERS,
    )


@router.get("/new", response_class=HTMLResponse)
@twin(f"POST {API}")
def new_user(request: Request, user: AdminUser):
    return _form_page(request, account=None, values={"role": "clerk"})


@router.post("", dependencies=[CsrfChecked], response_class=HTMLResponse)
@twin(f"POST {API}")
@answers(409, 422)
def create_user(
    request: Request,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
    username: Annotated[str, Form(examples=["police02"])] = "",
    display_name: Annotated[str, Form(examples=["李明"])] = "",
    role: Annotated[str, Form(examples=["clerk"])] = "",
    department: Annotated[str, Form(examples=["police"])] = "",
    supervisor: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
):
    """Create a staff account; a generated password is shown on the answer, once."""
    try:
        account, generated = accounts_admin.create_staff(
            session,
            actor=user,
            departments=rt.catalog.departments,
            username=username,
            display_name=display_name,
            role=role,
            department=department,
            supervisor=bool(supervisor),
            password=password,
        )
    except (InvalidInput, Conflict) as exc:
        values = {
            "username": username,
            "display_name": display_name,
            "role": role,
            "department": department,
            "supervisor": bool(supervisor),
        }
        return _form_page(request, account=None, values=values, error=exc)
    if generated:
        return _user_page(request, session, account=account, password=generated, notice="created")
    return RedirectResponse(f"/admin/config/users/{account.id}?notice=created", status_code=303)


@router.get("/{user_id}", response_class=HTMLResponse)
@twin(f"GET {API}/{{user_id}}")
def user_page(request: Request, user_id: UserId, user: AdminUser, session: SessionDep):
    account = accounts_admin.get_user(session, user_id=user_id)
    return _user_page(request, session, account=account)


@router.get("/{user_id}/edit", response_class=HTMLResponse)
@twin(f"GET {API}/{{user_id}}", f"POST {API}/{{user_id}}")
def edit_user(request: Request, user_id: UserId, user: AdminUser, session: SessionDep):
    account = accounts_admin.get_user(session, user_id=user_id)
    if account.role not in accounts_admin.STAFF_ROLES:
        return _user_page(request, session, account=account)
    values = {
        "display_name": account.display_name,
        "role": account.role,
        "department": account.department or "",
        "supervisor": account.supervisor,
    }
    return _form_page(request, account=account, values=values)


@router.post("/{user_id}/edit", dependencies=[CsrfChecked], response_class=HTMLResponse)
@twin(f"POST {API}/{{user_id}}")
@answers(409)
def update_user(
    request: Request,
    user_id: UserId,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
    display_name: Annotated[str, Form(examples=["李明"])] = "",
    role: Annotated[str, Form(examples=["clerk"])] = "",
    department: Annotated[str, Form(examples=["police"])] = "",
    supervisor: Annotated[str, Form()] = "",
):
    try:
        account = accounts_admin.update_staff(
            session,
            actor=user,
            departments=rt.catalog.departments,
            user_id=user_id,
            display_name=display_name,
            role=role,
            department=department,
            supervisor=bool(supervisor),
        )
    except (InvalidInput, Conflict, Forbidden) as exc:
        session.rollback()
        account = accounts_admin.get_user(session, user_id=user_id)
        values = {
            "display_name": display_name,
            "role": role,
            "department": department,
            "supervisor": bool(supervisor),
        }
        return _form_page(request, account=account, values=values, error=exc)
    return RedirectResponse(f"/admin/config/users/{user_id}?notice=updated", status_code=303)


def _set_active(request: Request, session, user: User, user_id: int, active: bool):
    try:
        account = accounts_admin.set_active(session, actor=user, user_id=user_id, active=active)
    except (Conflict, Forbidden) as exc:
        session.rollback()
        account = accounts_admin.get_user(session, user_id=user_id)
        return _user_page(request, session, account=account, error=exc)
    notice = "enabled" if active else "disabled"
    return RedirectResponse(f"/admin/config/users/{user_id}?notice={notice}", status_code=303)


@router.post("/{user_id}/disable", dependencies=[CsrfChecked], response_class=HTMLResponse)
@twin(f"POST {API}/{{user_id}}/disable")
@answers(409)
def disable_user(request: Request, user_id: UserId, user: AdminUser, session: SessionDep):
    """Disable an account: it cannot sign in, and its open sessions end now."""
    return _set_active(request, session, user, user_id, active=False)


@router.post("/{user_id}/enable", dependencies=[CsrfChecked], response_class=HTMLResponse)
@twin(f"POST {API}/{{user_id}}/enable")
@answers(409)
def enable_user(request: Request, user_id: UserId, user: AdminUser, session: SessionDep):
    return _set_active(request, session, user, user_id, active=True)


@router.post("/{user_id}/password", dependencies=[CsrfChecked], response_class=HTMLResponse)
@twin(f"POST {API}/{{user_id}}/password")
def reset_password(request: Request, user_id: UserId, user: AdminUser, session: SessionDep):
    """A new generated password, shown once on the answer; the account's sessions end."""
    account, password = accounts_admin.reset_password(session, actor=user, user_id=user_id)
    return _user_page(request, session, account=account, password=password, notice="reset")
