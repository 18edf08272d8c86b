"""Administrators edit, check and deploy each matter's process: the bpmn-js editor page, version
history with diff and rollback, a plain upload form, and the JSON operations the editor calls."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from engine.validation import Problem
from services import processes
from services.accounts.service import actor_names
from services.cases.schemas import ID_MAX
from services.errors import InvalidInput, NotFound
from web.api.routing import PREFIX, api_router
from web.deps import AdminUser, Code, CsrfChecked, Number, Page, RuntimeDep, SessionDep
from web.limits import FORM_SLACK, body_limit
from web.problems import PROBLEM, problem_body
from web.rendering import render

router = APIRouter(tags=["pages: admin"])
api = api_router(prefix="/admin/processes", tags=["api: processes"])  # under /api/v1
MAX_BPMN_BYTES = 2_000_000
# The editor's assets, installed by `npm ci` from package.json and served by the app (no CDN:
# government networks are closed).
VENDOR_BPMN_JS = Path(__file__).parent.parent.parent / "node_modules" / "bpmn-js" / "dist"


def _vendor_ready() -> bool:
    return (VENDOR_BPMN_JS / "bpmn-modeler.production.min.js").is_file()


# What an answer about a process file repeats of it, at most: it never echoes the file back
ECHO_ID, ECHO_MESSAGE, ECHO_PROBLEMS = 200, 500, 200


def _problem_json(problem: Problem) -> dict:
    return {
        "element_id": (problem.element_id or "")[:ECHO_ID] or None,
        "message": problem.message[:ECHO_MESSAGE],
        "message_en": problem.message_en[:ECHO_MESSAGE],
    }


def _problems_json(problems) -> list[dict]:
    return [_problem_json(p) for p in problems[:ECHO_PROBLEMS]]


def _version_json(version) -> dict:
    return {
        "matter": version.matter,
        "version": version.version,
        "comment": version.comment,
        "author_user_id": version.author_user_id,
        "definition_key": version.definition_key,
        "created_at": version.created_at.isoformat(timespec="seconds"),
    }


def _too_large(size: int) -> None:
    if size > MAX_BPMN_BYTES:
        raise InvalidInput(
            "xml",
            f"流程文件过大（{size // 1024} KB），上限 {MAX_BPMN_BYTES // 1_000_000} MB",
            f"the process file is too large ({size // 1024} KB); the limit is "
            f"{MAX_BPMN_BYTES // 1_000_000} MB",
        )


def _matter_or_404(rt, code: str):
    matter = rt.catalog.matters.get(code)
    if matter is None:
        raise NotFound(f"没有一件事 {code}", f"no matter {code}")
    return matter


# ---------------------------------------------------------------- pages


@router.get("/admin/processes")
def process_list(request: Request, user: AdminUser, session: SessionDep, rt: RuntimeDep):
    rows = []
    for matter in rt.catalog.matters.values():
        history = processes.versions(session, matter_code=matter.code, limit=1000)
        rows.append(
            {"matter": matter, "current": history[0] if history else None, "count": len(history)}
        )
    return render(request, "admin/processes.html", rows=rows)


@router.get("/admin/processes/{matter_code}")
def editor(
    request: Request, matter_code: Code, user: AdminUser, session: SessionDep, rt: RuntimeDep
):
    matter = _matter_or_404(rt, matter_code)
    decisions = processes.matter_decisions(session, rt, matter_code=matter.code)
    config = {
        "matter": matter.code,
        "lang": "en" if request.cookies.get("lang") == "en" else "zh",
        "departments": [
            {"code": d.code, "name": d.name, "name_en": d.name_en}
            for d in rt.catalog.departments.values()
        ],
        "items": [
            {
                "code": item.code,
                "name": item.name,
                "name_en": item.name_en,
                "department": item.department,
                "in_matter": item.code in matter.items,
            }
            for item in rt.catalog.items.values()
        ],
        "decisions": processes.decision_ids(decisions),
        "urls": {
            "bpmn": f"{PREFIX}/admin/processes/{matter.code}/bpmn",
            "validate": f"{PREFIX}/admin/processes/{matter.code}/validate",
            "deploy": f"{PREFIX}/admin/processes/{matter.code}/deploy",
            "versions": f"/admin/processes/{matter.code}/versions",
        },
    }
    if request.query_params.get("lang") in ("zh", "en"):
        config["lang"] = request.query_params["lang"]
    return render(
        request,
        "admin/editor.html",
        matter=matter,
        version=processes.current_version(session, matter_code=matter.code),
        assets_ready=_vendor_ready(),
        editor_config=config,
    )


@router.get("/admin/processes/{matter_code}/versions")
def version_history(
    request: Request,
    matter_code: Code,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
    page: Page = 1,
):
    matter = _matter_or_404(rt, matter_code)
    page = max(page, 1)
    history = processes.versions(session, matter_code=matter.code, limit=50, offset=(page - 1) * 50)
    return render(
        request,
        "admin/process_versions.html",
        matter=matter,
        history=history,
        authors=actor_names(session, history, column="author_user_id"),
        page=page,
        error=None,
    )


@router.get("/admin/processes/{matter_code}/diff")
def version_diff(
    request: Request,
    matter_code: Code,
    a: Number,
    b: Number,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    matter = _matter_or_404(rt, matter_code)
    return render(
        request,
        "admin/process_diff.html",
        matter=matter,
        diff=processes.diff(session, matter_code=matter.code, a=a, b=b),
    )


@router.post("/admin/processes/{matter_code}/rollback", dependencies=[CsrfChecked])
def rollback_page(
    matter_code: Code,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
    version: Annotated[int, Form(ge=1, le=ID_MAX)],
    comment: Annotated[str, Form(max_length=500)] = "",
):
    _matter_or_404(rt, matter_code)
    new = processes.rollback(
        session, rt, matter_code=matter_code, to_version=version, author=user, comment=comment
    )
    return RedirectResponse(
        f"/admin/processes/{matter_code}/versions?deployed={new.version}", status_code=303
    )


@router.post("/admin/processes/{matter_code}/upload", dependencies=[CsrfChecked])
@body_limit(MAX_BPMN_BYTES + FORM_SLACK)
async def upload_page(
    request: Request,
    matter_code: Code,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
    file: Annotated[UploadFile, File()],
    comment: Annotated[str, Form(max_length=500)] = "",
):
    """Deploy an uploaded `.bpmn` file without the editor (e.g. made in Camunda Modeler)."""
    matter = _matter_or_404(rt, matter_code)
    content = await file.read(MAX_BPMN_BYTES + 1)
    return await run_in_threadpool(
        _deploy_upload, request, session, rt, user, matter, content, comment, file.filename
    )


def _deploy_upload(request, session, rt, user, matter, content: bytes, comment: str, name):
    try:
        _too_large(len(content))
        new = _deploy(session, rt, matter.code, content, comment or f"上传 {name}", user)
    except InvalidInput as exc:
        history = processes.versions(session, matter_code=matter.code, limit=50)
        return render(
            request,
            "admin/process_versions.html",
            status_code=422,
            matter=matter,
            history=history,
            authors=actor_names(session, history, column="author_user_id"),
            page=1,
            error=exc,
        )
    return RedirectResponse(
        f"/admin/processes/{matter.code}/versions?deployed={new.version}", status_code=303
    )


# ---------------------------------------------------------------- JSON operations


class BpmnIn(BaseModel):
    xml: str = Field(max_length=MAX_BPMN_BYTES, description="The BPMN 2.0 XML")


class DeployIn(BpmnIn):
    comment: str = Field(default="", max_length=500, description="Why this version")


class RollbackIn(BaseModel):
    version: int = Field(ge=1, le=ID_MAX)
    comment: str = Field(default="", max_length=500)


def _deploy(session: Session, rt, matter_code: str, content: bytes, comment: str, user):
    decisions = processes.matter_decisions(session, rt, matter_code=matter_code)
    return processes.deploy(
        session,
        rt,
        matter_code=matter_code,
        content=content,
        decisions=decisions,
        author=user,
        comment=comment,
    )


@api.get("/{matter_code}/bpmn", response_class=Response)
def bpmn_content(
    matter_code: Code,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
    version: Number | None = None,
    download: bool = False,
):
    """The BPMN XML of a version (default: what new cases use now)."""
    matter = _matter_or_404(rt, matter_code)
    if version is None:
        content = processes.matter_content(session, rt, matter_code=matter.code)
        name = f"{matter.code}.bpmn"
    else:
        found = processes.get_version(session, matter_code=matter.code, version=version)
        content = processes.definition_of(session, found).content
        name = f"{matter.code}-v{version}.bpmn"
    # Always an attachment (`download` is kept for old links): a browser never renders a
    # stored process as a document of this site.
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(content, media_type="application/xml", headers=headers)


@api.post("/{matter_code}/validate", dependencies=[CsrfChecked])
@body_limit(2 * MAX_BPMN_BYTES)
def validate(body: BpmnIn, matter_code: Code, user: AdminUser, session: SessionDep, rt: RuntimeDep):
    """Every problem that would stop this XML being deployed, by element id; nothing is stored."""
    matter = _matter_or_404(rt, matter_code)
    content = body.xml.encode()
    decisions = processes.matter_decisions(session, rt, matter_code=matter.code)
    checked = processes.review(rt, matter_code=matter.code, content=content, decisions=decisions)
    return {
        "ok": not checked.problems,
        "problems": _problems_json(checked.problems),
        "notes": _problems_json(checked.notes),
    }


@api.post("/{matter_code}/deploy", status_code=201, dependencies=[CsrfChecked])
@body_limit(2 * MAX_BPMN_BYTES)
def deploy(body: DeployIn, matter_code: Code, user: AdminUser, session: SessionDep, rt: RuntimeDep):
    """Validate and store the XML as the matter's next version; new cases use it at once,
    running cases finish on their own version. 422 lists every problem by element id."""
    matter = _matter_or_404(rt, matter_code)
    try:
        version = _deploy(session, rt, matter.code, body.xml.encode(), body.comment, user)
    except processes.Refused as exc:
        # the problems, shortened, instead of `fields` (keyed by element ids, which are input)
        body = {k: v for k, v in problem_body(exc).items() if k != "fields"}
        body["problems"] = _problems_json(exc.problems)
        return JSONResponse(body, status_code=422, media_type=PROBLEM)
    return _version_json(version)


@api.get("/{matter_code}/versions")
def version_list(matter_code: Code, user: AdminUser, session: SessionDep, rt: RuntimeDep):
    matter = _matter_or_404(rt, matter_code)
    return [_version_json(v) for v in processes.versions(session, matter_code=matter.code)]


@api.get("/{matter_code}/diff")
def diff(
    matter_code: Code, a: Number, b: Number, user: AdminUser, session: SessionDep, rt: RuntimeDep
):
    """Element ids added, removed and changed between two versions."""
    matter = _matter_or_404(rt, matter_code)
    return processes.diff(session, matter_code=matter.code, a=a, b=b)


@api.post("/{matter_code}/rollback", status_code=201, dependencies=[CsrfChecked])
def rollback(
    body: RollbackIn, matter_code: Code, user: AdminUser, session: SessionDep, rt: RuntimeDep
):
    """Deploy an earlier version's content again as a new version."""
    matter = _matter_or_404(rt, matter_code)
    version = processes.rollback(
        session,
        rt,
        matter_code=matter.code,
        to_version=body.version,
        author=user,
        comment=body.comment,
    )
    return _version_json(version)
