"""Accounts: people who sign in, and their sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from engine.clock import utcnow

ROLES = ("citizen", "clerk", "system", "admin", "operator")
# system: a department's own software; operator: looks after running cases (incidents, repair,
# migration), separate from the administrator who configures


class User(SQLModel, table=True):
    __tablename__ = "user_account"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)  # citizen ID for citizens
    display_name: str = Field(max_length=64)
    role: str = Field(max_length=16)
    department: str | None = Field(default=None, max_length=32)
    supervisor: bool = False  # a department's supervisor: reassigns, receives escalations
    id_number: str | None = Field(default=None, max_length=18, index=True)
    password_hash: str = Field(max_length=200)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class LoginSession(SQLModel, table=True):
    """A signed-in browser or API client; the cookie holds the token, we keep its hash."""

    __tablename__ = "login_session"
    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class AccountChange(SQLModel, table=True):
    """One field of an account changed by an administrator, old → new (never a password: a reset
    is recorded without values); one row per field, the rows of one action share `created_at`."""

    __tablename__ = "account_change"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    actor_user_id: int = Field(foreign_key="user_account.id")
    action: str = Field(max_length=32)  # created, updated, disabled, enabled, password_reset
    field: str | None = Field(default=None, max_length=32)
    old_value: str | None = Field(default=None, max_length=200)
    new_value: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class LoginAttempt(SQLModel, table=True):
    """One sign-in attempt, counted to throttle password guessing by every server process that
    shares the database (services/accounts/throttle.py). Neither the password nor the typed
    username is kept: a hash of the username (to count) and the account it names, if any."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_username", "username_key", "created_at"),
        Index("ix_login_attempt_address", "address", "created_at"),
        Index("ix_login_attempt_created", "created_at"),  # pruning
    )
    id: int | None = Field(default=None, primary_key=True)
    username_key: str = Field(max_length=64)
    user_id: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    address: str = Field(max_length=64)  # the client's IP address (an IPv6 client's /64)
    # The recognised device the attempt came from (a `KnownDevice` id; kept after the device's
    # row is pruned, so no foreign key), or None for an unrecognised client.
    device_id: int | None = None
    outcome: str = Field(max_length=16)  # failed (also while being checked), refused, succeeded
    created_at: datetime = Field(default_factory=utcnow)


class KnownDevice(SQLModel, table=True):
    """A browser that signed in to an account: its sign-in attempts for that account are
    throttled on their own, so that others' failures cannot lock it out. The browser keeps a
    random token in a cookie; we keep the token's hash. It vouches for nothing else."""

    __tablename__ = "known_device"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
