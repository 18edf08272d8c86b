"""Decisions: a department approves, rejects (with a reason from the item's list) or sends back
for correction one item; the item's process task completes in the same transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from engine import cases as runner
from engine import store
from engine.clock import utcnow
from engine.store import ProcessInstance
from services import rows
from services.accounts.models import User
from services.cases import incidents, workbench
from services.cases.access import load_case_item, require_system
from services.cases.models import Case, CaseItem
from services.cases.result_data import check_result_data
from services.cases.routing import (
    apply_changes,
    department_name,
    finish_case,
    record_event,
    routing_summary,
    run_step,
)
from services.errors import Conflict, InvalidInput
from services.notifications.case_notifications import on_case_event
from services.notifications.senders import default_sender
from services.runtime import Runtime

DECISIONS = ("approved", "rejected", "correction")


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
    result_data: Mapping[str, object] | None = None,
) -> CaseItem:
    """Approve, reject, or send back for correction a department's item; completes its process
    task and, if last, the case. For a correction, `reopen` names the facts and materials
    (`material_<code>`) of the item the applicant must correct; only they are reopened.

    An approval records the item's result data (its catalog `results`: the child's assigned
    citizen ID, the licence's credit code...): a clerk's in `result_data`, checked whole (only
    the item's keys, every required one, each of its type), or none when it is left out (an API
    client that records none); a department system's are the entries of its `result` named by
    the item's results, checked the same way, the whole `result` kept as before.

    A department system that fetched and locked the item passes its `worker_id` (and may attach
    `result` data); while the lock holds, nobody else may decide the item."""
    if decision not in DECISIONS:
        raise InvalidInput(
            "decision", "请选择“通过”“退回补正”或“不予办理”", "Choose approve, correction or reject"
        )
    comment = (comment or "").strip()
    # The item, its case and its instance in one query, before the checks below read them (the
    # identity map serves their `get`s while `held` keeps the objects alive).
    held = _read_for_decision(session, item_id)  # noqa: F841
    if decision == "rejected":
        comment = _rejection(rt, session, item_id, user, reason, comment)
    if decision == "correction" and not comment:
        raise InvalidInput(
            "comment", "退回补正时请说明需要补正的内容", "Say what must be corrected"
        )
    if len(comment) > 500:
        raise InvalidInput("comment", "意见不能超过500字", "At most 500 characters")
    recorded = None
    if decision == "approved":
        recorded = _recorded_results(rt, session, item_id, user, result_data, result, worker_id)

    def step() -> CaseItem:
        row = _decide_once(session, rt, user, item_id, decision, comment, worker_id, reopen or [])
        if result:
            row.result = dict(result)
        if recorded:
            row.result_data = recorded
        session.add(row)
        return row

    try:
        return run_step(session, step)
    except runner.StepFailed as failure:
        row = session.get(CaseItem, item_id)
        case = session.get(Case, row.case_id)
        raise incidents.record(
            session,
            failure,
            matter=case.matter,
            step="decision",
            case_id=case.id,
            case_item_id=row.id,
            actor_user_id=user.id,
        ) from failure


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
    # (the item, its case and its instance were read by `decide`; after a retry's rollback
    # each is read again by its `get`)
    row = load_case_item(session, item_id=item_id, user=user)
    correction = _correction_request(rt, row, reopen, comment) if decision == "correction" else {}
    if row.status != "processing":
        raise Conflict(
            "该事项已由他人办理，请刷新待办列表", "This task was already decided by someone else"
        )
    if worker_id is None:
        workbench.check_can_decide(row, user)
    else:  # the external-task API: a department's system, on a task no clerk holds
        require_system(user)
        if row.claimed_by is not None:
            raise Conflict(
                "该事项已由窗口人员认领，部门业务系统不能办理",
                "A clerk claimed this task: the department system may not decide it",
            )
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
            workflow, row.engine_task_id, runner.decision_data(row.item_code, decision, comment)
        )
    except runner.TaskNotReady:
        raise Conflict("该事项已由他人办理", "This task was already decided") from None
    changes = store.save_instance(session, spec, instance, workflow)
    now = utcnow()
    # One UPDATE of the item's row, sent now (not through the ORM's unit of work at a flush).
    rows.write(
        session,
        row,
        status=decision,
        comment=comment or None,
        correction=correction,
        corrections=row.corrections + (1 if decision == "correction" else 0),
        locked_by=None,
        lock_expires_at=None,
        clerk_user_id=user.id,
        decided_at=now,
        result_number=f"{case.number}-{row.id:04d}"
        if decision == "approved"
        else row.result_number,
    )
    item = rt.catalog.items[row.item_code]
    verb = {"approved": "办结", "rejected": "不予办理", "correction": "退回补正"}[decision]
    note = f"（{comment}）" if comment else ""
    message = f"{department_name(rt, row.department)}{verb}：{item.name}{note}"
    record_event(session, case, user, decision, message, tell=False)
    routed = apply_changes(session, rt, case, changes, now, tell=False)
    # One message for the decision, naming the items it let go on (the next step's department).
    on_case_event(
        session,
        case=case,
        kind=decision,
        message=message,
        details=routing_summary(rt, routed),
        sender=default_sender(),
    )
    if runner.is_completed(workflow):
        finish_case(session, case)
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


def _recorded_results(
    rt: Runtime,
    session: Session,
    item_id: int,
    user: User,
    result_data: Mapping[str, object] | None,
    result: Mapping[str, Any] | None,
    worker_id: str | None,
) -> dict[str, str] | None:
    """The result data an approval records, checked against the item's `results` (None: none
    given). A department system's are the entries of its `result` the item's results name."""
    if worker_id is None and result_data is None:
        return None  # a clerk's approval that records no result data
    row = load_case_item(session, item_id=item_id, user=user)
    item = rt.catalog.items[row.item_code]
    if worker_id is not None:
        keys = {field.key for field in item.results}
        result_data = {k: v for k, v in (result or {}).items() if k in keys} or None
    if result_data is None:
        return None
    case = session.get(Case, row.case_id)
    return check_result_data(item, result_data, case.data) or None


def _correction_request(rt: Runtime, row: CaseItem, reopen: list[str], note: str) -> dict:
    """What the applicant must correct: facts and materials of this item only."""
    item = rt.catalog.items[row.item_code]
    allowed_facts = set(item.fact_keys)
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
