"""The service catalog over the API: facts, items and matters, their versions, diff and
rollback (the pages: web/routes/catalog.py)."""

from __future__ import annotations

from web.api.routing import api_router

router = api_router(prefix="/admin/catalog", tags=["api: admin"])
