"""Administrators manage staff accounts: list and filter them, create, edit, disable and enable,
reset passwords. Every change is recorded as `AccountChange` rows (old → new, never a password)."""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, func, or_, select

from engine.clock import utcnow
from services.accounts.models import AccountChange, LoginSession, User
from services.accounts.service import create_user, hash_password
from services.cases.workbench import release_stranded_claims
from services.errors import Conflict, Forbidden, InvalidInput, NotFound

STAFF_ROLES = ("clerk", "system", "admin", "operator")
DEPARTMENT_ROLES = ("clerk", "system")  # work a department's tasks, so belong to one
ROLE_LABELS = {
    "citizen": ("居民", "Citizen"),
    "clerk": ("窗口人员", "Clerk"),
    "system": ("部门业务系统", "Department system"),
    "admin": ("系统管理员", "Administrator"),
    "operator": ("运维人员", "Operator"),
}
# The list's role filter: every staff role, one role, citizens, or everyone.
ROLE_FILTERS = ("staff", "all", "citizen", *STAFF_ROLES)
STATUS_FILTERS = ("", "active", "disabled")
PER_PAGE = 50
PASSWORD_MIN = 10
PASSWORD_MAX = 128
PASSWORD_POLICY = (
    f"至少{PASSWORD_MIN}位，须同时包含字母和数字",
    f"at least {PASSWORD_MIN} characters, with both letters and digits",
)
USERNAME = re.compile(r"[a-z][a-z0-9._-]{2,31}")
DISPLAY_NAME_MAX = 64
SEARCH_MAX = 64
# Unambiguous characters for generated passwords (no 0/O, 1/l/I).
_GENERATED = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_GENERATED_LENGTH = 14


@dataclass(frozen=True)
class UserFilter:
    """What the administrator asked the account list for."""

    role: str = "staff"
    department: str = ""
    status: str = ""  # active | disabled | "" (both)
    search: str = ""  # part of the username or display name
    page: int = 1

    def params(self, **changes: Any) -> dict[str, str]:
        """The filter as query parameters (only what differs from the defaults), for links."""
        changed = replace(self, **changes)
        return {
            f.name: str(getattr(changed, f.name))
            for f in fields(self)
            if getattr(changed, f.name) != f.default
        }


@dataclass(frozen=True)
class UserPage:
    rows: list[User]
    total: int
    filter: UserFilter
    per_page: int = PER_PAGE

    @property
    def page(self) -> int:
        return self.filter.page

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _has_control_characters(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def normalize_filter(wanted: UserFilter, *, departments: Mapping[str, Any]) -> UserFilter:
    """The filter checked and tidied; an unknown role, status or department is refused."""
    search = wanted.search.strip()
    if wanted.role not in ROLE_FILTERS:
        raise InvalidInput("role", "未知的角色", f"Unknown role {wanted.role!r}")
    if wanted.status not in STATUS_FILTERS:
        raise InvalidInput("status", "未知的账号状态", f"Unknown status {wanted.status!r}")
    if wanted.department and wanted.department not in departments:
        raise InvalidInput("department", "没有这个部门", f"No department {wanted.department!r}")
    if len(search) > SEARCH_MAX or _has_control_characters(search):
        raise InvalidInput(
            "search",
            f"搜索内容最多{SEARCH_MAX}个字符，且不能含控制字符",
            f"Search for at most {SEARCH_MAX} printable characters",
        )
    return replace(wanted, search=search, page=max(wanted.page, 1))


def list_users(session: Session, *, filter: UserFilter) -> UserPage:
    """One page of accounts matching a normalized filter, by username (filtered in SQL)."""
    conditions = []
    if filter.role == "staff":
        conditions.append(col(User.role).in_(STAFF_ROLES))
    elif filter.role != "all":
        conditions.append(User.role == filter.role)
    if filter.department:
        conditions.append(User.department == filter.department)
    if filter.status:
        conditions.append(col(User.active).is_(filter.status == "active"))
    if filter.search:
        escaped = re.sub(r"([\\%_])", r"\\\1", filter.search)
        pattern = f"%{escaped}%"
        conditions.append(
            or_(
                col(User.username).ilike(pattern, escape="\\"),
                col(User.display_name).ilike(pattern, escape="\\"),
            )
        )
    total = session.exec(select(func.count()).select_from(User).where(*conditions)).one()
    rows = session.exec(
        select(User)
        .where(*conditions)
        .order_by(col(User.username))
        .offset((filter.page - 1) * PER_PAGE)
        .limit(PER_PAGE)
    ).all()
    return UserPage(rows=list(rows), total=total, filter=filter)


def get_user(session: Session, *, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("没有这个账号", f"No account {user_id}")
    return user


def changes_of(session: Session, *, user_id: int, limit: int = 200) -> list[AccountChange]:
    """The recorded changes of an account, newest first."""
    return list(
        session.exec(
            select(AccountChange)
            .where(AccountChange.user_id == user_id)
            .order_by(col(AccountChange.created_at).desc(), col(AccountChange.id).desc())
            .limit(limit)
        ).all()
    )


def generate_password() -> str:
    """A random password that meets the policy, to be shown once to the administrator."""
    while True:
        password = "".join(secrets.choice(_GENERATED) for _ in range(_GENERATED_LENGTH))
        if password_problem(password) is None:
            return password


def password_problem(password: str) -> tuple[str, str] | None:
    """Why `password` fails the policy (zh, en), or None when it meets it."""
    if len(password) > PASSWORD_MAX:
        return (f"密码最多{PASSWORD_MAX}位", f"A password has at most {PASSWORD_MAX} characters")
    letters = any(c in string.ascii_letters for c in password)
    digits = any(c in string.digits for c in password)
    if len(password) < PASSWORD_MIN or not letters or not digits:
        return (f"密码{PASSWORD_POLICY[0]}", f"A password needs {PASSWORD_POLICY[1]}")
    return None


# ---------------------------------------------------------------- changes


def _require_admin(actor: User) -> None:
    if actor.role != "admin" or not actor.active:
        raise Forbidden("只有管理员可以管理账号", "Only administrators manage accounts")


def _lock_active_admins(session: Session) -> list[int]:
    """The active administrators' ids, their rows locked in id order (PostgreSQL): two
    administrators changing each other at once queue here instead of deadlocking."""
    return list(
        session.exec(
            select(User.id)
            .where(User.role == "admin", col(User.active).is_(True))
            .order_by(col(User.id))
            .with_for_update()
        ).all()
    )


def _locked_user(session: Session, user_id: int) -> User:
    """The account as committed now, its row locked until commit so concurrent edits queue; an
    administrator's account locks all active administrators first (see _lock_active_admins)."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("没有这个账号", f"No account {user_id}")
    if user.role == "admin":
        _lock_active_admins(session)
    return session.exec(
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _staff(session: Session, user_id: int) -> User:
    user = _locked_user(session, user_id)
    if user.role not in STAFF_ROLES:
        raise Forbidden(
            "居民账号来自实名认证，管理员不能修改其信息或密码",
            "A citizen's account comes from their verified identity: an administrator does "
            "not edit it or set its password",
        )
    return user


def _check_profile(
    departments: Mapping[str, Any],
    *,
    display_name: str,
    role: str,
    department: str | None,
    supervisor: bool,
) -> dict[str, tuple[str, str]]:
    """Field errors of an account's display name, role, department and supervisor flag."""
    errors: dict[str, tuple[str, str]] = {}
    if not display_name:
        errors["display_name"] = ("请填写姓名", "Enter the name")
    elif len(display_name) > DISPLAY_NAME_MAX or _has_control_characters(display_name):
        errors["display_name"] = (
            f"姓名最多{DISPLAY_NAME_MAX}个字符，且不能含控制字符",
            f"A name has at most {DISPLAY_NAME_MAX} printable characters",
        )
    if role not in STAFF_ROLES:
        errors["role"] = (
            "请选择角色：窗口人员、部门业务系统或系统管理员",
            "Choose a role: clerk, department system or administrator",
        )
    if department and department not in departments:
        errors["department"] = ("没有这个部门，请从列表中选择", "No such department: choose one")
    elif not department and role in DEPARTMENT_ROLES:
        errors["department"] = (
            "窗口人员和部门业务系统必须属于一个部门",
            "A clerk or a department system belongs to a department",
        )
    if supervisor and role != "clerk":
        errors["supervisor"] = (
            "只有窗口人员可以设为科长",
            "Only a clerk can be a department's supervisor",
        )
    return errors


def _refuse(errors: dict[str, tuple[str, str]]) -> None:
    if errors:
        first = next(iter(errors))
        zh, en = errors[first]
        raise InvalidInput(first, zh, en, fields=errors)


def _refuse_self_removal(*, actor: User, target: User, disabling: bool) -> None:
    """An administrator keeps their own access."""
    if target.id == actor.id:
        if disabling:
            raise Forbidden("不能停用自己的账号", "You cannot disable your own account")
        raise Forbidden("不能取消自己的管理员角色", "You cannot remove your own administrator role")


def _keep_an_active_admin(session: Session) -> None:
    """After an administrator was disabled or demoted (written, not committed): one active
    administrator must remain. Counted after the write, which waits for a concurrent removal
    to commit first (row locks on PostgreSQL, the single writer on SQLite), so two
    administrators removing each other at once cannot leave none."""
    session.flush()
    remaining = session.exec(
        select(func.count())
        .select_from(User)
        .where(User.role == "admin", col(User.active).is_(True))
    ).one()
    if remaining == 0:
        session.rollback()
        raise Conflict(
            "这是最后一个启用的管理员账号，不能停用或变更角色",
            "This is the last active administrator: it cannot be disabled or change role",
        )


def _record(
    session: Session,
    *,
    actor: User,
    user: User,
    action: str,
    changes: Mapping[str, tuple[Any, Any]] | None = None,
) -> None:
    """Audit rows for one action: one per changed field, or one without values."""
    now = utcnow()
    if not changes:
        session.add(
            AccountChange(user_id=user.id, actor_user_id=actor.id, action=action, created_at=now)
        )
        return
    for name, (old, new) in changes.items():
        session.add(
            AccountChange(
                user_id=user.id,
                actor_user_id=actor.id,
                action=action,
                field=name,
                old_value=_audit_value(old),
                new_value=_audit_value(new),
                created_at=now,
            )
        )


def _audit_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)[:200]


def end_sessions(session: Session, *, user_id: int) -> None:
    """Sign the account out everywhere: its browsers and API clients must sign in again."""
    session.exec(delete(LoginSession).where(col(LoginSession.user_id) == user_id))


def create_staff(
    session: Session,
    *,
    actor: User,
    departments: Mapping[str, Any],
    username: str,
    display_name: str,
    role: str,
    department: str = "",
    supervisor: bool = False,
    password: str = "",
) -> tuple[User, str | None]:
    """A new staff account, in one transaction with its audit rows. An empty `password` is
    generated: it is returned (once) to show the administrator; None when one was given."""
    _require_admin(actor)
    username = username.strip().lower()
    display_name = display_name.strip()
    department = department.strip()
    errors: dict[str, tuple[str, str]] = {}
    if not USERNAME.fullmatch(username):
        errors["username"] = (
            "用户名为3至32位小写字母、数字或 . _ -，以字母开头",
            "A username has 3 to 32 lowercase letters, digits or . _ -, starting with a letter",
        )
    elif session.exec(select(User.id).where(func.lower(User.username) == username)).first():
        errors["username"] = (f"用户名 {username} 已被使用", f"The username {username} is taken")
    errors |= _check_profile(
        departments,
        display_name=display_name,
        role=role,
        department=department,
        supervisor=supervisor,
    )
    generated = None
    if not password:
        password = generated = generate_password()
    elif problem := password_problem(password):
        errors["password"] = problem
    _refuse(errors)
    user = create_user(
        session,
        username=username,
        display_name=display_name,
        role=role,
        password=password,
        department=department or None,
        supervisor=supervisor,
    )
    _record(
        session,
        actor=actor,
        user=user,
        action="created",
        changes={
            "username": (None, username),
            "display_name": (None, display_name),
            "role": (None, role),
            "department": (None, department or None),
            "supervisor": (None, supervisor),
        },
    )
    try:
        session.commit()
    except IntegrityError:  # the same username created meanwhile by another request
        session.rollback()
        raise InvalidInput(
            "username", f"用户名 {username} 已被使用", f"The username {username} is taken"
        ) from None
    return user, generated


def update_staff(
    session: Session,
    *,
    actor: User,
    departments: Mapping[str, Any],
    user_id: int,
    display_name: str | None,
    role: str | None,
    department: str | None = "",
    supervisor: bool | None = False,
) -> User:
    """Change a staff account's name, role, department and supervisor flag (None: keep it as it
    is); only what differs is written and recorded. Nothing is written when any field is
    refused. The open tasks the account can no longer work (another department, no longer a
    clerk) go back to their queue."""
    _require_admin(actor)
    user = _staff(session, user_id)
    display_name = (user.display_name if display_name is None else display_name).strip()
    role = user.role if role is None else role
    department = ((user.department or "") if department is None else department).strip()
    supervisor = user.supervisor if supervisor is None else supervisor
    _refuse(
        _check_profile(
            departments,
            display_name=display_name,
            role=role,
            department=department,
            supervisor=supervisor,
        )
    )
    demoting = user.role == "admin" and role != "admin"
    if demoting:
        _refuse_self_removal(actor=actor, target=user, disabling=False)
    wanted = {
        "display_name": display_name,
        "role": role,
        "department": department or None,
        "supervisor": supervisor,
    }
    changes = {
        name: (getattr(user, name), value)
        for name, value in wanted.items()
        if getattr(user, name) != value
    }
    if changes:
        for name, (_old, new) in changes.items():
            setattr(user, name, new)
        session.add(user)
        if demoting:
            _keep_an_active_admin(session)
        _record(session, actor=actor, user=user, action="updated", changes=changes)
        session.commit()
    else:
        session.rollback()  # release the row lock
    release_stranded_claims(session, holder=user, actor=actor)
    return user


def set_active(session: Session, *, actor: User, user_id: int, active: bool) -> User:
    """Enable or disable an account (staff or citizen). A disabled account cannot sign in, its
    sessions end at once and its open tasks go back to their queue."""
    _require_admin(actor)
    user = _locked_user(session, user_id)
    if user.active == active:
        session.rollback()
    else:
        if not active:
            _refuse_self_removal(actor=actor, target=user, disabling=True)
        user.active = active
        session.add(user)
        if not active and user.role == "admin":
            _keep_an_active_admin(session)
        if not active:
            end_sessions(session, user_id=user.id)
        _record(
            session,
            actor=actor,
            user=user,
            action="enabled" if active else "disabled",
            changes={"active": (not active, active)},
        )
        session.commit()
    release_stranded_claims(session, holder=user, actor=actor)
    return user


def reset_password(session: Session, *, actor: User, user_id: int) -> tuple[User, str]:
    """Give a staff account a new generated password (returned, to show once) and end its
    sessions. The audit row says that it happened, never the password."""
    _require_admin(actor)
    user = _staff(session, user_id)
    password = generate_password()
    user.password_hash = hash_password(password)
    session.add(user)
    end_sessions(session, user_id=user.id)
    _record(session, actor=actor, user=user, action="password_reset")
    session.commit()
    return user, password
