"""A process file's diagram laid out on the server (engine.layout), for the editor's import:
files from generators and from modelers that draw no diagram (or only part of it) open with
every pool, lane, task and flow drawn, lanes kept. bpmn-auto-layout, the browser's option,
drops pools and lanes, which are our departments: see engine/layout.py."""

from __future__ import annotations

from pydantic import BaseModel, Field

from engine.layout import ensure_layout
from engine.validation import xml_bytes
from services import processes
from services.processes import MAX_BPMN_BYTES
from web.api.admin import too_large
from web.api.admin_processes import BpmnIn
from web.api.routing import api_router
from web.deps import AdminUser, Code, CsrfChecked, RuntimeDep
from web.limits import body_limit

router = api_router(prefix="/admin/processes", tags=["api: processes"])


class LayoutPublic(BaseModel):
    laid_out: bool = Field(
        description="The diagram was missing or incomplete and was laid out anew (false: the "
        "file is returned as it came)"
    )
    xml: str = Field(description="The BPMN 2.0 XML, its process unchanged")


@router.post(
    "/{matter_code}/layout",
    response_model=LayoutPublic,
    dependencies=[CsrfChecked],
    responses=too_large(2 * MAX_BPMN_BYTES),
)
@body_limit(2 * MAX_BPMN_BYTES)
def layout(body: BpmnIn, matter_code: Code, user: AdminUser, rt: RuntimeDep):
    """The file with its diagram laid out when it lacks one or part of one (a pool, lane, flow
    node or sequence flow without a shape); nothing is checked or stored: validate does that."""
    processes.matter_of(rt, matter_code)
    content = xml_bytes(body.xml)
    laid_out = ensure_layout(content)
    return LayoutPublic(laid_out=laid_out is not content, xml=laid_out.decode())
