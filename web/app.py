"""The FastAPI application: pages for citizens and clerks, a JSON API, and the one place where
errors become answers: JSON for the API and bearer clients, the Chinese-first error page for
browsers, never the input and nothing internal."""

from __future__ import annotations

import gc
import logging
import secrets
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from services.cases.deadlines import deadline_scheduler
from services.cases.schemas import InvalidInputPublic
from services.db import wal_checkpointer
from services.departments.webhooks import webhook_sender
from services.errors import DomainError, InvalidInput, TooManyRequests
from services.maintenance.jobs import maintenance_workers
from services.runtime import Runtime, build_runtime
from web import db_errors, observe
from web.admission import Admission
from web.api import v1 as api_v1
from web.api import webhooks as api_webhooks
from web.client_gone import ClientWatch
from web.deps import NotSignedIn, read_only_engine, request_slots
from web.health import router as health_router
from web.limits import BodyLimit, BodyTooLarge
from web.metrics import router as metrics_router
from web.openapi import document_answers
from web.problems import HTTP_CODES, PROBLEM, problem_body
from web.rendering import render
from web.routes import (
    admin,
    admin_matters,
    admin_settings,
    admin_users,
    agency,
    auth,
    catalog,
    citizen,
    clerk,
    decisions,
    evaluations,
    explanations,
    frontdesk,
    inbox,
    migrations,
    offers,
    operations,
    overlay,
    preferences,
    processes,
    repair,
    replay,
    verify,
)
from web.security_headers import ResponseHeaders, SecurityHeaders

FAVICON = "/static/favicon.svg"  # base.html names it too
log = logging.getLogger(__name__)


def _wants_json(request: Request) -> bool:
    """JSON for the API and for clients signing in with a bearer token; browsers get pages."""
    if request.url.path.startswith("/api/"):
        return True
    return request.headers.get("authorization", "")[:7].lower() == "bearer "


def _error_response(request: Request, exc: DomainError, **context) -> JSONResponse | HTMLResponse:
    """The answer for `exc`: its problem details, or the error page (with `context`, e.g. a
    reference)."""
    if _wants_json(request):
        body = problem_body(exc)
        if context.get("reference"):
            body["reference"] = context["reference"]
        return JSONResponse(body, status_code=exc.status, media_type=PROBLEM)
    return render(request, "error.html", status_code=exc.status, error=exc, **context)


class HttpError(DomainError):
    """A refusal by the web framework itself (no such page, wrong method, an unreadable body),
    in both languages, with the framework's status."""

    def __init__(self, status: int, message: str, message_en: str) -> None:
        super().__init__(message, message_en, code=HTTP_CODES.get(status, f"http_{status}"))
        self.status = status


HTTP_MESSAGES = {
    400: ("无法读取提交的内容", "The request could not be read"),
    401: ("请先登录", "Please sign in"),
    403: ("您的账号无权进行此操作", "Your account may not do this"),
    404: ("您访问的页面或内容不存在", "There is no such page or record"),
    405: ("此地址不支持这种请求方式", "This address does not take this kind of request"),
    406: ("无法按要求的格式答复", "No answer in the requested format"),
    415: ("不支持提交的内容类型", "The request's content type is not supported"),
    500: (
        "系统出现错误，请稍后再试；如需帮助，请提供参考编号",
        "Something went wrong on our side: try again later, or quote the reference",
    ),
}


def http_error(status: int) -> HttpError:
    message, message_en = HTTP_MESSAGES.get(
        status, ("无法完成请求", f"The request could not be completed (HTTP {status})")
    )
    return HttpError(status, message, message_en)


# What a field's value failed, in Chinese, by pydantic's error type (`{...}`: the error's
# context); the English is pydantic's own message. Neither ever contains the value itself.
VALIDATION_MESSAGES = {
    "missing": "必须填写",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "bool_parsing": "应为是或否",
    "bool_type": "应为是或否",
    "less_than_equal": "不能大于 {le}",
    "greater_than_equal": "不能小于 {ge}",
    "less_than": "应小于 {lt}",
    "greater_than": "应大于 {gt}",
    "string_too_long": "不能超过 {max_length} 个字符",
    "string_too_short": "至少需要 {min_length} 个字符",
    "too_long": "最多 {max_length} 项",
    "too_short": "至少 {min_length} 项",
    "string_pattern_mismatch": "格式不符或含有不允许的字符",
    "string_type": "应为文字",
    "literal_error": "不是允许的取值",
    "enum": "不是允许的取值",
    "date_parsing": "日期格式应为年-月-日",
    "date_from_datetime_parsing": "日期格式应为年-月-日",
    "json_invalid": "不是有效的 JSON",
    "list_type": "应为列表",
    "dict_type": "格式不正确",
    "model_type": "格式不正确",
    "model_attributes_type": "格式不正确",
}
MESSAGE_LIMIT = 200  # characters of a message (a validator's own message could be long)
KEY_LIMIT = 100  # characters of a field's name (a key of a JSON object is input too)
FIELD_LIMIT = 20  # fields named in one answer


def _document_validation_errors(app: FastAPI) -> None:
    """The API document describes a request validation error as this app answers it (the
    InvalidInputPublic shape), not as FastAPI's default handler would have."""
    default = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = default()
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            found = InvalidInputPublic.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            for name, definition in found.pop("$defs", {}).items():
                schemas.setdefault(name, definition)
            schemas.setdefault("InvalidInputPublic", found)
            if "HTTPValidationError" in schemas:
                schemas["HTTPValidationError"] = {"$ref": "#/components/schemas/InvalidInputPublic"}
                schemas.pop("ValidationError", None)
            _problems_are_problem_json(schema)
            document_answers(schema, app.routes)
        return app.openapi_schema

    app.openapi = openapi


def _problems_are_problem_json(schema: dict) -> None:
    """Every 4xx and 5xx answer is declared with the media type it is sent with."""
    for path_operations in schema.get("paths", {}).values():
        for operation in path_operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status[:1] in "45" and "application/json" in content:
                    content[PROBLEM] = content.pop("application/json")


def invalid_request(exc: RequestValidationError) -> InvalidInput:
    """A request that does not match the route's parameters or body, as one InvalidInput naming
    each field (its location without "query"/"path"/"body") with what is wrong, not its value."""
    fields: dict[str, tuple[str, str]] = {}
    for error in exc.errors():
        where = [str(part) for part in error.get("loc", ())]
        key = (".".join(where[1:]) or (where[0] if where else "request"))[:KEY_LIMIT]
        context = {name: str(value) for name, value in (error.get("ctx") or {}).items()}
        try:
            zh = VALIDATION_MESSAGES.get(error.get("type", ""), "格式不正确").format(**context)
        except (KeyError, IndexError):
            zh = "格式不正确"
        en = str(error.get("msg") or "Invalid value")[:MESSAGE_LIMIT]
        fields.setdefault(key, (zh[:MESSAGE_LIMIT], en))
        if len(fields) == FIELD_LIMIT:
            break
    return InvalidInput(
        next(iter(fields), "request"),
        "提交的内容有误，请检查标出的项目",
        "The request has invalid values: see each field",
        fields=fields,
    )


def settle_heap(runtime: Runtime) -> int:
    """A served process's start-up: parse every process now, then move what the process holds
    for its life (modules, catalog, ORM metadata, parsed specs) out of the garbage collector's
    reach (`gc.freeze`), so that a full collection traverses only what requests made since. It
    held the interpreter for ~150-200 ms on a warm server, every worker's request waiting;
    ~25 ms after. Returns how many objects were frozen. (Not for an app a test builds: what
    it froze would stay until the process ends.)"""
    runtime.parse_all_specs()
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def served_app() -> FastAPI:
    """The app of one worker process of `onething serve --workers N` (uvicorn's factory)."""
    return create_app(served=True)


def create_app(runtime: Runtime | None = None, *, served: bool = False) -> FastAPI:
    """The ASGI app on `runtime` (built from the settings when None); `served`: the app of a
    server process (`onething serve`), which settles its heap at start-up (`settle_heap`)."""
    runtime = runtime or build_runtime()

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if served:
            frozen = await run_in_threadpool(settle_heap, runtime)
            log.info("start-up: %d objects set aside from garbage collection", frozen)
        workers = []
        if runtime.settings.webhooks:
            workers.append(webhook_sender(runtime.db, runtime.settings.webhooks))
        if runtime.settings.deadline_interval > 0:
            workers.append(deadline_scheduler(runtime, runtime.settings.deadline_interval))
        workers.extend(maintenance_workers(runtime))
        checkpointer = wal_checkpointer(runtime.db)
        if checkpointer is not None:
            workers.append(checkpointer)
        for worker in workers:
            worker.start()
        yield
        for worker in workers:
            worker.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="OneThing 一件事一次办",
        description="Combined government services: one form, one set of materials, "
        "routed in parallel to every department.",
        version="0.1.0",
    )
    app.state.runtime = runtime
    # (an app made only for its OpenAPI document may have no database)
    db = getattr(runtime, "db", None)
    app.state.db_slots = request_slots(db) if db is not None else None
    app.state.read_db = read_only_engine(db) if db is not None else None
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> RedirectResponse:
        """Browsers ask for /favicon.ico whatever the page names: send them to the icon the
        pages name (a static file, cached as the other assets are)."""
        return RedirectResponse(FAVICON, status_code=301)

    if processes.VENDOR_BPMN_JS.is_dir():
        app.mount(
            "/vendor/bpmn-js", StaticFiles(directory=processes.VENDOR_BPMN_JS), name="bpmn-js"
        )
    if decisions.VENDOR_DMN_JS.is_dir():
        app.mount("/vendor/dmn-js", StaticFiles(directory=decisions.VENDOR_DMN_JS), name="dmn-js")
    app.webhooks.include_router(api_webhooks.router)  # documented, never served
    api_v1.include(app)  # the JSON API first: its requests then match a route sooner
    for router in (
        auth.router,
        citizen.router,
        clerk.router,
        frontdesk.router,
        inbox.router,
        evaluations.router,
        admin.router,
        admin_matters.router,
        admin_settings.router,
        admin_users.router,
        processes.router,
        decisions.router,
        replay.router,
        catalog.router,
        operations.router,
        overlay.router,
        repair.router,
        migrations.router,
        offers.router,
        explanations.router,
        agency.router,
        verify.router,
        preferences.router,
        health_router,
        metrics_router,
    ):
        app.include_router(router)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError):
        if isinstance(exc, NotSignedIn) and not _wants_json(request):
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        response = _error_response(request, exc)
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect):
        """The client left while its body was being read (a live form's update overtaken by the
        next, a page left): nothing was done and nobody reads the answer; not an error of ours."""
        log.info("client left during %s %s", request.method, observe.route_template(request.scope))
        return Response(status_code=400)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        return _error_response(request, invalid_request(exc))

    @app.exception_handler(BodyTooLarge)
    async def body_too_large(request: Request, exc: BodyTooLarge):
        response = _error_response(request, HttpError(413, exc.message, exc.message_en))
        response.headers["Connection"] = "close"  # the rest of the body is not read
        return response

    @app.exception_handler(HTTPException)
    async def http_exception(request: Request, exc: HTTPException):
        response = _error_response(request, http_error(exc.status_code))
        for name, value in (exc.headers or {}).items():  # e.g. a 405's Allow
            response.headers.setdefault(name, value)
        return response

    headers = ResponseHeaders(
        docs_paths=[
            url for url in (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url) if url
        ],
        hsts=getattr(getattr(runtime, "settings", None), "secure_cookies", False),
    )

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception):
        """A failure nobody foresaw: the traceback goes to the log under a reference the answer
        gives, and the answer tells nothing of the failure itself."""
        reference = secrets.token_hex(6)
        log.error(
            "unexpected error, reference %s: %s %s",
            reference,
            request.method,
            observe.route_template(request.scope),  # the raw path may carry ids
            exc_info=exc,
        )
        try:
            response = _error_response(request, http_error(500), reference=reference)
        except Exception:  # the page itself failed (e.g. the database is down)
            log.exception("the error page failed, reference %s", reference)
            response = HTMLResponse(
                f"<!doctype html><title>500</title><p>{HTTP_MESSAGES[500][0]}</p>"
                f"<p>{HTTP_MESSAGES[500][1]}</p><p>{reference}</p>",
                status_code=500,
            )
        headers.add_to(response.raw_headers, request.url.path)  # sent outside the middleware
        return response

    db_errors.install(app)
    _document_validation_errors(app)
    app.add_middleware(BodyLimit, runtime=runtime)
    app.add_middleware(ClientWatch)  # a change whose client left is not committed
    settings = getattr(runtime, "settings", None)
    if settings is not None:  # (an app made only for its OpenAPI document has none)
        app.add_middleware(
            Admission,
            active=settings.max_active_requests,
            queued=settings.max_queued_requests,
            wait_ms=settings.queue_wait_ms,
        )
    app.add_middleware(SecurityHeaders, headers=headers)
    app.add_middleware(observe.RequestObserver)  # outermost: sees every answer, errors too
    return app
