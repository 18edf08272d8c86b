"""Health endpoints for the proxy, the orchestrator and monitoring: `/health/live` (the process
answers) and `/health/ready` (it can serve: database and file store reachable). Public, read
nothing personal, and name no address or error."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services import health
from web.deps import RuntimeDep

router = APIRouter(tags=["operations"])
RETRY_SECONDS = 5


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, Literal["ok", "unavailable"]] = Field(
        default_factory=dict,
        description="Each dependency checked: `database`, and `file_store` where files are kept "
        "in a directory",
    )


@router.get("/health/live", response_model=Health)
async def live() -> Health:
    """The process is up and its event loop answers (nothing else is checked)."""
    return Health(status="ok")


@router.get(
    "/health/ready",
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
    if all(value == health.OK for value in checks.values()):
        return Health(status="ok", checks=checks)
    body = Health(status="unavailable", checks=checks).model_dump()
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(RETRY_SECONDS)})
