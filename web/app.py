"""The FastAPI application: pages for citizens and clerks, a JSON API, one error handler."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from services.cases.deadlines import deadline_scheduler
from services.departments.webhooks import webhook_sender
from services.errors import DomainError, InvalidInput, TooManyRequests
from services.runtime import Runtime, build_runtime
from web.deps import NotSignedIn, read_only_engine, request_slots
from web.rendering import render
from web.routes import (
    admin,
    admin_matters,
    admin_settings,
    admin_users,
    api,
    auth,
    citizen,
    clerk,
    evaluations,
    frontdesk,
    inbox,
    processes,
    verify,
    workbench_api,
)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error_body(exc: DomainError) -> dict:
    body = {"detail": exc.message, "detail_en": exc.message_en}
    if isinstance(exc, InvalidInput):
        body["fields"] = {key: {"zh": zh, "en": en} for key, (zh, en) in exc.fields.items()}
    return body


def create_app(runtime: Runtime | None = None) -> FastAPI:
    runtime = runtime or build_runtime()

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        workers = []
        if runtime.settings.webhooks:
            workers.append(webhook_sender(runtime.db, runtime.settings.webhooks))
        if runtime.settings.deadline_interval > 0:
            workers.append(deadline_scheduler(runtime, runtime.settings.deadline_interval))
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
    if processes.VENDOR_BPMN_JS.is_dir():
        app.mount(
            "/vendor/bpmn-js", StaticFiles(directory=processes.VENDOR_BPMN_JS), name="bpmn-js"
        )
    for router in (  # the JSON API first: its requests then match a route sooner
        api.router,
        workbench_api.router,
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
        processes.api,
        verify.router,
    ):
        app.include_router(router)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError):
        if _wants_json(request):
            response = JSONResponse(_error_body(exc), status_code=exc.status)
        elif isinstance(exc, NotSignedIn):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        else:
            response = render(request, "error.html", status_code=exc.status, error=exc)
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    return app
