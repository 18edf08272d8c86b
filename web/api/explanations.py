"""Why an item applies or not, and why it was decided so, over the API (issue 22). Pages:
web/routes/explanations.py."""

from __future__ import annotations

from web.api.routing import api_router

router = api_router(tags=["api: explanations"])
