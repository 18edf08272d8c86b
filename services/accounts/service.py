"""Sign-in with argon2-hashed passwords, sessions, and account creation."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from engine.clock import utcnow
from services import rows
from services.accounts import throttle
from services.accounts.models import ROLES, LoginSession, User
from services.errors import Forbidden, InvalidInput

_HASHER = PasswordHasher()
# Verified against when the username is unknown, so both cases cost the same time.
_DUMMY_HASH = _HASHER.hash("not a password")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    session: Session,
    *,
    username: str,
    display_name: str,
    role: str,
    password: str,
    department: str | None = None,
    id_number: str | None = None,
    password_hash: str | None = None,
    supervisor: bool = False,
) -> User:
    """A new account; `password_hash` lets seeding reuse a hash already computed for `password`."""
    if role not in ROLES:
        raise InvalidInput(
            "role", f"角色必须是{'、'.join(ROLES)}之一", f"role must be one of {ROLES}"
        )
    if role in ("clerk", "system") and not department:
        raise InvalidInput("department", "窗口人员必须属于一个部门", "a clerk needs a department")
    if len(password) < 8:
        raise InvalidInput("password", "密码至少8位", "a password has at least 8 characters")
    user = User(
        username=username,
        display_name=display_name,
        role=role,
        department=department,
        id_number=id_number,
        supervisor=supervisor,
        password_hash=password_hash or hash_password(password),
    )
    session.add(user)
    session.flush()
    return user


def authenticate(
    session: Session,
    *,
    username: str,
    password: str,
    address: str | None,
    device_tokens: Sequence[str] = (),
    limits: throttle.Limits | None = None,
) -> User:
    """The active user with these credentials; raises `Forbidden` with one message for all
    failures, and `TooManyRequests` while the throttle refuses this account from this client
    (services/accounts/throttle.py). `device_tokens` are the browser's recognised-device tokens,
    which give it a budget of its own. Commits the attempt's record; the caller commits a
    success."""
    user = None
    if "\x00" not in username:  # no account has one, and PostgreSQL refuses it in a query
        user = session.exec(select(User).where(User.username == username.strip().upper())).first()
        if user is None:
            user = session.exec(select(User).where(User.username == username.strip())).first()
    device_id = None
    if user is not None and device_tokens:
        device_id = throttle.recognised_device(session, user_id=user.id, tokens=device_tokens)
    attempt = throttle.admit(
        session,
        username=username,
        address=address,
        user_id=user.id if user else None,
        device_id=device_id,
        limits=limits or throttle.LIMITS,  # read now: tests may set other limits
    )
    try:
        _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, InvalidHashError):
        user = None
    if user is None or not user.active:
        raise Forbidden("账号或密码不正确", "Wrong username or password")
    throttle.succeeded(session, attempt=attempt, user_id=user.id)
    return user


def open_session(session: Session, *, user: User, hours: int) -> tuple[str, LoginSession]:
    """A new login session; returns the secret token for the cookie and the stored row."""
    token = secrets.token_urlsafe(32)
    row = LoginSession(
        token_hash=_token_hash(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(24),
        expires_at=utcnow() + timedelta(hours=hours),
    )
    session.add(row)
    return token, row


# Built once: every request runs it, and building a statement (and its cache key) costs
# more than running this one. Core, not the ORM: the two objects are built detached
# (services/rows.py), which costs a third of loading them into the session and taking them
# out again.
_USER_COLUMNS = rows.columns(User)
_SESSION_COLUMNS = rows.columns(LoginSession)
_SESSION_USER = (
    sa_select(*_USER_COLUMNS, *_SESSION_COLUMNS)
    .join_from(User.__table__, LoginSession.__table__, LoginSession.user_id == User.id)
    .where(
        LoginSession.token_hash == bindparam("token_hash"),
        LoginSession.expires_at > bindparam("now"),
    )
)


def session_user(session: Session, *, token: str) -> tuple[User, LoginSession] | None:
    """The user and session behind a cookie token, if it is valid and not expired: detached
    objects (not in `session`; adding one to a session updates the stored row)."""
    params = {"token_hash": _token_hash(token), "now": utcnow()}
    found = session.connection().execute(_SESSION_USER, params).first()
    if found is None:
        return None
    split = len(_USER_COLUMNS)
    user = rows.detached(User, found[:split])
    if not user.active:
        return None
    return user, rows.detached(LoginSession, found[split:])


def close_session(session: Session, *, token: str) -> None:
    row = session.get(LoginSession, _token_hash(token))
    if row is not None:
        session.delete(row)


def actor_names(session: Session, rows, column: str = "actor_user_id") -> dict[int, str]:
    """Display names of the users named by `rows[*].<column>` (by default `actor_user_id`)."""
    ids = {getattr(row, column) for row in rows if getattr(row, column)}
    if not ids:
        return {}
    users = session.exec(select(User).where(User.id.in_(ids))).all()  # type: ignore[union-attr]
    return {user.id: user.display_name for user in users}


def supervisors_of(session: Session, *, department: str) -> list[User]:
    """The active supervisors of a department, who work its follow-ups."""
    query = select(User).where(
        User.department == department,
        User.role == "clerk",
        col(User.supervisor).is_(True),
        col(User.active).is_(True),
    )
    return list(session.exec(query).all())
