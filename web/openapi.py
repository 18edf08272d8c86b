"""The OpenAPI document as the app answers: every status an operation can return, each with the
media types it is sent in, pages included.

Most statuses follow from what a route is and what it depends on, and are derived here:
- signed in (`CurrentUser` and the role aliases): 401 for a bearer client; a page sends a
  browser to the sign-in page instead (303, with a Location header);
- a role (`CitizenUser`, `ClerkUser`, …) or the CSRF check: 403;
- a path parameter (what it names may not exist): 404;
- parameters or a body that can fail validation: 422;
- a body (or the CSRF check reading a browser's form, or an API POST's `Idempotency-Key`
  check): 413 over the route's limit (web/limits.py); 400 for a body that cannot be read;
- a JSON API POST: 409 and 422 for its `Idempotency-Key` (web/idempotency.py), 415 documented
  by the route class for an operation with a body;
- a database session (every route but the liveness check): 503 with `Retry-After` while the
  database cannot be reached (web/db_errors.py);
- a page that posts: 303 to the next page, not 200.
What only the route's own code (its services) answers, it declares: with FastAPI's `responses=`
(the API's own descriptions), or with `answers(...)` below its route decorator, e.g. a page
shown again with its errors (422), a service's refusal (409), a failed process (503). The
statuses the API routers list for every operation (`ERROR_RESPONSES`) are kept only where
derived or declared: the document names no status an operation cannot answer.

API errors are problem details (application/problem+json); a page answers an error as an HTML
page to a browser and as problem details to a bearer client (web/app.py), so both are listed.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute

from services.cases.schemas import ERROR_RESPONSES, ErrorPublic, InvalidInputPublic
from web.deps import check_csrf, get_session, is_role_check, needs_sign_in
from web.problems import PROBLEM

ERROR = {"$ref": "#/components/schemas/ErrorPublic"}
INVALID = {"$ref": "#/components/schemas/InvalidInputPublic"}
HTML = {"schema": {"type": "string"}}
LOCATION = {
    "description": "The page to go to next",
    "schema": {"type": "string", "format": "uri-reference"},
}

# A status's description where the route declares none: for the API, and for pages.
DESCRIPTIONS = {
    200: "The page",
    303: "On to the next page (Location); a browser that is not signed in is sent to the "
    "sign-in page",
    400: "The body could not be read (a malformed form)",
    401: "Not signed in",
    403: "Not allowed for this account, or the CSRF token of a browser's session is missing "
    "or wrong",
    404: "Not found",
    409: "Conflicts with the current state (a retry while the first request with its "
    "Idempotency-Key is being answered, for the API)",
    413: "The request body is larger than the operation takes",
    422: "Invalid input",
    429: "Too many attempts: try again after Retry-After seconds",
    503: "The case's process failed at one of its elements, or a registry could not answer: "
    "nothing was kept; try again later",
}
RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer", "minimum": 0}}
}
# The 503 of every operation that reads or writes the database; added to the description of
# an operation that answers 503 for a reason of its own too (a failed process).
DATABASE_UNAVAILABLE = (
    "the database cannot be reached for the moment (a restart, a failover); try again after "
    "Retry-After seconds (an API client with the same Idempotency-Key: the operation is done "
    "once)"
)

# Where the document is published (`onething openapi` writes it; a test keeps it current).
PUBLISHED = Path("docs/openapi.json")


def answers(*statuses: int):
    """Declare the statuses a route's own code answers with, beyond those its kind and its
    dependencies imply (see the module); put it below the route decorator."""

    def mark(endpoint):
        endpoint.onething_answers = frozenset(statuses)
        return endpoint

    return mark


def document_answers(schema: dict[str, Any], routes: Iterable[BaseRoute]) -> None:
    """Rewrite each operation's responses in `schema` (FastAPI's document) to what it answers,
    and give a form body the example its fields' examples make up."""
    paths = schema.get("paths", {})
    models = schema.get("components", {}).get("schemas", {})
    for operations in paths.values():
        for operation in operations.values():
            for media_type, media in operation.get("requestBody", {}).get("content", {}).items():
                if media_type in FORMS and "example" not in media:
                    found = _form_example(models, media.get("schema", {}))
                    if found:
                        media["example"] = found
    for route in iter_route_contexts(list(routes)):
        dependant = getattr(route, "dependant", None)
        if dependant is None or not getattr(route, "include_in_schema", False):
            continue
        for method in route.methods or ():
            operation = paths.get(route.path_format, {}).get(method.lower())
            if operation is not None:
                _rewrite(operation, route, method)


def _rewrite(operation: dict[str, Any], route: Any, method: str) -> None:
    page = not route.path_format.startswith("/api/")
    statuses = statuses_of(route, method)
    responses = operation.setdefault("responses", {})
    for key in list(responses):
        if key.isdigit() and int(key) not in statuses and (int(key) >= 400 or page):
            del responses[key]
    for status in sorted(statuses):
        entry = responses.setdefault(str(status), {"description": DESCRIPTIONS.get(status, "")})
        if status == 303:
            entry.pop("content", None)
            entry["headers"] = {"Location": LOCATION}
        elif status == 200 and page and "content" not in entry:
            entry["content"] = {"text/html": HTML}
        elif status >= 400 and page and _own_model(route, status) is not None:
            # a refusal of a non-API route in its own shape (a health check's 503), as JSON
            name = _own_model(route, status).__name__
            entry["content"] = {"application/json": {"schema": {"$ref": f"{MODELS}{name}"}}}
            if status == 503:
                entry["headers"] = RETRY_AFTER
        elif status >= 400:
            problem = {PROBLEM: {"schema": INVALID if status == 422 else ERROR}}
            if page:  # (FastAPI put a declared model under the page's own media type)
                entry["content"] = {**problem, "text/html": HTML}
            else:
                entry.setdefault("content", problem)
            if status == 429:
                entry["headers"] = RETRY_AFTER
            if status == 503 and _uses_database(route):
                _document_database_unavailable(entry, route)
    operation["responses"] = dict(sorted(responses.items()))


MODELS = "#/components/schemas/"


def _own_model(route: Any, status: int) -> Any:
    """The model a route declares for a refusal of its own (`responses={503: {"model": ...}}`),
    which it answers instead of problem details; None for the usual problem."""
    entry = (route.responses or {}).get(status)
    model = entry.get("model") if isinstance(entry, dict) else None
    return None if model in (None, ErrorPublic, InvalidInputPublic) else model


def _uses_database(route: Any) -> bool:
    return get_session in _walk(route.dependant)[0]


def _document_database_unavailable(entry: dict[str, Any], route: Any) -> None:
    """A database route's 503: the outage (with Retry-After), after the route's own reason."""
    endpoint = route.endpoint
    while hasattr(endpoint, "__wrapped__"):
        endpoint = endpoint.__wrapped__
    own = 503 in getattr(endpoint, "onething_answers", ()) or (
        503 in (route.responses or {}) and route.responses[503] is not ERROR_RESPONSES.get(503)
    )
    reason = entry.get("description", "").rstrip(". ") if own else ""
    if DATABASE_UNAVAILABLE not in reason:
        alone = DATABASE_UNAVAILABLE[0].upper() + DATABASE_UNAVAILABLE[1:]
        entry["description"] = f"{reason}. Or {DATABASE_UNAVAILABLE}" if reason else alone
    entry["headers"] = RETRY_AFTER


def statuses_of(route: Any, method: str) -> set[int]:
    """The statuses the route answers `method` with (see the module)."""
    page = not route.path_format.startswith("/api/")
    calls, parameters, path_parameters = _walk(route.dependant)
    signed_in = any(needs_sign_in(call) for call in calls)
    role = any(is_role_check(call) for call in calls)
    csrf = check_csrf in calls
    body = route.body_field
    endpoint = route.endpoint
    while hasattr(endpoint, "__wrapped__"):  # the route classes' wrappers
        endpoint = endpoint.__wrapped__
    limited = hasattr(endpoint, "onething_body_limit")
    api_post = not page and method == "POST"

    found: set[int] = set(getattr(endpoint, "onething_answers", ()))
    if not (page and method == "POST"):
        found.add(getattr(route, "status_code", None) or 200)
    elif 200 not in found:  # a page's form posts on to the next page, unless it shows one
        found.add(303)
    found |= {
        status
        for status, entry in (route.responses or {}).items()
        if str(status).isdigit() and entry is not ERROR_RESPONSES.get(status)
    }
    if signed_in:
        found |= {401, 303} if page else {401}
    if role or csrf:
        found.add(403)
    if path_parameters:
        found.add(404)
    if any(_can_fail(field) for field in parameters):
        found.add(422)
    if body is not None or csrf or limited or api_post:
        found.add(413)
    if body is not None or csrf or limited:
        found.add(400)  # a body that cannot be read (not JSON text, a broken multipart form)
    if api_post:
        found |= {409, 422}
    if get_session in calls:
        found.add(503)
    return found


FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")
FILE_EXAMPLE = "(the file's content)"


def _form_example(models: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any] | None:
    """A form body's example from its fields' own examples (a file part: a placeholder), when
    every required field has one; a form whose fields declare none gets none (but one of files
    only gets its placeholders)."""
    model = models.get(schema.get("$ref", "").rsplit("/", 1)[-1], schema)
    example: dict[str, Any] = {}
    for name, field in model.get("properties", {}).items():
        if field.get("examples"):
            example[name] = field["examples"][0]
        elif "contentMediaType" in field or field.get("format") == "binary":
            example[name] = FILE_EXAMPLE
    complete = set(model.get("required", ())) <= example.keys()
    declared = any(value != FILE_EXAMPLE for value in example.values())
    only_files = bool(example) and len(example) == len(model.get("properties", {}))
    return example if complete and (declared or only_files) else None


def _walk(dependant: Dependant) -> tuple[set, list, list]:
    """The calls of a route's dependencies (theirs too), all its parameters (its body's fields
    too), and its path's."""
    calls: set = set()
    parameters: list = []
    found = [dependant]
    while found:
        current = found.pop()
        parameters += [
            *current.path_params,
            *current.query_params,
            *current.header_params,
            *current.cookie_params,
            *current.body_params,
        ]
        for dependency in current.dependencies:
            calls.add(dependency.call)
            found.append(dependency)
    return calls, parameters, [p for p in parameters if p in dependant.path_params]


def _can_fail(field) -> bool:
    """Whether a parameter's validation can fail: a required one, a constrained one, or one of a
    type other than text."""
    info = field.field_info
    return info.is_required() or bool(info.metadata) or info.annotation not in (str, str | None)


def openapi_document() -> dict[str, Any]:
    """The app's OpenAPI document. Building it touches no database: a stand-in runtime does."""
    from web.app import create_app  # (web.app uses this module)

    return create_app(SimpleNamespace()).openapi()  # type: ignore[arg-type]


def document_text(document: dict[str, Any]) -> str:
    """The document as published: indented JSON, Chinese as it is, one line at the end."""
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def add_openapi_command(commands) -> None:
    """`onething openapi`: write the OpenAPI document (to docs/openapi.json by default)."""
    command = commands.add_parser("openapi", help=f"write the OpenAPI document ({PUBLISHED})")
    command.add_argument("--output", type=Path, default=PUBLISHED, help="a file, or - for stdout")
    command.set_defaults(run=_write_document)


def _write_document(args: argparse.Namespace) -> int:
    text = document_text(openapi_document())
    if str(args.output) == "-":
        print(text, end="")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"onething: wrote {args.output}")
    return 0
