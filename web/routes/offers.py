"""Pages: offers (issue 22; the JSON twins in web/api/offers.py)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["pages: offers"])
