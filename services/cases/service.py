"""Cases: prepare the combined form, submit it as one case, route items, decide, report status.

Every function that changes state does so in the caller's session and commits once, with the
process state, task rows, case rows and history in that one transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, bindparam
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import defer, load_only
from sqlmodel import Session, col, select

from engine import cases as runner
from engine import store
from engine.clock import utcnow
from engine.sandbox import evaluate
from engine.specs import ProcessSpec
from engine.store import HumanTask, ProcessInstance, StaleInstance
from forms.catalog import Item, Matter
from forms.compiler import (
    CompiledForm,
    FormField,
    Known,
    compile_form,
    lookups_of,
    process_data,
)
from forms.values import InvalidValue, mask_id, parse_value
from services.accounts.models import User
from services.accounts.service import supervisors_of
from services.calendar import add_working_days, local_date
from services.cases import history, workbench
from services.cases.models import Case, CaseEvent, CaseItem, Upload
from services.cases.results import open_delivery
from services.configuration.matters import offered
from services.departments import webhooks
from services.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.notifications.case_notifications import on_case_event
from services.notifications.senders import default_sender
from services.notifications.service import notify
from services.registries.prefill import Lookup, prefill
from services.registries.service import (
    grant_consent,
    log_case_view,
    log_reads,
    lookup_for_matter,
)
from services.runtime import Runtime

DECISIONS = ("approved", "rejected", "correction")
ITEM_STATUS = {
    "processing": ("办理中", "In progress"),
    "correction": ("待补正", "Awaiting correction"),
    "approved": ("已办结", "Approved"),
    "rejected": ("不予办理", "Rejected"),
    "not_applicable": ("无需办理", "Not applicable"),
}
CASE_STATUS = {
    "processing": ("办理中", "In progress"),
    "correction": ("待补正", "Correction needed"),
    "completed": ("已办结", "Completed"),
}
SNIFFED_TYPES = {
    b"%PDF-": "application/pdf",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
}
MAX_RETRIES = 5


@dataclass(frozen=True)
class UploadedFile:
    material_code: str
    filename: str
    content: bytes


@dataclass(frozen=True)
class ItemView:
    """One item of a case as its applicant or a clerk sees it."""

    row: CaseItem | None
    item: Item
    department_name: str
    status: str

    @property
    def status_label(self) -> str:
        return ITEM_STATUS[self.status][0]


def _offered(session: Session, rt: Runtime, code: str) -> tuple[Matter, ProcessSpec]:
    """The published matter as applications see it now (its configuration and the items of its
    newest process version), with that process version."""
    matter, spec = offered(session, rt, code)
    if not matter.published:
        raise NotFound("没有这项“一件事”服务", f"No matter {code!r}")
    return matter, spec


def _require_citizen(user: User) -> str:
    if user.role != "citizen" or not user.id_number:
        raise Forbidden(
            "只有实名认证的申请人可以申请", "Only a citizen with an ID number may apply"
        )
    return user.id_number


def prepare_form(
    session: Session,
    rt: Runtime,
    *,
    user: User,
    matter_code: str,
    answers: dict[str, Any] | None = None,
    consented: bool = False,
    actor: User | None = None,
) -> CompiledForm:
    """The combined form for the applicant, prefilled from the registries if the applicant
    authorized the lookups (every read is logged, with `actor`: a front-desk clerk filling the
    form with a walk-in applicant); otherwise everything is asked."""
    matter, _ = _offered(session, rt, matter_code)
    purpose = f"预填《{matter.name}》申请表"
    lookup = _lookup(session, rt, user, matter, consented, purpose, actor=actor)
    session.commit()
    form = compile_form(rt.catalog, matter, lookup.facts, answers)
    form.notices = [(e.message, e.message_en) for e in lookup.unavailable.values()]
    return form


def _lookup(
    session: Session,
    rt: Runtime,
    user: User,
    matter: Matter,
    consented: bool,
    purpose: str,
    case_id: int | None = None,
    actor: User | None = None,
) -> Lookup:
    """Registry facts for the applicant, only with their authorization (reads logged)."""
    applicant_id = _require_citizen(user)
    if not consented:
        return Lookup(rt.registry, applicant_id)
    return lookup_for_matter(
        session,
        registry=rt.registry,
        applicant_id_number=applicant_id,
        subjects=matter.subjects,
        actor_user_id=(actor or user).id,
        purpose=purpose,
        case_id=case_id,
    )


def _store_upload(rt: Runtime, case_id: int, upload: UploadedFile) -> Upload:
    limit = rt.settings.upload_limit_bytes
    if len(upload.content) > limit:
        raise InvalidInput(
            f"material_{upload.material_code}",
            f"文件不能超过{limit // (1024 * 1024)}MB",
            f"Files are limited to {limit // (1024 * 1024)} MB",
        )
    content_type = next(
        (kind for magic, kind in SNIFFED_TYPES.items() if upload.content.startswith(magic)), None
    )
    if content_type is None:
        raise InvalidInput(
            f"material_{upload.material_code}",
            "只接受PDF、JPG或PNG文件",
            "Only PDF, JPG or PNG files are accepted",
        )
    stored_name = secrets.token_hex(16)
    directory = rt.settings.upload_dir
    directory.mkdir(parents=True, exist_ok=True)
    (directory / stored_name).write_bytes(upload.content)
    return Upload(
        case_id=case_id,
        material_code=upload.material_code,
        filename=upload.filename[-200:] or "upload",
        stored_name=stored_name,
        content_type=content_type,
        size=len(upload.content),
        sha256=hashlib.sha256(upload.content).hexdigest(),
    )


def _event(session: Session, case: Case, user: User | None, kind: str, message: str) -> None:
    history.record(session, case_id=case.id, user=user, kind=kind, message=message)
    on_case_event(session, case=case, kind=kind, message=message, sender=default_sender())


def apply_changes(
    session: Session,
    rt: Runtime,
    case: Case,
    changes: store.Changes,
    now: datetime,
    *,
    new_case: bool = False,
) -> list[CaseItem]:
    """Turn what the process did into case items: instant approvals, newly routed tasks (or
    corrected ones resuming), deadline flags. `new_case`: the case has no items yet. Returns
    the items it created."""
    today = local_date(now)
    findings = {}
    instant = []
    created: list[CaseItem] = []
    for check in changes.checked:
        item = _catalog_item(rt, check)
        findings[item.code] = check.finding
        if check.decision != "approved":
            continue
        row = CaseItem(
            case_id=case.id,
            item_code=item.code,
            department=check.lane or item.department,
            status="approved",
            auto=True,
            finding=check.finding or None,
            due_date=today,
            decided_at=now,
        )
        session.add(row)
        instant.append((row, item))
        created.append(row)
    if instant:
        session.flush()  # the result numbers name the rows' ids
    for row, item in instant:
        row.result_number = f"{case.number}-{row.id:04d}"
        _event(
            session,
            case,
            None,
            "approved",
            f"{_department_name(rt, row.department)}自动核验通过，即时办结（秒批）：{item.name}",
        )
    awaiting: dict[str, CaseItem] | None = {} if new_case else None
    for task in changes.opened:
        item = _catalog_item(rt, task)
        if task.kind == "correction":
            _event(session, case, None, "correction_requested", f"请补正：{item.name}")
            case.status = "correction"
            continue
        if awaiting is None:  # read once: the case's items waiting for a correction
            awaiting = _items_by_code(session, case, "correction")
        row = awaiting.pop(item.code, None)
        if row is not None:  # corrected: the same item resumes, its time limit starts again
            row.status = "processing"
            row.task_id = task.id
            row.due_date = add_working_days(today, item.time_limit_days)
            row.deadline_flag = None
            row.escalated_at = None
            session.add(row)
            dept = _department_name(rt, row.department)
            _event(session, case, None, "resumed", f"补正材料已提交，{dept}继续办理：{item.name}")
            continue
        row = CaseItem(
            case_id=case.id,
            item_code=item.code,
            department=task.lane or item.department,
            task_id=task.id,
            finding=findings.get(item.code) or None,
            due_date=add_working_days(today, item.time_limit_days),
        )
        session.add(row)
        created.append(row)
        if row.department in rt.settings.webhooks:
            session.flush()
            webhooks.enqueue(
                session,
                department=row.department,
                event="task.created",
                payload={
                    "task_id": row.id,
                    "case_number": case.number,
                    "matter": case.matter,
                    "item": item.code,
                    "due_date": row.due_date.isoformat(),
                },
            )
        _event(
            session,
            case,
            None,
            "routed",
            f"已分送{_department_name(rt, item.department)}：{item.name}",
        )
    processing = _items_by_code(session, case, "processing") if changes.fired else {}
    for timer in changes.fired:
        row = processing.get(timer.item or "")
        if row is None:
            continue
        item = rt.catalog.items[row.item_code]
        dept = _department_name(rt, row.department)
        if timer.decision == "overdue":
            row.deadline_flag = "overdue"
            row.escalated_at = now
            message = f"{dept}办理“{item.name}”已超过法定时限，已提请科室负责人督办"
            _event(session, case, None, "escalated", message)
            for supervisor in supervisors_of(session, department=row.department):
                notify(
                    session,
                    user_id=supervisor.id,
                    case_id=case.id,
                    kind="escalated",
                    title=f"超期督办：{case.number}",
                    body=f"{item.name}已超过{item.time_limit_days}个工作日的法定时限，请督办。",
                    batched=True,
                )
        elif row.deadline_flag is None:
            row.deadline_flag = "warning"
            _event(session, case, None, "deadline_warning", f"{dept}办理“{item.name}”临近办结时限")
        session.add(row)
    return created


def _items_by_code(session: Session, case: Case, status: str) -> dict[str, CaseItem]:
    """The case's items in `status`, by item code (the first of each, by id)."""
    rows = session.exec(
        select(CaseItem)
        .where(CaseItem.case_id == case.id, CaseItem.status == status)
        .order_by(col(CaseItem.id).desc())
    ).all()
    return {row.item_code: row for row in rows}


def _catalog_item(rt: Runtime, task: store.TaskRow) -> Item:
    item = rt.catalog.items.get(task.item or "")
    if item is None:
        raise LookupError(f"task {task.bpmn_id} is bound to unknown item {task.item!r}")
    return item


def _department_name(rt: Runtime, code: str) -> str:
    department = rt.catalog.departments.get(code)
    return department.name if department else code


def submit_application(
    session: Session,
    rt: Runtime,
    *,
    user: User,
    matter_code: str,
    answers: dict[str, Any],
    uploads: list[UploadedFile] = (),
    channel: str = "online",
    consented: bool = False,
    actor: User | None = None,
    record_consent: bool = False,
) -> Case:
    """Validate the combined form, start the case's process and route its items, in one commit.

    Registry facts are fetched again here (never taken from the browser) and logged with the case.
    With `record_consent`, the applicant's consent to the lookups is recorded first (an API
    client gives it with the submission)."""
    matter, spec = _offered(session, rt, matter_code)
    applicant_id = _require_citizen(user)
    if consented and record_consent:
        registries = list(lookups_of(rt.catalog, matter))
        grant_consent(session, user_id=user.id, matter=matter.code, registries=registries)
    if consented:
        lookup = prefill(rt.registry, applicant_id, matter.subjects)
    else:
        lookup = Lookup(rt.registry, applicant_id)
    form = compile_form(rt.catalog, matter, lookup.facts, answers, validate=True)
    fields = {e.key: (e.message, e.message_en) for e in form.errors}
    provided = {u.material_code for u in uploads if u.content}
    for entry in form.uploads:
        if entry.code not in provided:
            fields[f"material_{entry.code}"] = (
                f"请上传：{entry.name}",
                f"Please upload: {entry.name_en}",
            )
    purpose = f"受理《{matter.name}》核验申请信息"
    reader = (actor or user).id
    if fields:  # refused: no case, but the registry reads happened and are logged
        log_reads(session, lookup, actor_user_id=reader, purpose=purpose, case_id=None)
        session.commit()
        first = next(iter(fields))
        raise InvalidInput(first, fields[first][0], fields[first][1], fields=fields)
    data = dict(form.values)
    workflow = runner.start(spec, spec.inputs(process_data(rt.catalog, form, lookup.facts)))
    instance, changes = store.create_instance(session, spec, workflow, matter.bpmn)
    now = utcnow()
    case = Case(
        matter=matter.code,
        applicant_user_id=user.id,
        applicant_id_number=applicant_id,
        applicant_name=data.get("applicant_name") or user.display_name,
        channel=channel,
        instance_id=instance.id,
        created_at=now,
        data=data,
        provenance=_provenance(lookup.facts, form),
        checklist=[
            {"code": e.code, "name": e.name, "status": e.status, "reason": e.reason}
            for e in form.checklist
        ],
    )
    session.add(case)
    session.flush()
    log_reads(session, lookup, actor_user_id=reader, purpose=purpose, case_id=case.id)
    # Any material of the checklist may be uploaded: one the registries supply too, when the
    # applicant prefers their own copy to the fetched evidence.
    needed = {entry.code for entry in form.checklist}
    for upload in uploads:
        if upload.material_code in needed and upload.content:
            session.add(_store_upload(rt, case.id, upload))

    case.number = f"YJS{local_date(now):%Y%m%d}{case.id:06d}"
    if actor is None:
        message = f"提交《{matter.name}》一表申请，办件编号{case.number}"
    else:
        message = (
            f"综合窗口受理《{matter.name}》一表申请（{actor.display_name}），办件编号{case.number}"
        )
    _event(session, case, actor or user, "submitted", message)
    for error in lookup.unavailable.values():
        _event(session, case, None, "degraded", f"{error.message}（相关信息由申请人填写或上传）")
    items = apply_changes(session, rt, case, changes, now, new_case=True)
    if runner.is_completed(workflow):
        _finish(session, case)
    session.commit()
    # The caller's view of the new case needs its items: these are all of them (the session
    # keeps their values after the commit), which spares a transaction to read them back.
    session.info[_SUBMITTED_ITEMS] = (case.id, items)
    return case


_SUBMITTED_ITEMS = "onething.submitted_items"  # session.info key: (case id, its items)


def _provenance(known: dict[str, Known], form: CompiledForm) -> dict[str, Any]:
    asked = {f.key for f in form.fields}
    return {
        key: {
            "registry": k.registry,
            "registry_name": k.registry_name,
            "record_id": k.record_id,
            "retrieved_at": k.retrieved_at.isoformat(timespec="seconds"),
        }
        for key, k in known.items()
        if key in asked
    }


_STATUSES_OF_CASE = select(CaseItem.status).where(CaseItem.case_id == bindparam("case_id"))


def _finish(session: Session, case: Case) -> None:
    statuses = session.exec(_STATUSES_OF_CASE, params={"case_id": case.id}).all()
    case.status = "completed"
    case.completed_at = utcnow()
    if statuses and all(s == "rejected" for s in statuses):
        case.outcome = "rejected"
    elif "rejected" in statuses:
        case.outcome = "partly_rejected"
    else:
        case.outcome = "approved"
    _event(session, case, None, "completed", "全部事项办结，统一出件")
    open_delivery(session, case=case)


def load_case(session: Session, *, case_id: int, user: User) -> Case:
    """The case, if this user may see it: its applicant, a clerk of one of its departments, an admin."""
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound("办件不存在", "No such case")
    if user.role == "admin":
        return case
    if user.role == "citizen" and case.applicant_user_id == user.id:
        return case
    if user.role == "clerk":
        mine = session.exec(
            select(CaseItem.id).where(
                CaseItem.case_id == case.id, CaseItem.department == user.department
            )
        ).first()
        if mine is not None:
            return case
    raise NotFound("办件不存在", "No such case")


def cases_of(session: Session, *, user: User, limit: int = 50, offset: int = 0) -> list[Case]:
    query = (
        select(Case)
        .where(Case.applicant_user_id == user.id)
        .order_by(col(Case.id).desc())
        .offset(offset)
        .limit(limit)
    )
    return list(session.exec(query).all())


_ITEMS_OF_CASE = (  # built once: every case view asks
    select(CaseItem).where(CaseItem.case_id == bindparam("case_id")).order_by(col(CaseItem.id))
)


def item_views(session: Session, rt: Runtime, case: Case) -> list[ItemView]:
    """Every item of the case's matter with its status (items never routed show 'not applicable')."""
    submitted = session.info.pop(_SUBMITTED_ITEMS, None)
    if submitted is not None and submitted[0] == case.id:  # the case this session just created
        rows = submitted[1]
    else:
        rows = session.exec(_ITEMS_OF_CASE, params={"case_id": case.id}).all()
    by_code = {row.item_code: row for row in rows}
    views = []
    matter = rt.catalog.matters.get(case.matter)
    codes = list(matter.items) if matter else []
    codes += [code for code in by_code if code not in codes]
    for code in codes:
        row = by_code.get(code)
        item = rt.catalog.items[code]
        if row is not None:
            status = row.status
        elif case.status == "completed" or not _may_still_open(case, item):
            status = "not_applicable"
        else:
            continue
        views.append(ItemView(row, item, _department_name(rt, item.department), status))
    return views


def _may_still_open(case: Case, item: Item) -> bool:
    """Whether an item not routed yet could still be (its condition holds on the case data)."""
    if item.when is None:
        return True
    try:
        return bool(evaluate(item.when, case.data))
    except Exception:
        return False


# Internal workbench moves that mean nothing to the applicant.
INTERNAL_EVENTS = ("claim", "release", "reassign")


def events_of(session: Session, *, case: Case, for_applicant: bool = False) -> list[CaseEvent]:
    """The case's history; the applicant's view leaves out the departments' internal moves."""
    query = select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(col(CaseEvent.id))
    if for_applicant:
        query = query.where(col(CaseEvent.kind).not_in(INTERNAL_EVENTS))
    return list(session.exec(query).all())


def uploads_of(session: Session, *, case: Case) -> list[Upload]:
    return list(session.exec(select(Upload).where(Upload.case_id == case.id)).all())


@dataclass(frozen=True)
class QueueRow:
    item: CaseItem
    case: Case
    item_name: str

    @property
    def masked_id(self) -> str:
        return mask_id(self.case.applicant_id_number)


def department_queue(
    session: Session,
    rt: Runtime,
    *,
    user: User,
    status: str = "processing",
    limit: int = 50,
    offset: int = 0,
) -> list[QueueRow]:
    """The clerk's own department's items, oldest due first; paged in SQL."""
    department = require_department(user)
    params = {"department": department, "status": status, "offset": offset, "limit": limit}
    return [
        QueueRow(item, case, rt.catalog.items[item.item_code].name)
        for item, case in session.exec(_QUEUE, params=params).all()
    ]


# Built once (each API queue listing runs it; building costs more than running it here).
_QUEUE = (
    select(CaseItem, Case)
    .join(Case, col(Case.id) == CaseItem.case_id)
    .options(load_only(Case.id, Case.number, Case.matter, Case.applicant_id_number))
    .where(CaseItem.department == bindparam("department"), CaseItem.status == bindparam("status"))
    .order_by(col(CaseItem.due_date), col(CaseItem.id))
    .offset(bindparam("offset", type_=Integer))
    .limit(bindparam("limit", type_=Integer))
)


def require_department(user: User) -> str:
    """The department of a clerk or of a department's own system; others may not work tasks."""
    if user.role not in ("clerk", "system") or not user.department:
        raise Forbidden("只有部门窗口人员可以办理", "Only a department clerk may do this")
    return user.department


def review_case_item(session: Session, *, item_id: int, user: User) -> tuple[CaseItem, Case]:
    """A clerk opens an item of their department with the full application: logged for the
    applicant's "who looked at my data" page."""
    row = load_case_item(session, item_id=item_id, user=user)
    case = session.get(Case, row.case_id)
    _log_view(session, user, case, f"{user.display_name}审核办件（{row.item_code}）")
    return row, case


def _log_view(session: Session, user: User, case: Case, purpose: str) -> None:
    """Someone other than the applicant opened the case's personal data: logged, committed."""
    log_case_view(
        session,
        actor_user_id=user.id,
        subject_id_number=case.applicant_id_number,
        case_id=case.id,
        case_number=case.number or "",
        purpose=purpose,
    )
    session.commit()


def load_case_item(session: Session, *, item_id: int, user: User) -> CaseItem:
    """An item of the clerk's own department; other departments' items do not exist for them."""
    department = require_department(user)
    row = session.get(CaseItem, item_id)
    if row is None or row.department != department:
        raise NotFound("待办事项不存在", "No such task in your department")
    return row


def decide(
    session: Session,
    rt: Runtime,
    *,
    user: User,
    item_id: int,
    decision: str,
    comment: str = "",
    worker_id: str | None = None,
    result: dict[str, Any] | None = None,
    reopen: list[str] | None = None,
    reason: str = "",
) -> CaseItem:
    """Approve, reject, or send back for correction a department's item; completes its process
    task and, if last, the case. For a correction, `reopen` names the facts and materials
    (`material_<code>`) of the item the applicant must correct; only they are reopened.

    A department system that fetched and locked the item passes its `worker_id` (and may attach
    `result` data); while the lock holds, nobody else may decide the item."""
    if decision not in DECISIONS:
        raise InvalidInput(
            "decision", "请选择“通过”“退回补正”或“不予办理”", "Choose approve, correction or reject"
        )
    comment = (comment or "").strip()
    if decision == "rejected":
        comment = _rejection(rt, session, item_id, user, reason, comment)
    if decision == "correction" and not comment:
        raise InvalidInput(
            "comment", "退回补正时请说明需要补正的内容", "Say what must be corrected"
        )
    if len(comment) > 500:
        raise InvalidInput("comment", "意见不能超过500字", "At most 500 characters")
    for _attempt in range(MAX_RETRIES):
        try:
            row = _decide_once(
                session, rt, user, item_id, decision, comment, worker_id, reopen or []
            )
            if result:
                row.result = dict(result)
                session.add(row)
            session.commit()
            return row
        except (StaleInstance, IntegrityError, OperationalError):
            session.rollback()
    raise Conflict("办件正被其他部门同时更新，请稍后重试", "The case is busy, please retry")


def _decide_once(
    session: Session,
    rt: Runtime,
    user: User,
    item_id: int,
    decision: str,
    comment: str,
    worker_id: str | None,
    reopen: list[str],
) -> CaseItem:
    held = _read_for_decision(session, item_id)  # noqa: F841 - kept in the identity map
    row = load_case_item(session, item_id=item_id, user=user)
    correction = _correction_request(rt, row, reopen, comment) if decision == "correction" else {}
    if row.status != "processing":
        raise Conflict(
            "该事项已由他人办理，请刷新待办列表", "This task was already decided by someone else"
        )
    if worker_id is None:
        workbench.check_can_decide(row, user)
    locked = row.locked_by is not None and row.lock_expires_at and row.lock_expires_at > utcnow()
    if worker_id is not None and (not locked or row.locked_by != worker_id):
        raise Conflict(
            "该任务未被本系统锁定或锁定已过期，请重新获取", "The task is not locked by this worker"
        )
    if worker_id is None and locked:
        raise Conflict(
            "该事项正由部门业务系统处理，请稍后再试", "A department system is working this task"
        )
    case = session.get(Case, row.case_id)
    instance, spec, workflow = store.load_workflow(session, rt.specs, case.instance_id)
    try:
        runner.complete(
            workflow,
            row.task_id,
            {f"decision_{row.item_code}": decision, f"comment_{row.item_code}": comment},
        )
    except runner.TaskNotReady:
        raise Conflict("该事项已由他人办理", "This task was already decided") from None
    changes = store.save_instance(session, spec, instance, workflow)
    now = utcnow()
    row.status = decision
    row.comment = comment or None
    row.correction = correction
    row.corrections += 1 if decision == "correction" else 0
    row.locked_by = None
    row.lock_expires_at = None
    row.clerk_user_id = user.id
    row.decided_at = now
    if decision == "approved":
        row.result_number = f"{case.number}-{row.id:04d}"
    session.add(row)
    item = rt.catalog.items[row.item_code]
    verb = {"approved": "办结", "rejected": "不予办理", "correction": "退回补正"}[decision]
    note = f"（{comment}）" if comment else ""
    _event(
        session,
        case,
        user,
        decision,
        f"{_department_name(rt, row.department)}{verb}：{item.name}{note}",
    )
    session.flush()
    apply_changes(session, rt, case, changes, now)
    if runner.is_completed(workflow):
        _finish(session, case)
    session.add(case)
    return row


_FOR_DECISION = (
    select(CaseItem, Case, ProcessInstance)
    .join(Case, col(Case.id) == CaseItem.case_id)
    .join(ProcessInstance, col(ProcessInstance.id) == Case.instance_id, isouter=True)
    .where(CaseItem.id == bindparam("item_id"))
    .options(defer(ProcessInstance.state))
)


def _read_for_decision(session: Session, item_id: int) -> list:
    """The item, its case and its process instance in one query, into the session's identity
    map, where the steps below `get` them while the caller holds the result (the map holds its
    objects weakly). The instance's stored state is left out: it is read only if the live
    workflow is not in this process (`engine.store.load_workflow`)."""
    return session.exec(_FOR_DECISION, params={"item_id": item_id}).all()


def _correction_request(rt: Runtime, row: CaseItem, reopen: list[str], note: str) -> dict:
    """What the applicant must correct: facts and materials of this item only."""
    item = rt.catalog.items[row.item_code]
    allowed_facts = set(item.facts) | {k for group in item.facts_if for k in group.facts}
    allowed_materials = {m.code for m in item.materials}
    facts = [key for key in reopen if key in allowed_facts]
    materials = [
        key.removeprefix("material_")
        for key in reopen
        if key.startswith("material_") and key.removeprefix("material_") in allowed_materials
    ]
    if not facts and not materials or len(facts) + len(materials) != len(set(reopen)):
        raise InvalidInput(
            "reopen",
            "请勾选本事项中需要补正的信息或材料",
            "Mark the facts or materials of this item that must be corrected",
        )
    return {"facts": facts, "materials": materials, "note": note}


def submit_correction(
    session: Session,
    rt: Runtime,
    *,
    user: User,
    case_id: int,
    item_id: int,
    answers: dict[str, Any],
    uploads: list[UploadedFile] = (),
) -> CaseItem:
    """The applicant sends back what one department asked to correct: only those facts and
    materials change, and only that department's item resumes (the process loops back)."""
    case = load_case(session, case_id=case_id, user=user)
    row = session.get(CaseItem, item_id)
    if case.applicant_user_id != user.id or row is None or row.case_id != case.id:
        raise NotFound("待补正事项不存在", "No such correction request")
    if row.status != "correction":
        raise Conflict("该事项无需补正或已提交补正", "This item awaits no correction")
    request = row.correction or {}
    fields: dict[str, tuple[str, str]] = {}
    values: dict[str, Any] = {}
    for key in request.get("facts", []):
        fact = rt.catalog.facts[key]
        try:
            value = parse_value(fact, answers.get(key))
        except InvalidValue as exc:
            fields[key] = (f"{fact.label}：{exc.message}", exc.message_en)
            continue
        if value is None:
            fields[key] = (f"请填写{fact.label}", f"{fact.label_en} is required")
        values[key] = value
    provided = {u.material_code: u for u in uploads if u.content}
    for code in request.get("materials", []):
        if code not in provided:
            fields[f"material_{code}"] = ("请上传补正材料", "Please upload the corrected material")
    if fields:
        first = next(iter(fields))
        raise InvalidInput(first, fields[first][0], fields[first][1], fields=fields)
    for _attempt in range(MAX_RETRIES):
        try:
            _apply_correction(session, rt, user, case, row, values, provided, request)
            session.commit()
            return row
        except (StaleInstance, IntegrityError, OperationalError):
            session.rollback()
            case = session.get(Case, case_id)
            row = session.get(CaseItem, item_id)
    raise Conflict("办件正被其他部门同时更新，请稍后重试", "The case is busy, please retry")


def _apply_correction(session, rt, user, case, row, values, provided, request) -> None:
    for code in request.get("materials", []):
        session.add(_store_upload(rt, case.id, provided[code]))
    data = dict(case.data)
    data.update(values)
    case.data = data
    case.provenance = {k: v for k, v in case.provenance.items() if k not in values}
    instance, spec, workflow = store.load_workflow(session, rt.specs, case.instance_id)
    task = session.exec(
        select(HumanTask).where(
            HumanTask.instance_id == instance.id,
            HumanTask.state == "ready",
            HumanTask.kind == "correction",
            HumanTask.item == row.item_code,
        )
    ).first()
    if task is None:
        raise Conflict("该事项无需补正", "This item awaits no correction")
    read = {key: value for key, value in values.items() if key in spec.variables}
    runner.complete(workflow, task.id, {f"decision_{row.item_code}": None, **read})
    changes = store.save_instance(session, spec, instance, workflow)
    now = utcnow()
    item = rt.catalog.items[row.item_code]
    _event(session, case, user, "corrected", f"提交补正：{item.name}")
    apply_changes(session, rt, case, changes, now)
    still = session.exec(
        select(CaseItem.id).where(
            CaseItem.case_id == case.id, CaseItem.status == "correction", CaseItem.id != row.id
        )
    ).first()
    if case.status == "correction" and still is None:
        case.status = "processing"
    session.add(case)


def correction_form(rt: Runtime, *, case: Case, row: CaseItem) -> tuple[list[FormField], list]:
    """The fields and materials a department reopened, for the applicant's correction form."""
    request = row.correction or {}
    item = rt.catalog.items[row.item_code]
    fields = [
        FormField(
            fact=rt.catalog.facts[key],
            value=case.data.get(key),
            known=None,
            required=True,
            items=[item.name],
        )
        for key in request.get("facts", [])
    ]
    materials = [m for m in item.materials if m.code in request.get("materials", [])]
    return fields, materials


def _rejection(rt: Runtime, session: Session, item_id: int, user: User, reason: str, text: str):
    """A refusal names a reason from the item's list, plus what the clerk adds: stored together."""
    row = load_case_item(session, item_id=item_id, user=user)
    allowed = rt.catalog.items[row.item_code].reject_reasons
    reason = (reason or "").strip()
    if not reason and text:  # API callers may give only the explanation
        reason = allowed[-1]
    if reason not in allowed:
        raise InvalidInput(
            "reason", "不予办理时必须选择理由", "A rejection needs a reason from the list"
        )
    if reason == allowed[-1] and not text:
        raise InvalidInput("comment", "选择“其他”时请写明理由", "Explain the other reason")
    return f"{reason}：{text}" if text else reason


def open_upload(
    session: Session, rt: Runtime, *, user: User, upload_id: int
) -> tuple[Upload, bytes]:
    """An uploaded material, for those who may see its case; a clerk's viewing is logged."""
    upload = session.get(Upload, upload_id)
    if upload is None:
        raise NotFound("材料不存在", "No such material")
    case = load_case(session, case_id=upload.case_id, user=user)
    path = rt.settings.upload_dir / upload.stored_name
    if not path.is_file():
        raise NotFound("材料文件已不存在", "The material's file is gone")
    if user.id != case.applicant_user_id:
        _log_view(session, user, case, f"{user.display_name}查看申请材料（{upload.material_code}）")
    return upload, path.read_bytes()
