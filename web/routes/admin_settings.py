"""Placeholder router: filled in by issue 7's configuration work."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["pages: admin"])
