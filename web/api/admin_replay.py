"""Replaying a candidate process or catalog change on recent cases over the API (the pages:
web/routes/replay.py)."""

from __future__ import annotations

from web.api.routing import api_router

router = api_router(prefix="/admin/replay", tags=["api: processes"])
