"""Replaying a candidate change on recent cases before it goes live: a plain form (how many
cases, optionally a `.bpmn` file) and the result table, without script (JSON twins:
web/api/admin_replay.py; the process editor shows the same table from the API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from services import processes, replay
from services.errors import InvalidInput
from services.processes import MAX_BPMN_BYTES
from web.api.admin_replay import replay_public
from web.api.routing import PREFIX, twin
from web.deps import AdminUser, Code, CsrfChecked, RuntimeDep, SessionDep
from web.limits import FORM_SLACK, body_limit
from web.rendering import render

router = APIRouter(tags=["pages: admin"])
API = f"{PREFIX}/admin/replay"


def _page(request, rt, matter, *, limit: int, result=None, error=None):
    return render(
        request,
        "admin/replay.html",
        status_code=422 if error else 200,
        matter=matter,
        limit=limit,
        max_cases=replay.MAX_CASES,
        result=replay_public(rt, result) if result is not None else None,
        error=error,
    )


@router.get("/admin/replay/{matter_code}", response_class=HTMLResponse)
@twin(f"POST {API}/{{matter_code}}")
def replay_form(request: Request, matter_code: Code, user: AdminUser, rt: RuntimeDep):
    """The form: how many recent cases, and a candidate process file (none: as now)."""
    matter = processes.matter_of(rt, matter_code)
    return _page(request, rt, matter, limit=replay.DEFAULT_CASES)


@router.post("/admin/replay/{matter_code}", dependencies=[CsrfChecked], response_class=HTMLResponse)
@twin(f"POST {API}/{{matter_code}}")
@body_limit(MAX_BPMN_BYTES + FORM_SLACK)
async def replay_page(
    request: Request,
    matter_code: Code,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
    limit: Annotated[int, Form(examples=[50])] = replay.DEFAULT_CASES,
    file: Annotated[UploadFile | None, File()] = None,
):
    """Replay the uploaded process (or the current one) on the newest `limit` cases."""
    content = await file.read(MAX_BPMN_BYTES + 1) if file is not None and file.filename else None
    return await run_in_threadpool(
        _replay, request, session, rt, user, matter_code, content or None, limit
    )


def _replay(request, session, rt, user, matter_code: str, content, limit: int):
    matter = processes.matter_of(rt, matter_code)
    try:
        result = replay.replay(
            session, rt, user=user, matter_code=matter.code, content=content, limit=limit
        )
    except InvalidInput as exc:
        session.rollback()
        return _page(request, rt, matter, limit=limit, error=exc)
    return _page(request, rt, matter, limit=limit, result=result)
