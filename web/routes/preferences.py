"""A visitor's display preferences (the elderly-friendly mode)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
