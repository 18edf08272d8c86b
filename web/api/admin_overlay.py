"""Where time goes on a matter's diagram (issue 21): the JSON API. Filled in by its own change."""

from __future__ import annotations

from web.api.routing import api_router

router = api_router(prefix="/admin/processes", tags=["api: processes"])
