"""Accounts: people who sign in, and their sessions."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from engine.store import utcnow

ROLES = ("citizen", "clerk", "system", "admin")  # system: a department's own software


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
