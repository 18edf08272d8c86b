"""Replaying a candidate change on recent cases before it goes live (JSON twins: web/api/admin_replay.py)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["pages: admin"])
