"""What a request answers when the database is unreachable (placeholder: the database-trouble
work fills it in)."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Register the handlers for database trouble on `app`."""
