"""A route class for the JSON API: a sync endpoint's response is validated and serialized in the
worker thread that ran the endpoint.

FastAPI runs a sync endpoint in its thread pool and then, back on the event loop, hands the
response model's validation to the thread pool again: two thread hand-offs per request, where
each costs about as much as an indexed read (0.2 ms of a worker's CPU, more under load, when
the threads contend for the GIL). With this class the endpoint's thread also validates the
value against the route's `response_model` and serializes it with pydantic, and the endpoint
returns a finished response, which FastAPI passes through. The OpenAPI document, the status
code, background tasks and a validation failure (`ResponseValidationError`, a 500 as before)
are unchanged.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from fastapi.datastructures import DefaultPlaceholder
from fastapi.exceptions import ResponseValidationError
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.responses import Response


class SerializeInThread(APIRoute):
    """An APIRoute whose sync endpoint returns its response already validated and serialized.

    The endpoint is wrapped before FastAPI sees it (FastAPI builds the handlers of an included
    router from the route's endpoint), keeping its signature for the dependencies and docs."""

    def __init__(self, path: str, endpoint: Any, **kwargs: Any) -> None:
        model = kwargs.get("response_model")
        if (
            model is not None
            and not isinstance(model, DefaultPlaceholder)
            and not inspect.iscoroutinefunction(endpoint)
            and not inspect.isgeneratorfunction(endpoint)
            and isinstance(
                kwargs.get("response_class", DefaultPlaceholder(None)), DefaultPlaceholder
            )
            and not any(kwargs.get(option) for option in _SERIALIZATION_OPTIONS)
            and kwargs.get("response_model_by_alias", True)
        ):
            endpoint = _serialized(endpoint, TypeAdapter(model), kwargs.get("status_code") or 200)
        super().__init__(path, endpoint, **kwargs)


_SERIALIZATION_OPTIONS = (
    "response_model_include",
    "response_model_exclude",
    "response_model_exclude_unset",
    "response_model_exclude_defaults",
    "response_model_exclude_none",
)


def _serialized(endpoint: Any, adapter: TypeAdapter, status: int) -> Any:
    @functools.wraps(endpoint)
    def serialized(*args: Any, **values: Any) -> Any:
        content = endpoint(*args, **values)
        if isinstance(content, Response):
            return content
        try:
            value = adapter.validate_python(content, from_attributes=True)
        except ValidationError as exc:
            errors = [
                {**error, "loc": ("response", *error["loc"])}
                for error in exc.errors(include_url=False)
            ]
            raise ResponseValidationError(errors=errors, body=content) from None
        body = adapter.dump_json(value, by_alias=True)
        return Response(body, status_code=status, media_type="application/json")

    return serialized
