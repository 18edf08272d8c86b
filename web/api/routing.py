"""What every API router shares: the documented errors and the route class."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from services.cases.schemas import ERROR_RESPONSES, ID_MAX
from web.idempotency import IdempotentRoute

PREFIX = "/api/v1"

# A row id in a path, and a list's offset: numbers the database can hold (else 422)
RowId = Annotated[int, Path(ge=1, le=ID_MAX)]
Offset = Annotated[int, Query(le=ID_MAX)]  # a negative offset is the first page


def api_router(**options: Any) -> APIRouter:
    """A router of the JSON API (its prefix and tags in `options`)."""
    return APIRouter(responses=ERROR_RESPONSES, route_class=IdempotentRoute, **options)


def twin(*operations: str):
    """Name the API operations that do what a page does, as "METHOD /api/v1/path" (put it below
    the page's route decorator). A test walks the pages and checks each names existing
    operations: everything a person can do in a page, a program can do through the API."""

    def mark(endpoint):
        endpoint.api_twins = operations
        return endpoint

    return mark
