"""Staff accounts over the API: the list with its filters, one account with its change history,
create, edit, disable, enable and password resets (the pages: web/routes/admin_users.py).

The two operations that answer with a password (create, reset) take no `Idempotency-Key`: a
stored answer would keep the password; a retried reset gives another one, and a retried create
is refused for the username it took."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from forms.values import mask_id
from services import idempotency
from services.accounts import admin as accounts_admin
from services.accounts.models import User
from services.accounts.service import actor_names
from services.cases.schemas import ERROR_RESPONSES, ID_MAX, ErrorPublic
from web.api.admin import too_large
from web.api.routing import api_router
from web.deps import AdminUser, CsrfChecked, RuntimeDep, SessionDep
from web.idempotency import IdempotentRoute
from web.routing import SerializeInThread

PREFIX = "/admin/config/users"
TAGS = ["api: admin"]
router = api_router(prefix=PREFIX, tags=TAGS)


class WithoutReplay(IdempotentRoute):
    """An operation whose answer carries a password: its body is checked as on every API route
    (415), but it takes no Idempotency-Key, as a stored answer would keep the password."""

    def __init__(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        parameters = (self.openapi_extra or {}).get("parameters", [])
        if parameters:
            self.openapi_extra["parameters"] = [
                p for p in parameters if p.get("name") != idempotency.HEADER
            ]

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        return SerializeInThread.get_route_handler(self)


with_password = APIRouter(
    prefix=PREFIX, tags=TAGS, responses=ERROR_RESPONSES, route_class=WithoutReplay
)

UserId = Annotated[int, Path(ge=1, le=ID_MAX)]
TEXT_MAX = 200  # characters of a text field sent (the service checks its own limits)


class AccountPublic(BaseModel):
    """An account as the administrators' list shows it."""

    id: int
    username: str = Field(description="The login name (a citizen's ID number is masked)")
    display_name: str
    role: str = Field(description="citizen, clerk, system (a department's system) or admin")
    role_label: str
    role_label_en: str
    department: str | None = Field(description="The department of a clerk or system")
    supervisor: bool = Field(description="A department's supervisor (clerks only)")
    active: bool = Field(description="false: disabled, cannot sign in")
    created_at: datetime


class AccountChangePublic(BaseModel):
    """One recorded change of an account (never a password: a reset is recorded without one)."""

    at: datetime
    actor_user_id: int
    actor: str | None = Field(description="The administrator's display name")
    action: str = Field(description="created, updated, disabled, enabled or password_reset")
    field: str | None = Field(description="The field changed (null: the action as a whole)")
    old_value: str | None
    new_value: str | None


class AccountDetailPublic(AccountPublic):
    staff: bool = Field(description="A staff account: administrators edit it and reset it")
    history: list[AccountChangePublic] = Field(description="Changes, newest first")


class AccountFilterPublic(BaseModel):
    role: str
    department: str
    status: str
    search: str


class AccountListPublic(BaseModel):
    total: int = Field(description="Accounts matching the filter")
    page: int
    pages: int
    per_page: int
    filter: AccountFilterPublic = Field(description="The filter as applied")
    items: list[AccountPublic] = Field(description="By username")


class CreatedPublic(BaseModel):
    account: AccountDetailPublic
    password: str | None = Field(
        description="The generated password, shown this once (null: the administrator gave one)"
    )


class PasswordPublic(BaseModel):
    account: AccountDetailPublic
    password: str = Field(description="The new password, shown this once; never stored")


ROLE_SCHEMA = {"enum": list(accounts_admin.STAFF_ROLES)}


class AccountCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "username": "police03",
                    "display_name": "王警官",
                    "role": "clerk",
                    "department": "police",
                    "supervisor": False,
                    "password": "",
                }
            ]
        }
    )

    username: str = Field(
        max_length=TEXT_MAX,
        description="3 to 32 lowercase letters, digits or . _ -, starting with a letter",
    )
    display_name: str = Field(max_length=TEXT_MAX, description="At most 64 characters")
    role: str = Field(max_length=TEXT_MAX, json_schema_extra=ROLE_SCHEMA)
    department: str = Field(
        default="",
        max_length=TEXT_MAX,
        description="A department code; required for a clerk or a department's system",
    )
    supervisor: bool = Field(default=False, description="A department's supervisor (clerks)")
    password: str = Field(
        default="",
        max_length=TEXT_MAX,
        description=accounts_admin.PASSWORD_POLICY[1] + "; empty: one is generated and answered",
    )


class AccountUpdate(BaseModel):
    """The fields to change; a field left out (or null) keeps its value."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"department": "cdc", "supervisor": True}, {"display_name": "李娜"}]
        }
    )

    display_name: str | None = Field(default=None, max_length=TEXT_MAX)
    role: str | None = Field(default=None, max_length=TEXT_MAX, json_schema_extra=ROLE_SCHEMA)
    department: str | None = Field(
        default=None, max_length=TEXT_MAX, description='A department code ("" for none)'
    )
    supervisor: bool | None = None


def _account(user: User) -> dict:
    label, label_en = accounts_admin.ROLE_LABELS.get(user.role, (user.role, user.role))
    citizen = user.role == "citizen"
    return {
        "id": user.id,
        "username": mask_id(user.username) if citizen else user.username,
        "display_name": user.display_name,
        "role": user.role,
        "role_label": label,
        "role_label_en": label_en,
        "department": user.department,
        "supervisor": user.supervisor,
        "active": user.active,
        "created_at": user.created_at,
    }


def _detail(session: Session, user: User) -> AccountDetailPublic:
    changes = accounts_admin.changes_of(session, user_id=user.id)
    names = actor_names(session, changes)
    citizen = user.role == "citizen"

    def shown(field: str | None, value: str | None) -> str | None:
        return mask_id(value) if citizen and field == "username" and value else value

    return AccountDetailPublic(
        **_account(user),
        staff=user.role in accounts_admin.STAFF_ROLES,
        history=[
            AccountChangePublic(
                at=c.created_at,
                actor_user_id=c.actor_user_id,
                actor=names.get(c.actor_user_id),
                action=c.action,
                field=c.field,
                old_value=shown(c.field, c.old_value),
                new_value=shown(c.field, c.new_value),
            )
            for c in changes
        ],
    )


def _once(response: Response) -> None:
    """An answer with a password: no cache keeps it."""
    response.headers["Cache-Control"] = "no-store"


@router.get("", response_model=AccountListPublic)
def account_list(
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
    role: Annotated[
        str,
        Query(
            max_length=TEXT_MAX,
            description="staff (every staff role), all (citizens too), citizen, clerk, system "
            "or admin",
            json_schema_extra={"enum": list(accounts_admin.ROLE_FILTERS)},
        ),
    ] = "staff",
    department: Annotated[str, Query(max_length=TEXT_MAX)] = "",
    status: Annotated[
        str,
        Query(
            max_length=TEXT_MAX,
            description='active, disabled or "" (both)',
            json_schema_extra={"enum": list(accounts_admin.STATUS_FILTERS)},
        ),
    ] = "",
    search: Annotated[
        str, Query(max_length=TEXT_MAX, description="Part of the username or name")
    ] = "",
    page: Annotated[int, Query(le=ID_MAX)] = 1,
):
    """Accounts matching the filter, 50 a page, by username."""
    wanted = accounts_admin.normalize_filter(
        accounts_admin.UserFilter(
            role=role, department=department, status=status, search=search, page=page
        ),
        departments=rt.catalog.departments,
    )
    found = accounts_admin.list_users(session, filter=wanted)
    return AccountListPublic(
        total=found.total,
        page=found.page,
        pages=found.pages,
        per_page=found.per_page,
        filter=AccountFilterPublic(
            role=wanted.role,
            department=wanted.department,
            status=wanted.status,
            search=wanted.search,
        ),
        items=[AccountPublic(**_account(row)) for row in found.rows],
    )


@with_password.post(
    "",
    response_model=CreatedPublic,
    status_code=201,
    dependencies=[CsrfChecked],
    responses=too_large(),
)
def create_account(
    body: AccountCreate, response: Response, user: AdminUser, session: SessionDep, rt: RuntimeDep
):
    """Create a staff account (recorded). Without a password one is generated and answered
    this once (`Cache-Control: no-store`)."""
    account, generated = accounts_admin.create_staff(
        session,
        actor=user,
        departments=rt.catalog.departments,
        username=body.username,
        display_name=body.display_name,
        role=body.role,
        department=body.department,
        supervisor=body.supervisor,
        password=body.password,
    )
    _once(response)
    return CreatedPublic(account=_detail(session, account), password=generated)


@router.get("/{user_id}", response_model=AccountDetailPublic)
def account(user_id: UserId, user: AdminUser, session: SessionDep):
    """An account with its change history."""
    return _detail(session, accounts_admin.get_user(session, user_id=user_id))


@router.post(
    "/{user_id}",
    response_model=AccountDetailPublic,
    dependencies=[CsrfChecked],
    responses=too_large(),
)
def update_account(
    body: AccountUpdate, user_id: UserId, user: AdminUser, session: SessionDep, rt: RuntimeDep
):
    """Change a staff account's name, role, department or supervisor flag (each change
    recorded); its open tasks it can no longer work go back to their queue. An administrator
    cannot remove their own role, nor the last active administrator's (409)."""
    account = accounts_admin.update_staff(
        session,
        actor=user,
        departments=rt.catalog.departments,
        user_id=user_id,
        **body.model_dump(),
    )
    return _detail(session, account)


@router.post(
    "/{user_id}/disable",
    response_model=AccountDetailPublic,
    dependencies=[CsrfChecked],
    responses={
        409: {
            "model": ErrorPublic,
            "description": "The last active administrator cannot be disabled",
        }
    },
)
def disable_account(user_id: UserId, user: AdminUser, session: SessionDep):
    """Disable an account (recorded): it cannot sign in, its sessions end now and its open
    tasks go back to their queue. Not one's own (403), nor the last active administrator (409)."""
    account = accounts_admin.set_active(session, actor=user, user_id=user_id, active=False)
    return _detail(session, account)


@router.post("/{user_id}/enable", response_model=AccountDetailPublic, dependencies=[CsrfChecked])
def enable_account(user_id: UserId, user: AdminUser, session: SessionDep):
    """Enable a disabled account (recorded)."""
    account = accounts_admin.set_active(session, actor=user, user_id=user_id, active=True)
    return _detail(session, account)


@with_password.post(
    "/{user_id}/password", response_model=PasswordPublic, dependencies=[CsrfChecked]
)
def reset_password(user_id: UserId, response: Response, user: AdminUser, session: SessionDep):
    """Give a staff account a new generated password, answered this once (`Cache-Control:
    no-store`, recorded without the password); the account's sessions end."""
    account, password = accounts_admin.reset_password(session, actor=user, user_id=user_id)
    _once(response)
    return PasswordPublic(account=_detail(session, account), password=password)
