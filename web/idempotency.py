"""The JSON API's route class: SerializeInThread, plus `Idempotency-Key` on POST operations
(services.idempotency): a retried request gets the first answer again, marked with
`Idempotent-Replayed: true`, instead of doing its operation twice; and a body of another
media type than the operation takes (JSON, or multipart for uploads) is refused with 415."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, params
from fastapi.dependencies.models import Dependant
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from services import idempotency
from services.accounts import service as accounts
from services.cases.schemas import ErrorPublic
from services.errors import DomainError
from web.deps import current_user, session_token
from web.routing import SerializeInThread

REPLAYED = "Idempotent-Replayed"


_DOCUMENTED = {
    "name": idempotency.HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]+$"},
    "description": "Makes the operation safe to retry: a request repeated with the same key "
    "(by the same user, with the same body) gets the first answer again, marked "
    f"`{REPLAYED}: true`, and the operation is done once. Keys are kept for 24 hours; "
    "reusing one for a different request is refused (422), and while the first request is "
    "being answered a retry gets 409.",
}


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"


_WITH_BODY = {"POST", "PUT", "PATCH"}
JSON = "application/json"
MULTIPART = "multipart/form-data"
URLENCODED = "application/x-www-form-urlencoded"
_UNSUPPORTED = {
    "model": ErrorPublic,
    "description": "The body is not of the media type the operation takes (application/json, "
    "or multipart/form-data where it takes files)",
}


class IdempotentRoute(SerializeInThread):
    """A JSON API route; a POST honours the `Idempotency-Key` header of a signed-in caller, and
    a body whose Content-Type the operation does not take is refused (415), after the caller's
    sign-in and CSRF checks (so who may not call the route learns no more than before)."""

    def __init__(self, path: str, endpoint, **kwargs) -> None:
        if "POST" in (kwargs.get("methods") or ()):
            extra = dict(kwargs.get("openapi_extra") or {})
            extra["parameters"] = [*extra.get("parameters", []), _DOCUMENTED]
            kwargs["openapi_extra"] = extra
        accepted: list[str] = []  # the media types the body may have: known once built
        checked = bool(set(kwargs.get("methods") or ()) & _WITH_BODY)
        if checked:
            kwargs["responses"] = {415: _UNSUPPORTED, **(kwargs.get("responses") or {})}
            endpoint = _media_type_checked(endpoint, accepted)
        super().__init__(path, endpoint, **kwargs)
        if "POST" in (self.methods or ()) and not _signed_in(self.dependant):
            # Keys are honoured for a signed-in caller only (they are kept per user): an
            # operation anyone may call (signing in, checking a file) does not offer one.
            extra = self.openapi_extra or {}
            extra["parameters"] = [p for p in extra.get("parameters", []) if p is not _DOCUMENTED]
        if not checked:
            return
        if self.body_field is None:  # takes no body: refuses none, documents no 415
            if self.responses.get(415) is _UNSUPPORTED:
                del self.responses[415]
                self.response_fields.pop(415, None)
        elif isinstance(self.body_field.field_info, params.File):
            accepted.append(MULTIPART)
        elif isinstance(self.body_field.field_info, params.Form):
            accepted.extend((MULTIPART, URLENCODED))
        else:
            accepted.append(JSON)

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()
        if "POST" not in (self.methods or ()):
            return handler

        async def handle(request: Request) -> Response:
            key = request.headers.get(idempotency.HEADER)
            if key is None:
                return await handler(request)
            db = request.app.state.runtime.db
            token, _bearer = session_token(request, request.headers.get("authorization"))
            body = _without_boundary(request.headers.get("content-type", ""), await request.body())
            print_ = idempotency.fingerprint(request.method, request.url.path, body)
            outcome = await run_in_threadpool(_claim, db, token, key, print_)
            if outcome is None:  # not signed in: the route itself refuses (or signs in)
                return await handler(request)
            if isinstance(outcome, idempotency.Replay):
                return Response(
                    outcome.body,
                    status_code=outcome.status_code,
                    media_type="application/json",
                    headers={REPLAYED: "true"},
                )
            try:
                response = await handler(request)
            except BaseException:
                await run_in_threadpool(_release, db, outcome)
                raise
            stored = getattr(response, "body", None)
            if 200 <= response.status_code < 300 and isinstance(stored, bytes):
                text = stored.decode()
                await run_in_threadpool(_finish, db, outcome, response.status_code, text)
            else:
                await run_in_threadpool(_release, db, outcome)
            return response

        return handle


def _signed_in(dependant: Dependant) -> bool:
    """Whether the operation needs a signed-in caller (it depends on `current_user`)."""
    return any(sub.call is current_user or _signed_in(sub) for sub in dependant.dependencies)


def _without_boundary(content_type: str, body: bytes) -> bytes:
    """A multipart body without its boundary: a client builds a new random one each time it
    sends, so a retried upload would otherwise never match its first request."""
    media_type, _, params_ = content_type.partition(";")
    if media_type.strip().lower() != MULTIPART:
        return body
    for param in params_.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary" and value.strip('"'):
            return body.replace(value.strip('"').encode("latin-1", "replace"), b"")
    return body


def _media_type_checked(endpoint: Callable[..., Any], accepted: list[str]) -> Callable[..., Any]:
    """The endpoint with one more dependency, solved after all of its own (the caller's
    sign-in among them): a body whose Content-Type is not in `accepted` is refused."""
    if inspect.isgeneratorfunction(endpoint) or inspect.isasyncgenfunction(endpoint):
        return endpoint

    async def check(request: Request) -> None:  # no I/O: on the event loop
        _check_media_type(request, accepted)

    name = "onething_media_type_checked"
    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def checked(*args: Any, **values: Any) -> Any:
            values.pop(name, None)
            return await endpoint(*args, **values)
    else:

        @functools.wraps(endpoint)
        def checked(*args: Any, **values: Any) -> Any:
            values.pop(name, None)
            return endpoint(*args, **values)

    signature = inspect.signature(endpoint)
    extra = inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[None, Depends(check)]
    )
    checked.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), extra]
    )
    return checked


def _check_media_type(request: Request, accepted: list[str]) -> None:
    """Refuse a body (one with a length, or chunked) of a media type not in `accepted`."""
    if not accepted:
        return
    headers = request.headers
    if headers.get("content-length", "0") in ("", "0") and "transfer-encoding" not in headers:
        return
    sent = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if JSON in accepted and (
        sent == JSON or sent.startswith("application/") and sent.endswith("+json")
    ):
        return
    if sent in accepted:
        return
    if JSON in accepted:
        raise UnsupportedMediaType(
            "此接口只接受JSON格式的内容（Content-Type: application/json）",
            "This operation takes a JSON body (Content-Type: application/json)",
        )
    raise UnsupportedMediaType(
        "此接口只接受multipart/form-data格式的上传",
        "This operation takes a multipart/form-data body",
    )


def _claim(db, token: str | None, key: str, print_: str) -> int | idempotency.Replay | None:
    with Session(db, expire_on_commit=False) as session:
        found = accounts.session_user(session, token=token) if token else None
        if found is None:
            return None
        return idempotency.claim(session, user_id=found[0].id, key=key, fingerprint=print_)


def _finish(db, claim_id: int, status_code: int, body: str) -> None:
    with Session(db) as session:
        idempotency.finish(session, claim_id=claim_id, status_code=status_code, body=body)


def _release(db, claim_id: int) -> None:
    with Session(db) as session:
        idempotency.release(session, claim_id=claim_id)
