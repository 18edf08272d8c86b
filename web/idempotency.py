"""The JSON API's route class: SerializeInThread, plus `Idempotency-Key` on POST operations
(services.idempotency): a retried request gets the first answer again, marked with
`Idempotent-Replayed: true`, instead of doing its operation twice."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from services import idempotency
from services.accounts import service as accounts
from web.deps import session_token
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


class IdempotentRoute(SerializeInThread):
    """A JSON API route; a POST honours the `Idempotency-Key` header of a signed-in caller."""

    def __init__(self, path: str, endpoint, **kwargs) -> None:
        if "POST" in (kwargs.get("methods") or ()):
            extra = dict(kwargs.get("openapi_extra") or {})
            extra["parameters"] = [*extra.get("parameters", []), _DOCUMENTED]
            kwargs["openapi_extra"] = extra
        super().__init__(path, endpoint, **kwargs)

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
            body = await request.body()
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
