"""Acting for someone else (代办) over the API (issue 22): authorizations given, received and
withdrawn. Pages: web/routes/agency.py."""

from __future__ import annotations

from web.api.routing import api_router

router = api_router(tags=["api: agency"])
