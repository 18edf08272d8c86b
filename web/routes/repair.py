"""Operating running cases (issue 21): pages. Filled in by its own change."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["pages: operations"])
