"""Administrators edit, check and deploy each matter's process: the bpmn-js editor page, version
history with diff and rollback, and a plain upload form. The JSON operations the editor calls,
and the pages' twins, are in web/api/admin_processes.py."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from services import processes
from services.cases.schemas import ID_MAX
from services.errors import InvalidInput
from services.processes import MAX_BPMN_BYTES
from web.api.admin_processes import ProcessIdForm, deploy_upload, read_upload, version_page
from web.api.routing import PREFIX, twin
from web.deps import AdminUser, Code, CsrfChecked, Number, Page, RuntimeDep, SessionDep
from web.limits import FORM_SLACK, body_limit
from web.openapi import answers
from web.rendering import render

router = APIRouter(tags=["pages: admin"])
API = f"{PREFIX}/admin/processes"
# The editor's assets (bpmn-js), served by the app itself (no CDN: government networks are
# closed): in an installed wheel, the copy the build put into the package (setup.py); in a
# checkout, what `npm ci` installed from package.json.
_PACKAGED_BPMN_JS = Path(__file__).parent.parent / "static" / "vendor" / "bpmn-js"
_CHECKOUT_BPMN_JS = Path(__file__).parent.parent.parent / "node_modules" / "bpmn-js" / "dist"
VENDOR_BPMN_JS = _PACKAGED_BPMN_JS if _PACKAGED_BPMN_JS.is_dir() else _CHECKOUT_BPMN_JS


def editor_assets_ready() -> bool:
    """The editor page can load its modeler (else it says how to install it)."""
    return (VENDOR_BPMN_JS / "bpmn-modeler.production.min.js").is_file()


# ---------------------------------------------------------------- pages


@router.get("/admin/processes", response_class=HTMLResponse)
@twin(f"GET {API}")
def process_list(request: Request, user: AdminUser, session: SessionDep, rt: RuntimeDep):
    rows = processes.matter_processes(session, rt)
    tables = {  # each matter's decision tables, linked to their editor pages
        row.matter.code: processes.decision_ids(
            processes.matter_decisions(session, rt, matter_code=row.matter.code)
        )
        for row in rows
    }
    return render(request, "admin/processes.html", rows=rows, decision_tables=tables)


@router.get("/admin/processes/{matter_code}", response_class=HTMLResponse)
@twin(
    f"GET {API}/{{matter_code}}/bpmn",
    f"POST {API}/{{matter_code}}/validate",
    f"POST {API}/{{matter_code}}/layout",
    f"POST {API}/{{matter_code}}/deploy",
    f"POST {PREFIX}/admin/replay/{{matter_code}}",
    f"GET {API}/{{matter_code}}/overlay",
    f"GET {API}/{{matter_code}}/overlay/{{element_id}}/cases",
)
def editor(
    request: Request, matter_code: Code, user: AdminUser, session: SessionDep, rt: RuntimeDep
):
    matter = processes.matter_of(rt, matter_code)
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
            "bpmn": f"{API}/{matter.code}/bpmn",
            "validate": f"{API}/{matter.code}/validate",
            "layout": f"{API}/{matter.code}/layout",
            "deploy": f"{API}/{matter.code}/deploy",
            "versions": f"/admin/processes/{matter.code}/versions",
            "replay": f"{PREFIX}/admin/replay/{matter.code}",
        },
    }
    if request.query_params.get("lang") in ("zh", "en"):
        config["lang"] = request.query_params["lang"]
    return render(
        request,
        "admin/editor.html",
        matter=matter,
        version=processes.current_version(session, matter_code=matter.code),
        assets_ready=editor_assets_ready(),
        editor_config=config,
    )


def _versions_page(request, session, rt, matter_code: str, *, page: int = 1, error=None):
    """A page of the matter's versions; `error`: why an upload was refused (422)."""
    matter, history, authors = version_page(session, rt, matter_code, page=page)
    return render(
        request,
        "admin/process_versions.html",
        status_code=422 if error else 200,
        matter=matter,
        history=history,
        authors=authors,
        page=page,
        error=error,
    )


@router.get("/admin/processes/{matter_code}/versions", response_class=HTMLResponse)
@twin(f"GET {API}/{{matter_code}}/versions")
def version_history(
    request: Request,
    matter_code: Code,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
    page: Page = 1,
):
    return _versions_page(request, session, rt, matter_code, page=page)


@router.get("/admin/processes/{matter_code}/diff", response_class=HTMLResponse)
@twin(f"GET {API}/{{matter_code}}/diff")
def version_diff(
    request: Request,
    matter_code: Code,
    a: Number,
    b: Number,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    matter = processes.matter_of(rt, matter_code)
    return render(
        request,
        "admin/process_diff.html",
        matter=matter,
        diff=processes.diff(session, matter_code=matter.code, a=a, b=b),
    )


@router.post("/admin/processes/{matter_code}/rollback", dependencies=[CsrfChecked])
@twin(f"POST {API}/{{matter_code}}/rollback")
@answers(409)
def rollback_page(
    matter_code: Code,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
    version: Annotated[int, Form(ge=1, le=ID_MAX, examples=[2])],
    comment: Annotated[str, Form(max_length=500, examples=["恢复上一版本"])] = "",
):
    matter = processes.matter_of(rt, matter_code)
    new = processes.rollback(
        session, rt, matter_code=matter.code, to_version=version, author=user, comment=comment
    )
    return RedirectResponse(
        f"/admin/processes/{matter.code}/versions?deployed={new.version}", status_code=303
    )


@router.post(
    "/admin/processes/{matter_code}/upload",
    dependencies=[CsrfChecked],
    response_class=HTMLResponse,
)
@twin(f"POST {API}/{{matter_code}}/upload", f"POST {API}/{{matter_code}}/deploy")
@body_limit(MAX_BPMN_BYTES + FORM_SLACK)
@answers(409)
async def upload_page(
    request: Request,
    matter_code: Code,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
    file: Annotated[UploadFile, File()],
    comment: Annotated[str, Form(max_length=500, examples=["由 Camunda Modeler 绘制后导入"])] = "",
    process_id: ProcessIdForm = None,
):
    """Deploy an uploaded `.bpmn` file without the editor (e.g. made in Camunda Modeler); a
    refused file is shown with its two verdicts (can it run here, does it fit this matter), and
    a file with several pools with a choice of its processes."""
    uploaded = await read_upload(file, comment)
    return await run_in_threadpool(
        _deploy_upload, request, session, rt, user, matter_code, uploaded, process_id
    )


def _deploy_upload(request, session, rt, user, matter_code: str, uploaded, process_id):
    try:
        new = deploy_upload(session, rt, user, matter_code, uploaded, process_id)
    except InvalidInput as exc:
        session.rollback()
        return _versions_page(request, session, rt, matter_code, error=exc)
    return RedirectResponse(
        f"/admin/processes/{new.matter}/versions?deployed={new.version}", status_code=303
    )
