"""Health endpoints for the proxy, the orchestrator and monitoring: `/healthz` (the process
answers) and `/readyz` (it can serve: database reachable, schema at the newest migration,
editor assets present, the certificates' font installed, file store writable). Public, read
nothing personal, and name no address, path or error."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services import health
from web.deps import RuntimeDep
from web.routes.processes import editor_assets_ready

router = APIRouter(tags=["operations"])
RETRY_SECONDS = 5


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, Literal["ok", "unavailable"]] = Field(
        default_factory=dict,
        description="Each dependency checked: `database` (reachable), `migrations` (the "
        "schema is at the newest revision this version knows), `editor_assets` (the process "
        "editor's bpmn-js), `certificate_font` (the font certificates embed), and "
        "`file_store` where files are kept in a directory (writable)",
    )


@router.get("/healthz", response_model=Health)
async def live() -> Health:
    """The process is up and its event loop answers (nothing else is checked): restart it if
    this fails."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    responses={
        503: {
            "model": Health,
            "description": "A dependency is unavailable: send requests elsewhere for now "
            "(`Retry-After` in seconds)",
        }
    },
)
def ready(rt: RuntimeDep):
    """Whether this host can serve requests now (run in a worker thread: it queries)."""
    checks = health.readiness(rt)
    checks["editor_assets"] = health.OK if editor_assets_ready() else health.UNAVAILABLE
    if all(value == health.OK for value in checks.values()):
        return Health(status="ok", checks=checks)
    body = Health(status="unavailable", checks=checks).model_dump()
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(RETRY_SECONDS)})
