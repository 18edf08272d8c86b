"""A department's tasks (待办) over the API: the queue with its filters, one task as its clerk
sees it (the case through the item, numbers masked), a number revealed for a stated reason,
deciding (approve, reject with a catalog reason, send back for correction), claiming. A task is
a case item; its id is the item's. The clerk's pages (`web/routes/clerk.py`) call the same
service functions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from forms.catalog import Item
from forms.sources import registry_name
from services.cases import decisions, progress, workbench
from services.cases.access import FactView
from services.cases.corrections import (
    AnsweredCorrection,
    answered_correction,
    corrected_at,
    registry_record,
)
from services.cases.models import CaseItem
from services.cases.progress import CASE_STATUS, ITEM_STATUS
from services.cases.result_data import result_rows
from services.cases.schemas import (
    ID_MAX,
    NO_NUL,
    CatalogItemRef,
    ChecklistEntryPublic,
    ErrorPublic,
    EventPublic,
    ItemStatus,
    ResultValuePublic,
    TaskPublic,
    UploadRef,
)
from services.errors import InvalidInput
from web.api.cases import checklist_public, item_status, upload_ref
from web.api.routing import PREFIX, Offset, RowId, api_router
from web.deps import ClerkUser, CsrfChecked, RuntimeDep, SessionDep, read_only
from web.openapi import answers

router = api_router(tags=["api: tasks"])


@router.get("/tasks", response_model=list[TaskPublic])
@read_only
def department_tasks(
    user: ClerkUser, session: SessionDep, rt: RuntimeDep, limit: int = 50, offset: Offset = 0
):
    """The ready tasks of the signed-in clerk's department, oldest due first."""
    found = workbench.search_queue(
        session,
        rt,
        user=user,
        filter=workbench.QueueFilter(),
        offset=offset,
        limit=limit,
        count=False,
    )
    return [
        TaskPublic(
            id=row.item.id,
            case_id=row.case.id,
            case_number=row.case.number,
            matter=row.case.matter,
            item=row.item.item_code,
            name=row.item_name,
            applicant=row.masked_id,
            due_date=row.item.due_date,
            created_at=row.item.created_at,
            corrected=row.corrected,
        )
        for row in found.rows
    ]


class TaskDecision(BaseModel):
    """What the clerk decides on a task: the choices of the item page's decision form."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"decision": "approved"},
                {
                    "decision": "approved",
                    "result_data": {
                        "child_id_number": "110105202612060011",
                        "household_number": "110105012345",
                        "hukou_address": "示范市中心区和平路12号",
                        "hukou_registered_on": "2026-12-06",
                    },
                },
                {
                    "decision": "rejected",
                    "reason": "不符合出生登记条件",
                    "comment": "出生医学证明信息与申报不一致",
                },
                {
                    "decision": "correction",
                    "reopen": ["applicant_phone", "material_marriage_certificate"],
                    "comment": "请上传清晰的结婚证并核对联系电话",
                },
                {"decision": "rejected", "comment": "材料不全"},
            ]
        }
    )

    decision: Literal["approved", "rejected", "correction"] = Field(
        description="approved: the item is granted. rejected: refused, with `reason`. "
        "correction: sent back to the applicant (补正) for the facts and materials in `reopen`"
    )
    reason: str = Field(
        default="",
        max_length=200,
        pattern=NO_NUL,
        description="For a rejection: one of the task's `reject_reasons` (GET /api/v1/tasks/"
        "{task_id}). The last one (其他, other) needs a `comment`. Left out, a rejection with "
        "a comment counts as that last reason (the body of earlier clients)",
    )
    comment: str = Field(
        default="",
        max_length=500,
        pattern=NO_NUL,
        description="The clerk's opinion, shown to the applicant; required for a correction "
        "(what to correct) and for a rejection for the other reason",
    )
    reopen: list[Annotated[str, Field(max_length=100, pattern=NO_NUL)]] = Field(
        default_factory=list,
        max_length=100,
        description="For a correction: the facts (their keys) and materials (`material_<code>`) "
        "of this item the applicant must correct, from the task's `correctable`; only they are "
        "reopened",
    )
    result_data: (
        dict[
            Annotated[str, Field(max_length=100, pattern=NO_NUL)],
            Annotated[str, Field(max_length=200, pattern=NO_NUL)],
        ]
        | None
    ) = Field(
        default=None,
        max_length=20,
        description="For an approval: the result data the department records (the task's "
        "`results`: e.g. the newborn's assigned citizen ID, the household number), printed on "
        "the item's document. Only the task's result keys; when given, every required one, "
        "each of its type (a date as YYYY-MM-DD, a citizen ID or credit code with a valid check "
        "character, an amount in yuan). Left out: nothing is recorded. Ignored for a rejection "
        "or a correction",
    )


@router.post(
    "/tasks/{task_id}/complete",
    response_model=ItemStatus,
    dependencies=[CsrfChecked],
    responses={
        409: {
            "model": ErrorPublic,
            "description": "The task was decided already, another clerk holds it, or a "
            "department system is working it",
        }
    },
)
@answers(503)
def complete_task(
    task_id: RowId, body: TaskDecision, user: ClerkUser, session: SessionDep, rt: RuntimeDep
):
    """Decide a task of the clerk's department: approve it, reject it with a reason from the
    item's list, or send it back to the applicant for correction naming what to correct (the
    process loops back through the applicant, and only this item resumes)."""
    row = decisions.decide(
        session,
        rt,
        user=user,
        item_id=task_id,
        decision=body.decision,
        comment=body.comment,
        reopen=body.reopen,
        reason=body.reason,
        result_data=body.result_data,
    )
    return item_status(rt, row)


class CatalogItemPublic(CatalogItemRef):
    legal_basis: str = Field(description="The law or rule the item is decided under")
    legal_basis_en: str = Field(description="The same in English")


class FactSource(BaseModel):
    registry: str = Field(description="The registry the fact was read from")
    registry_name: str
    registry_name_en: str
    record: str = Field(description="The registry's record number; masked when it is an ID number")
    retrieved_at: str = Field(description="When it was read (ISO 8601)")


class TaskFact(BaseModel):
    key: str = Field(description="The fact's key in the data dictionary")
    label: str
    label_en: str
    type: str = Field(description="The dictionary type (text, date, enum, bool, citizen_id...)")
    value: Any = Field(description="The value as the clerk may see it: masked when `masked`")
    display: str = Field(description="The value as the page shows it (an option's label...)")
    masked: bool = Field(
        description="An ID or bank card number shown masked: POST /api/v1/tasks/{task_id}/"
        "reveal with a reason shows it in full (logged)"
    )
    source: FactSource | None = Field(
        description="Where the fact came from; null when the applicant typed it"
    )
    corrected_at: datetime | None = Field(
        default=None,
        description="The applicant typed it in a correction (补正), at this time: `source` is "
        "then null (a registry's value the applicant corrected is no longer the registry's)",
    )


class CorrectionChange(BaseModel):
    """One thing the applicant changed in a correction (补正): a fact (its old and new values,
    as the page shows them: personal numbers masked) or a material uploaded again."""

    kind: Literal["fact", "material"]
    key: str = Field(description="The fact's key, or material_<code> for a material")
    label: str
    label_en: str
    old: str | None = Field(default=None, description="A fact's value before (masked as shown)")
    old_en: str | None = None
    new: str | None = Field(default=None, description="A fact's value now (masked as shown)")
    new_en: str | None = None
    masked: bool = Field(
        default=False,
        description="The values are masked personal numbers (the reveal shows the new one)",
    )
    unchanged: bool = Field(
        default=False, description="A fact reopened and sent back with the same value"
    )
    upload_id: int | None = Field(default=None, description="A material's new file")
    filename: str | None = None
    url: str | None = Field(default=None, description="The new file: GET /api/v1/uploads/{id}")


class AnsweredCorrectionPublic(BaseModel):
    """The applicant's answer to the department's correction request (已补正)."""

    at: datetime = Field(description="When the applicant sent the correction")
    asked: str = Field(description="What the department asked when it sent the item back")
    note: str = Field(description="The applicant's note to the clerk (may be empty)")


def correction_changes(answered: AnsweredCorrection | None) -> list[CorrectionChange]:
    """What changed in a correction, for the API: the facts, then the materials."""
    if answered is None:
        return []
    facts = [
        CorrectionChange(
            kind="fact",
            key=c.key,
            label=c.label,
            label_en=c.label_en,
            old=c.old,
            old_en=c.old_en,
            new=c.new,
            new_en=c.new_en,
            masked=c.masked,
            unchanged=c.unchanged,
        )
        for c in answered.facts
    ]
    files = [
        CorrectionChange(
            kind="material",
            key=f"material_{m.code}",
            label=m.name,
            label_en=m.name_en,
            upload_id=m.upload_id,
            filename=m.filename,
            url=f"{PREFIX}/uploads/{m.upload_id}",
        )
        for m in answered.materials
    ]
    return facts + files


class ProgressPublic(BaseModel):
    item: str
    name: str
    name_en: str
    department: str
    department_name: str
    department_name_en: str
    status: str = Field(description="processing, correction, approved, rejected, not_applicable")
    status_label: str
    status_label_en: str
    due_date: date | None
    auto: bool = Field(description="Decided by an automatic check (秒批)")
    own: bool = Field(description="An item of the clerk's department")
    comment: str | None = Field(description="The decision's comment: own items only")
    result_number: str | None = Field(description="The result's number: own items only")


class Correctable(BaseModel):
    key: str = Field(description="A fact's key, or material_<code> for a material")
    label: str
    label_en: str


class ResultFieldPublic(BaseModel):
    """One piece of result data an approval of the task records (`result_data` of the
    decision)."""

    key: str
    label: str
    label_en: str
    type: str = Field(
        description="text, date (YYYY-MM-DD), citizen_id, uscc (unified social credit code), "
        "number (letters, digits, hyphens), amount (yuan, two decimals), integer"
    )
    required: bool = Field(description="An approval that records result data must give it")
    max_length: int


def result_fields_public(item: Item) -> list[ResultFieldPublic]:
    """What an approval of `item` records, for a client."""
    return [
        ResultFieldPublic(
            key=f.key,
            label=f.label,
            label_en=f.label_en,
            type=f.type,
            required=f.required,
            max_length=f.max_length,
        )
        for f in item.results
    ]


class TaskDetail(BaseModel):
    """A case as the clerk sees it through one of their department's items (need to know): the
    item, the facts and materials it needs (ID and bank card numbers masked), the other items'
    progress (statuses only), the history. Each view is logged for the applicant."""

    id: int = Field(description="The task (case item) id")
    case_id: int
    case_number: str | None
    case_status: str
    case_status_label: str
    case_status_label_en: str
    matter: str
    matter_name: str
    matter_name_en: str
    applicant_name: str
    item: CatalogItemPublic
    status: str
    status_label: str
    status_label_en: str
    due_date: date
    decided_at: datetime | None
    comment: str | None
    correction: dict[str, Any] | None = Field(
        description="While sent back, and after the applicant answered until the next "
        "decision: the facts and materials reopened, and the note"
    )
    corrected: bool = Field(
        description="已补正: the task resumed from the applicant's correction and waits for a "
        "decision again (after the decision it is false; the history keeps the step)"
    )
    corrected_by: AnsweredCorrectionPublic | None = Field(
        description="While `corrected`: when the applicant answered, and their note"
    )
    changes: list[CorrectionChange] = Field(
        description="While `corrected`: what the applicant changed (facts with old and new "
        "values, masked as `facts` are; materials with their new file)"
    )
    result_number: str | None
    auto: bool
    finding: str | None = Field(description="The automatic check's finding")
    incident: str | None = Field(
        description="The department system's failure; POST /api/v1/external-tasks/{task_id}/"
        "resolve lets it retry"
    )
    claimed_by: int | None
    claimed_by_name: str | None
    claimed_at: datetime | None
    reject_reasons: list[str] = Field(description="The item's reasons for a rejection")
    results: list[ResultFieldPublic] = Field(
        description="What an approval records (the decision's `result_data`), in the order the "
        "item's document prints it; empty: the item records nothing of its own"
    )
    result_data: list[ResultValuePublic] = Field(
        description="After an approval: the result data recorded (citizen IDs masked)"
    )
    correctable: list[Correctable] = Field(
        description="What a correction may reopen: the item's facts and materials"
    )
    facts: list[TaskFact]
    checklist: list[ChecklistEntryPublic] = Field(description="The item's materials")
    uploads: list[UploadRef] = Field(description="The applicant's files for those materials")
    progress: list[ProgressPublic]
    history: list[EventPublic]


class Reveal(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"fact": "bank_card_number", "reason": "核对生育津贴发放账户"}]
        }
    )

    fact: str = Field(
        max_length=100, pattern=NO_NUL, description="The key of a masked fact of the task"
    )
    reason: str = Field(
        max_length=500,
        pattern=NO_NUL,
        description="Why the full number is needed (2-200 characters): logged, and shown to "
        "the applicant in their data-access log",
    )


class RevealedFact(BaseModel):
    key: str
    label: str
    label_en: str
    value: Any = Field(description="The number in full")


def _fact_public(fact: FactView) -> TaskFact:
    entry = fact.fact
    if entry.type == "bool":
        display = "是" if fact.value else "否"
    elif entry.type == "enum":
        display = entry.option_label(fact.value)
    else:
        display = str(fact.shown)
    found = registry_record(fact.provenance)
    return TaskFact(
        key=fact.key,
        label=entry.label,
        label_en=entry.label_en,
        type=entry.type,
        value=fact.shown,
        display=display,
        masked=fact.masked,
        source=FactSource(
            registry=str(found.get("registry", "")),
            registry_name=str(found.get("registry_name", "")),
            registry_name_en=registry_name(str(found.get("registry", "")), "en"),
            record=fact.record,
            retrieved_at=str(found.get("retrieved_at", "")),
        )
        if found
        else None,
        corrected_at=corrected_at(fact.provenance),
    )


def _task_detail(rt, task: workbench.OpenTask) -> TaskDetail:
    view, row, item = task.view, task.view.row, task.view.item
    departments = rt.catalog.departments
    matter = rt.catalog.matters.get(view.case.matter)
    facts = rt.catalog.facts
    return TaskDetail(
        id=row.id,
        case_id=view.case.id,
        case_number=view.case.number,
        case_status=view.case.status,
        case_status_label=CASE_STATUS[view.case.status][0],
        case_status_label_en=CASE_STATUS[view.case.status][1],
        matter=view.case.matter,
        matter_name=matter.name if matter else view.case.matter,
        matter_name_en=matter.name_en if matter else view.case.matter,
        applicant_name=view.case.applicant_name,
        item=CatalogItemPublic(
            code=item.code,
            name=item.name,
            name_en=item.name_en,
            department=item.department,
            department_name=departments[item.department].name,
            department_name_en=departments[item.department].name_en,
            legal_basis=item.legal_basis,
            legal_basis_en=item.legal_basis_en or item.legal_basis,
            time_limit_days=item.time_limit_days,
        ),
        status=row.status,
        status_label=ITEM_STATUS[row.status][0],
        status_label_en=ITEM_STATUS[row.status][1],
        due_date=row.due_date,
        decided_at=row.decided_at,
        comment=row.comment,
        correction={k: v for k, v in (row.correction or {}).items() if k != "answered"} or None,
        corrected=task.correction is not None,
        corrected_by=AnsweredCorrectionPublic(
            at=task.correction.at, asked=task.correction.asked, note=task.correction.note
        )
        if task.correction
        else None,
        changes=correction_changes(task.correction),
        result_number=row.result_number,
        auto=row.auto,
        finding=row.finding,
        incident=row.incident,
        claimed_by=row.claimed_by,
        claimed_by_name=task.holder_name,
        claimed_at=row.claimed_at,
        reject_reasons=list(item.reject_reasons),
        results=result_fields_public(item),
        result_data=[
            ResultValuePublic(key=r.key, label=r.label, label_en=r.label_en, value=r.value)
            for r in result_rows(item, row.result_data)
        ],
        correctable=[
            Correctable(key=key, label=facts[key].label, label_en=facts[key].label_en)
            for key in item.fact_keys
            if key in facts
        ]
        + [
            Correctable(key=f"material_{m.code}", label=m.name, label_en=m.name_en)
            for m in item.materials
        ],
        facts=[_fact_public(fact) for fact in view.facts],
        checklist=checklist_public(rt, view.checklist),
        uploads=[upload_ref(u) for u in view.uploads],
        progress=[_progress_public(rt, task, entry) for entry in task.items],
        history=[
            EventPublic(at=e.at, actor=e.actor, kind=e.kind, message=e.message) for e in task.events
        ],
    )


def _progress_public(rt, task: workbench.OpenTask, entry: progress.ItemView) -> ProgressPublic:
    own = task.own(entry)
    return ProgressPublic(
        item=entry.item.code,
        name=entry.item.name,
        name_en=entry.item.name_en,
        department=entry.item.department,
        department_name=entry.department_name,
        department_name_en=rt.catalog.departments[entry.item.department].name_en,
        status=entry.status,
        status_label=entry.status_label,
        status_label_en=ITEM_STATUS[entry.status][1],
        due_date=entry.row.due_date if entry.row else None,
        auto=bool(entry.row and entry.row.auto),
        own=own,
        comment=entry.row.comment if own else None,
        result_number=entry.row.result_number if own else None,
    )


@router.get("/tasks/{task_id}", response_model=TaskDetail)
def get_task(task_id: RowId, user: ClerkUser, session: SessionDep, rt: RuntimeDep):
    """One task of the clerk's department, as its item page shows it: what the item needs of
    the case, numbers masked. The view is logged with the case number in the applicant's
    data-access log ("谁查看了我的数据")."""
    task = workbench.open_task(session, rt, user=user, item_id=task_id)
    return _task_detail(rt, task)


@router.post("/tasks/{task_id}/reveal", response_model=RevealedFact, dependencies=[CsrfChecked])
def reveal(task_id: RowId, body: Reveal, user: ClerkUser, session: SessionDep, rt: RuntimeDep):
    """One masked number of the task (an ID or bank card number the item needs) in full, for a
    stated reason: the reason is logged where the applicant sees it; without one, 422."""
    task = workbench.open_task(
        session, rt, user=user, item_id=task_id, reveal=body.fact, reason=body.reason
    )
    fact = task.fact(body.fact)
    return RevealedFact(
        key=fact.key, label=fact.fact.label, label_en=fact.fact.label_en, value=fact.value
    )


def queue_filter(
    status: Annotated[str, Query(max_length=16, pattern=NO_NUL)] = "processing",
    matter: Annotated[str, Query(max_length=64, pattern=NO_NUL)] = "",
    item: Annotated[str, Query(max_length=64, pattern=NO_NUL)] = "",
    due_before: Annotated[str, Query(max_length=32)] = "",
    overdue: bool = False,
    search: Annotated[str, Query(max_length=64, pattern=NO_NUL)] = "",
    mine: bool = False,
    unclaimed: bool = False,
    sort: Annotated[str, Query(max_length=16, pattern=NO_NUL)] = "due",
    desc: bool = False,
    page: Annotated[int, Query(le=ID_MAX)] = 1,
    per_page: int = workbench.DEFAULT_PER_PAGE,
) -> workbench.QueueFilter:
    """The queue's query parameters (shared by the page and the API): `status=all` for every
    status; `due_before` is a date (YYYY-MM-DD), inclusive; `search` a case number or its
    beginning, a masked citizen ID such as 310105********028X, or an ID's last 4 characters."""
    day = None
    if due_before.strip():
        try:
            day = date.fromisoformat(due_before.strip())
        except ValueError:
            raise InvalidInput(
                "due_before", "日期格式应为年-月-日", "Use a date like 2026-11-30"
            ) from None
    return workbench.QueueFilter(
        status=None if status in ("", "all") else status,
        matter=matter,
        item=item,
        due_before=day,
        overdue=overdue,
        search=search,
        mine=mine,
        unclaimed=unclaimed,
        sort=sort,
        desc=desc,
        page=page,
        per_page=per_page,
    )


QueueQuery = Annotated[workbench.QueueFilter, Depends(queue_filter)]


class QueueTask(BaseModel):
    id: int
    case_id: int
    case_number: str | None
    matter: str
    item: str
    name: str
    applicant_name: str
    applicant: str = Field(description="Masked citizen ID of the applicant")
    status: str
    due_date: date
    overdue: bool
    created_at: datetime
    claimed_by: int | None
    claimed_by_name: str | None
    claimed_at: datetime | None
    corrected: bool = Field(
        description="已补正: back from the applicant's correction, waiting for a decision again"
    )
    changes: list[CorrectionChange] = Field(
        description="While `corrected`: what the applicant changed (personal numbers masked)"
    )


class QueuePublic(BaseModel):
    total: int = Field(
        description=f"Tasks matching, counted up to {workbench.COUNT_CAP + 1} "
        f"(that many means more than {workbench.COUNT_CAP}: narrow the filter)"
    )
    total_capped: bool = Field(description="More tasks match than were counted")
    page: int
    per_page: int
    pages: int
    counts: dict[str, int] = Field(
        description="Per status, and of the open tasks: overdue, mine (claimed by me), "
        f"unclaimed; each counted up to {workbench.COUNT_CAP + 1}, meaning more than "
        f"{workbench.COUNT_CAP}"
    )
    tasks: list[QueueTask]


class ClaimPublic(BaseModel):
    id: int
    status: str
    claimed_by: int | None
    claimed_by_name: str | None
    claimed_at: datetime | None


class Reassign(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"to_user_id": 12}]})

    to_user_id: int = Field(ge=1, le=ID_MAX, description="A clerk of the same department")


@router.get("/queue", response_model=QueuePublic)
@read_only
def queue(user: ClerkUser, session: SessionDep, rt: RuntimeDep, query: QueueQuery):
    """The signed-in clerk's department queue, filtered, sorted and paged."""
    found = workbench.search_queue(session, rt, user=user, filter=query)
    return QueuePublic(
        total=found.total,
        total_capped=found.capped,
        page=found.page,
        per_page=found.per_page,
        pages=found.pages,
        counts=workbench.status_counts(session, user=user),
        tasks=[
            QueueTask(
                id=row.item.id,
                case_id=row.case.id,
                case_number=row.case.number,
                matter=row.case.matter,
                item=row.item.item_code,
                name=row.item_name,
                applicant_name=row.case.applicant_name,
                applicant=row.masked_id,
                status=row.item.status,
                due_date=row.item.due_date,
                overdue=row.overdue,
                created_at=row.item.created_at,
                claimed_by=row.item.claimed_by,
                claimed_by_name=row.claimed_by_name,
                claimed_at=row.item.claimed_at,
                corrected=row.corrected,
                changes=correction_changes(answered_correction(rt, row.item)),
            )
            for row in found.rows
        ],
    )


def _claim_public(session, row: CaseItem) -> ClaimPublic:
    return ClaimPublic(
        id=row.id,
        status=row.status,
        claimed_by=row.claimed_by,
        claimed_by_name=workbench.holder_name(session, row),
        claimed_at=row.claimed_at,
    )


@router.post("/tasks/{task_id}/claim", response_model=ClaimPublic, dependencies=[CsrfChecked])
def claim(task_id: RowId, user: ClerkUser, session: SessionDep):
    """Claim an open task; 409 names who holds it if another clerk was first."""
    return _claim_public(session, workbench.claim(session, user=user, item_id=task_id))


@router.post("/tasks/{task_id}/release", response_model=ClaimPublic, dependencies=[CsrfChecked])
def release(task_id: RowId, user: ClerkUser, session: SessionDep):
    """Give a task back to the queue (its holder, or a supervisor)."""
    return _claim_public(session, workbench.release(session, user=user, item_id=task_id))


@router.post("/tasks/{task_id}/reassign", response_model=ClaimPublic, dependencies=[CsrfChecked])
def reassign(task_id: RowId, body: Reassign, user: ClerkUser, session: SessionDep):
    """A supervisor gives a task to a clerk of the department."""
    row = workbench.reassign(session, user=user, item_id=task_id, to_user_id=body.to_user_id)
    return _claim_public(session, row)
