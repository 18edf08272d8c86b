"""Decision tables (DMN) over the API: read, check, run their test cases (the pages:
web/routes/decisions.py)."""

from __future__ import annotations

from web.api.routing import api_router

router = api_router(prefix="/admin/decisions", tags=["api: processes"])
