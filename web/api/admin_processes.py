"""Each matter's process over the API: the list with current versions, the BPMN XML, validate,
deploy (JSON or an uploaded `.bpmn` file), versions, diff and rollback. The bpmn-js editor page
calls these; the pages are in web/routes/processes.py."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import File, Form, Response, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from engine.interchange import ProcessChoice
from engine.validation import Problem, xml_bytes
from forms.catalog import Matter
from services import processes
from services.accounts.models import User
from services.accounts.service import actor_names
from services.cases.schemas import ID_MAX, ErrorPublic, FieldMessage
from services.processes import MAX_BPMN_BYTES
from services.processes_models import ProcessVersion
from services.runtime import Runtime
from web.api.admin import too_large
from web.api.routing import api_router
from web.deps import AdminUser, Code, CsrfChecked, Number, Page, RuntimeDep, SessionDep
from web.limits import FORM_SLACK, body_limit, size_text
from web.problems import PROBLEM, problem_body

router = api_router(prefix="/admin/processes", tags=["api: processes"])

VERSIONS_PER_PAGE = 50
# What an answer about a process file repeats of it, at most: it never echoes the file back
ECHO_ID, ECHO_MESSAGE, ECHO_PROBLEMS = 200, 500, 200
BPMN_MEDIA_TYPE = "application/xml"


# ---------------------------------------------------------------- shapes


# A process id chosen among a file's pools (an XML name, as modelers generate them)
PROCESS_ID = r"^[A-Za-z_][A-Za-z0-9_.-]*$"


class ProblemPublic(BaseModel):
    """What stops a process being deployed (or was converted on import), at its element: what
    to change, in Chinese and English."""

    element_id: str | None = Field(description="The BPMN element (null: the file as a whole)")
    element_name: str | None = Field(
        default=None, description="The element's name in the diagram (null: it has none)"
    )
    message: str
    message_en: str


class ProcessChoicePublic(BaseModel):
    """One process of a file with several pools: send its `process_id` to use it."""

    process_id: str
    name: str = Field(description="The process's name (may be empty)")
    participant: str = Field(description="The name of the pool that shows it (may be empty)")
    tasks: int = Field(description="Its tasks, sub-processes and call activities")


class VerdictsPublic(BaseModel):
    """The two verdicts on a process file, kept apart: `runs` (can it run here: XML, engine,
    sandbox, paths) and `fits` (does it fit this matter: lanes are departments, tasks bound to
    the matter's items); `processes`: a choice to make first."""

    runs: list[ProblemPublic] = Field(
        default_factory=list, description="能否在本系统运行 / Can it run here: what stops it"
    )
    fits: list[ProblemPublic] = Field(
        default_factory=list,
        description="是否符合本事项 / Does it fit this matter: what stops it serving the matter",
    )
    fits_checked: bool = Field(
        default=True,
        description="false: the file could not be read far enough to check it against the "
        "matter (`fits` is empty for that reason)",
    )
    processes: list[ProcessChoicePublic] = Field(
        default_factory=list,
        description="The file has several processes: choose one (`process_id`) and send again",
    )


class ValidationPublic(VerdictsPublic):
    ok: bool = Field(description="The process may be deployed")
    problems: list[ProblemPublic] = Field(description="Every problem that stops it (runs + fits)")
    notes: list[ProblemPublic] = Field(
        description="What another modeler's file had converted (Camunda properties, timers, "
        "pools, parallel splits, service tasks, encodings…)"
    )


class VersionPublic(BaseModel):
    """A deployed, immutable version of a matter's process."""

    matter: str
    version: int
    comment: str
    author_user_id: int
    author: str | None = Field(default=None, description="The administrator's display name")
    definition_key: str = Field(description="The content hash its cases run on")
    created_at: datetime


class ProcessRowPublic(BaseModel):
    matter: str
    name: str
    name_en: str
    current: VersionPublic | None = Field(
        description="What new cases use (null: the built-in file in bpmn/)"
    )
    versions: int = Field(description="Deployed versions")


class DiffPublic(BaseModel):
    """Element ids added, removed and changed between two versions (layout is not compared)."""

    model_config = ConfigDict(populate_by_name=True)

    matter: str
    from_: int = Field(alias="from")
    to: int
    added: list[str]
    removed: list[str]
    changed: list[str]
    decisions_changed: list[str] = Field(description="Decision tables whose content differs")


class ProcessRefusedPublic(ErrorPublic):
    """A 422: a process refused for `problems` (each at its element; the file's own problems
    also split into `runs` and `fits`), or a request that does not match this document
    (`fields`)."""

    problems: list[ProblemPublic] | None = Field(
        default=None, description="Every problem that stops the process, at its element"
    )
    runs: list[ProblemPublic] | None = Field(
        default=None, description="能否在本系统运行 / Can it run here: what stops it"
    )
    fits: list[ProblemPublic] | None = Field(
        default=None, description="是否符合本事项 / Does it fit this matter: what stops it"
    )
    fits_checked: bool | None = Field(
        default=None, description="false: the file could not be read far enough to check `fits`"
    )
    processes: list[ProcessChoicePublic] | None = Field(
        default=None, description="The file has several processes: choose one (`process_id`)"
    )
    fields: dict[str, FieldMessage] | None = Field(
        default=None, description="A message per field of the request"
    )


class BpmnIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"xml": '<?xml version="1.0"?><definitions …/>'}]}
    )

    xml: str = Field(
        max_length=MAX_BPMN_BYTES,
        description="The BPMN 2.0 XML (its declared encoding, if any, is taken as UTF-8: the "
        "text is already decoded)",
    )
    process_id: str | None = Field(
        default=None,
        max_length=200,
        pattern=PROCESS_ID,
        description="Which process to use of a file with several pools (see `processes`)",
    )


class DeployIn(BpmnIn):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"xml": '<?xml version="1.0"?><definitions …/>', "comment": "加入社保"}]
        }
    )

    comment: str = Field(default="", max_length=500, description="Why this version")


class RollbackIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"version": 2, "comment": "新版本条件有误"}]}
    )

    version: int = Field(ge=1, le=ID_MAX, description="The version whose content to deploy again")
    comment: str = Field(default="", max_length=500)


ProcessIdForm = Annotated[
    str | None,
    Form(
        max_length=200,
        pattern=PROCESS_ID,
        description="Which process to use of a file with several pools",
        examples=["Process_1"],
    ),
]

REFUSED = {
    422: {
        "model": ProcessRefusedPublic,
        "description": "The process was refused: `problems` names each at its element "
        "(nothing was stored)",
    }
}


# ---------------------------------------------------------------- shared with the pages


def problems_json(problems: list[Problem]) -> list[dict]:
    """Problems as answered, shortened: an answer never echoes the file back."""
    return [
        {
            "element_id": (p.element_id or "")[:ECHO_ID] or None,
            "element_name": (p.name or "")[:ECHO_ID] or None,
            "message": p.message[:ECHO_MESSAGE],
            "message_en": p.message_en[:ECHO_MESSAGE],
        }
        for p in problems[:ECHO_PROBLEMS]
    ]


def choices_json(choices: list[ProcessChoice]) -> list[dict]:
    return [
        {
            "process_id": c.process_id[:ECHO_ID],
            "name": c.name[:ECHO_ID],
            "participant": c.participant[:ECHO_ID],
            "tasks": c.tasks,
        }
        for c in choices[:ECHO_PROBLEMS]
    ]


def verdicts_json(review: processes.Review) -> dict:
    """The two verdicts of a review, and the processes to choose from."""
    return {
        "runs": problems_json(review.runs),
        "fits": problems_json(review.fits),
        "fits_checked": review.fits_checked,
        "processes": choices_json(review.processes),
    }


def version_public(version: ProcessVersion, authors: dict[int, str]) -> VersionPublic:
    return VersionPublic(
        matter=version.matter,
        version=version.version,
        comment=version.comment,
        author_user_id=version.author_user_id,
        author=authors.get(version.author_user_id),
        definition_key=version.definition_key,
        created_at=version.created_at,
    )


def _deployed(session: Session, version: ProcessVersion) -> VersionPublic:
    return version_public(version, actor_names(session, [version], column="author_user_id"))


def _refused(exc: processes.Refused) -> JSONResponse:
    """The refusal with its problems, shortened, instead of `fields` (keyed by element ids,
    which are input)."""
    body = {k: v for k, v in problem_body(exc).items() if k != "fields"}
    body["problems"] = problems_json(exc.problems)
    if exc.review is not None:
        body.update(verdicts_json(exc.review))
    return JSONResponse(body, status_code=422, media_type=PROBLEM)


def deploy_upload(
    session: Session,
    rt: Runtime,
    user: User,
    matter_code: str,
    upload: tuple[bytes, str, str],
    choice: str | None = None,
) -> ProcessVersion:
    """Deploy an uploaded file: (content read up to one byte over the limit, file name,
    comment), as bytes (lxml reads the encoding the file declares); `choice`: the process to
    use of a file with several pools."""
    content, filename, comment = upload
    return processes.deploy_file(
        session,
        rt,
        matter_code=matter_code,
        content=content,
        filename=filename,
        author=user,
        comment=comment,
        choice=choice,
    )


def version_page(
    session: Session, rt: Runtime, matter_code: str, *, page: int
) -> tuple[Matter, list[ProcessVersion], dict[int, str]]:
    """The matter (NotFound if none), a page of its versions, newest first, and their authors'
    display names."""
    matter = processes.matter_of(rt, matter_code)
    history = processes.versions(
        session,
        matter_code=matter.code,
        limit=VERSIONS_PER_PAGE,
        offset=(page - 1) * VERSIONS_PER_PAGE,
    )
    return matter, history, actor_names(session, history, column="author_user_id")


async def read_upload(file: UploadFile, comment: str) -> tuple[bytes, str, str]:
    """The uploaded file's content (up to one byte over the limit), name and the comment."""
    return await file.read(MAX_BPMN_BYTES + 1), file.filename or "", comment


# ---------------------------------------------------------------- operations


@router.get("", response_model=list[ProcessRowPublic])
def process_list(user: AdminUser, session: SessionDep, rt: RuntimeDep):
    """Every matter with the process version new cases use and the number of versions."""
    rows = processes.matter_processes(session, rt)
    authors = actor_names(
        session, [row.current for row in rows if row.current], column="author_user_id"
    )
    return [
        ProcessRowPublic(
            matter=row.matter.code,
            name=row.matter.name,
            name_en=row.matter.name_en,
            current=version_public(row.current, authors) if row.current else None,
            versions=row.count,
        )
        for row in rows
    ]


@router.get(
    "/{matter_code}/bpmn",
    response_class=Response,
    responses={
        200: {
            "description": "The BPMN 2.0 XML, as an attachment",
            "content": {BPMN_MEDIA_TYPE: {"schema": {"type": "string"}}},
        }
    },
)
def bpmn_content(
    matter_code: Code,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
    version: Number | None = None,
    download: bool = False,
):
    """The BPMN XML of a version (default: what new cases use now)."""
    matter = processes.matter_of(rt, matter_code)
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
    return Response(content, media_type=BPMN_MEDIA_TYPE, headers=headers)


@router.post(
    "/{matter_code}/validate",
    response_model=ValidationPublic,
    dependencies=[CsrfChecked],
    responses=too_large(2 * MAX_BPMN_BYTES),
)
@body_limit(2 * MAX_BPMN_BYTES)
def validate(body: BpmnIn, matter_code: Code, user: AdminUser, session: SessionDep, rt: RuntimeDep):
    """Every problem that would stop this XML being deployed, by element id, in two verdicts
    (`runs`: can it run here; `fits`: does it fit this matter); nothing is stored. A file with
    several pools lists its `processes`: send again with `process_id`."""
    matter = processes.matter_of(rt, matter_code)
    decisions = processes.matter_decisions(session, rt, matter_code=matter.code)
    checked = processes.review(
        rt,
        matter_code=matter.code,
        content=xml_bytes(body.xml),
        decisions=decisions,
        choice=body.process_id,
    )
    return ValidationPublic(
        ok=not checked.problems,
        problems=problems_json(checked.problems),
        notes=problems_json(checked.notes),
        **verdicts_json(checked),
    )


@router.post(
    "/{matter_code}/deploy",
    response_model=VersionPublic,
    status_code=201,
    dependencies=[CsrfChecked],
    responses={**REFUSED, **too_large(2 * MAX_BPMN_BYTES)},
)
@body_limit(2 * MAX_BPMN_BYTES)
def deploy(body: DeployIn, matter_code: Code, user: AdminUser, session: SessionDep, rt: RuntimeDep):
    """Validate and store the XML as the matter's next version; new cases use it at once,
    running cases finish on their own version. 422 lists every problem by element id."""
    try:
        version = processes.deploy(
            session,
            rt,
            matter_code=matter_code,
            content=xml_bytes(body.xml),
            author=user,
            comment=body.comment,
            choice=body.process_id,
        )
    except processes.Refused as exc:
        return _refused(exc)
    return _deployed(session, version)


@router.post(
    "/{matter_code}/upload",
    response_model=VersionPublic,
    status_code=201,
    dependencies=[CsrfChecked],
    responses={
        **REFUSED,
        **too_large(MAX_BPMN_BYTES + FORM_SLACK),
    },
    description="Deploy a `.bpmn` file (from Camunda Modeler or the bpmn.io demo: their "
    "properties, decision references, ISO timer literals, implicit parallel splits and service "
    "tasks without an implementation are converted, and the file is read in the encoding it "
    "declares; JUEL/FEEL conditions are refused) as the matter's next version. At most "
    f"{size_text(MAX_BPMN_BYTES)} (a larger file is refused, 422 at `file`); 422 lists every "
    "problem by element id, split into `runs` and `fits`; a file with several pools is refused "
    "with its `processes` until `process_id` names one.",
)
@body_limit(MAX_BPMN_BYTES + FORM_SLACK)
async def upload(
    matter_code: Code,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
    file: Annotated[UploadFile, File(description="The BPMN 2.0 XML file")],
    comment: Annotated[
        str,
        Form(max_length=500, description="Why this version", examples=["新增材料核验步骤"]),
    ] = "",
    process_id: ProcessIdForm = None,
):
    uploaded = await read_upload(file, comment)
    try:
        version = await run_in_threadpool(
            deploy_upload, session, rt, user, matter_code, uploaded, process_id
        )
    except processes.Refused as exc:
        return _refused(exc)
    return await run_in_threadpool(_deployed, session, version)


@router.get("/{matter_code}/versions", response_model=list[VersionPublic])
def version_list(
    matter_code: Code, user: AdminUser, session: SessionDep, rt: RuntimeDep, page: Page = 1
):
    """The matter's deployed versions, newest first, 50 a page."""
    _matter, history, authors = version_page(session, rt, matter_code, page=page)
    return [version_public(v, authors) for v in history]


@router.get("/{matter_code}/diff", response_model=DiffPublic)
def diff(
    matter_code: Code, a: Number, b: Number, user: AdminUser, session: SessionDep, rt: RuntimeDep
):
    """Element ids added, removed and changed from version `a` to version `b`."""
    matter = processes.matter_of(rt, matter_code)
    return processes.diff(session, matter_code=matter.code, a=a, b=b)


@router.post(
    "/{matter_code}/rollback",
    response_model=VersionPublic,
    status_code=201,
    dependencies=[CsrfChecked],
    responses={**REFUSED, **too_large()},
)
def rollback(
    body: RollbackIn, matter_code: Code, user: AdminUser, session: SessionDep, rt: RuntimeDep
):
    """Deploy an earlier version's content again as a new version."""
    matter = processes.matter_of(rt, matter_code)
    try:
        version = processes.rollback(
            session,
            rt,
            matter_code=matter.code,
            to_version=body.version,
            author=user,
            comment=body.comment,
        )
    except processes.Refused as exc:
        return _refused(exc)
    return _deployed(session, version)
