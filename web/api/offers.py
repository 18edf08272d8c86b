"""Offers started by registry events, over the API (issue 22): the registry event endpoint
(signed), the citizen's offers, confirming or declining one. Pages: web/routes/offers.py."""

from __future__ import annotations

from web.api.routing import api_router

router = api_router(tags=["api: offers"])
