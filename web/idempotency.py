"""The JSON API's route class: SerializeInThread, plus `Idempotency-Key` on POST operations
(services.idempotency): a retried request gets the first answer again, marked with
`Idempotent-Replayed: true`, instead of doing its operation twice; and a body of another
media type than the operation takes (JSON, or multipart for uploads) is refused with 415."""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, params
from fastapi.dependencies.models import Dependant
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from services import db_outage, idempotency
from services.accounts import service as accounts
from services.cases.schemas import ErrorPublic
from services.errors import DomainError
from web.deps import needs_sign_in, session_token
from web.routing import SerializeInThread

log = logging.getLogger(__name__)
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
            request.state.idempotency_claim = outcome  # marked by the request's session
            try:
                response = await handler(request)
            except BaseException as failure:
                await run_in_threadpool(_give_back, db, outcome, failure)
                raise
            stored = getattr(response, "body", None)
            if 200 <= response.status_code < 300 and isinstance(stored, bytes):
                text = stored.decode()
                await run_in_threadpool(_finish, db, outcome, response.status_code, text)
            else:
                await run_in_threadpool(_give_back, db, outcome, None)
            return response

        return handle


def _signed_in(dependant: Dependant) -> bool:
    """Whether the operation needs a signed-in caller (`current_user` or a role check)."""
    return any(needs_sign_in(sub.call) or _signed_in(sub) for sub in dependant.dependencies)


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
    _releases.run()  # keys an outage kept from being given back (none, mostly)
    with Session(db, expire_on_commit=False) as session:
        found = accounts.session_user(session, token=token) if token else None
        if found is None:
            return None
        return idempotency.claim(
            session,
            user_id=found[0].id,
            key=key,
            fingerprint=print_,
            unsettled=lambda claim_id: _releases.add(db, claim_id),
        )


def _finish(db, claim_id: int, status_code: int, body: str) -> None:
    """Store the answer; if the database went away since the operation committed, the answer
    is still sent (the operation was done), and its claim stays marked as applied: a retry
    with the key is told so (409), never done twice."""
    try:
        with Session(db) as session:
            idempotency.finish(session, claim_id=claim_id, status_code=status_code, body=body)
    except Exception as exc:
        if not db_outage.unavailable(exc):
            raise
        log.warning("Idempotency-Key claim %s: answer not stored (database unavailable)", claim_id)


def _give_back(db, claim_id: int, failure: BaseException | None) -> None:
    """The operation failed or was refused: its key may be used again. When the database went
    away during the operation, only if the operation committed nothing (services.idempotency);
    and when the database cannot be reached to give the key back, once it can."""
    if failure is None or not db_outage.unavailable(failure):
        _release(db, claim_id)
        return
    _releases.add(db, claim_id)
    _releases.run()


def _release(db, claim_id: int, *, unless_applied: bool = False) -> None:
    with Session(db) as session:
        idempotency.release(session, claim_id=claim_id, unless_applied=unless_applied)


class PendingReleases:
    """Claims left by an outage, to give back once the database answers again, if their
    operation committed nothing (`unless_applied`): tried at once, at this process's next
    claim, and every RETRY_SECONDS by a daemon thread, started when the first one is added and
    ended when none is left. (Kept in memory: a process that stops first leaves them claimed,
    as a stop during an operation does.)"""

    RETRY_SECONDS = 2.0

    def __init__(self) -> None:
        self._pending: set[tuple[Any, int]] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, db, claim_id: int) -> None:
        with self._lock:
            self._pending.add((db, claim_id))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._retry, name="idempotency-release", daemon=True
                )
                self._thread.start()

    def run(self) -> bool:
        """Give back every pending key; True when none is left. (Each key is taken out while
        it is tried: threads running this at once do not give back the same key twice.)"""
        with self._lock:
            pending, self._pending = self._pending, set()
        left: set[tuple[Any, int]] = set()
        for db, claim_id in pending:
            if left:  # the database is still away: keep the rest for the next try
                left.add((db, claim_id))
                continue
            try:
                _release(db, claim_id, unless_applied=True)
            except Exception as exc:
                if db_outage.unavailable(exc):
                    left.add((db, claim_id))
                else:
                    log.exception("Idempotency-Key claim %s could not be given back", claim_id)
                continue
            log.info("Idempotency-Key claim %s settled after the outage", claim_id)
        if left:
            with self._lock:
                self._pending |= left
        return not left

    def _retry(self) -> None:
        while True:
            time.sleep(self.RETRY_SECONDS)
            done = self.run()
            with self._lock:
                if done and not self._pending:
                    self._thread = None
                    return


_releases = PendingReleases()
