"""Repairing a case by hand (issue 21): an operator withdraws an item, re-opens a decided one,
moves a waiting step to another step of its branch, or corrects a fact, each for a stated
reason that goes into the case's history and to the applicant.

Each repair is one transaction with the process step it makes (`engine.repair`): all or
nothing. It is not retried: a repair decided on what the operator saw must not be applied to a
case a department changed meanwhile, so a stale process state is a Conflict ("reload").

What a real office does with a decision taken back: the decided item is kept as it was, marked
superseded, and a new item goes to the department's queue; the certificate issued for the old
decision is revoked (verification says so), the new decision issues a new one under a new
number. A withdrawn item keeps its row, marked withdrawn ("cancelled"), and the case completes
without it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlmodel import Session, col, select

from engine import cases as runner
from engine import repair as engine_repair
from engine import store
from engine.clock import utcnow
from engine.store import HumanTask, StaleInstance
from forms.compiler import condition_holds
from forms.values import InvalidValue, missing_message, parse_value
from services.accounts.models import User
from services.cases import history
from services.cases.access import MASKED_TYPES, log_view, require_kept
from services.cases.corrections import shown_value
from services.cases.models import Case, CaseEvent, CaseItem, Delivery
from services.cases.progress import ITEM_STATUS, events_of
from services.cases.routing import apply_changes, department_name, finish_case, routing_summary
from services.cases.submission import answerable_facts, subject_key
from services.certificates.models import Certificate
from services.errors import Conflict, InvalidInput, NotFound
from services.notifications.case_notifications import on_case_event
from services.notifications.senders import default_sender
from services.operators import require_operator, stated_reason
from services.runtime import Runtime

KIND = "repair"  # the history event's kind (and the applicant's notification: "repaired")
WITHDRAWN, SUPERSEDED = "cancelled", "superseded"  # item statuses a repair leaves
OPEN = ("processing", "correction")
DECIDED = ("approved", "rejected", WITHDRAWN)
# Who applied comes from the verified identity, not from an answer: never corrected here.
IDENTITY_FACTS = ("applicant_name", "applicant_id_number")
REPAIR_SOURCE = "repair"  # a provenance entry's `source`: corrected by an operator
T = TypeVar("T")

OPERATIONS = {
    "cancel": ("撤回事项", "Withdraw an item"),
    "reopen": ("重新办理事项", "Re-open an item"),
    "move": ("流程步骤调整", "Move a step"),
    "correct": ("更正信息", "Correct a fact"),
}
_REFUSED = {
    "not_active": ("该步骤已不在等待办理，请刷新后重试", "That step is no longer waiting: reload"),
    "active": (
        "该事项或其后的步骤仍在办理中，不能重新办理；可改用“流程步骤调整”",
        "The item or a later step of its branch is still open: move the step instead",
    ),
    "not_reached": (
        "流程从未经过该事项的办理步骤，不能重新办理",
        "The process never reached this item's task, so it cannot be re-opened",
    ),
    "not_a_target": (
        "目标步骤不在该步骤所在的流程分支上（隔着并行网关或不存在），不能调整过去",
        "The target is not a task of the step's branch (a parallel gateway lies between)",
    ),
    "no_task": ("流程中没有该事项的办理步骤", "The process has no task for this item"),
}


# ---------------------------------------------------------------- who and why


def find_case(session: Session, *, user: User, number: str) -> Case:
    """The case with this number (16 characters, as printed), for an operator."""
    require_operator(user)
    number = (number or "").strip().upper()
    case = None
    if 0 < len(number) <= 32:
        case = session.exec(select(Case).where(Case.number == number)).first()
    if case is None:
        raise NotFound("没有该编号的办件", "No case has this number")
    return require_kept(case)


# ---------------------------------------------------------------- the operator's view


@dataclass(frozen=True)
class ItemState:
    row: CaseItem
    name: str
    name_en: str
    department_name: str
    status: str
    status_label: tuple[str, str]

    @property
    def can_cancel(self) -> bool:
        return self.status in OPEN

    @property
    def can_reopen(self) -> bool:
        return self.status in DECIDED


@dataclass(frozen=True)
class StepTarget:
    bpmn_id: str
    name: str


@dataclass(frozen=True)
class ActiveStep:
    """A human task waiting in the case's process, and where it may be moved."""

    task_id: str
    bpmn_id: str
    name: str
    item: str | None
    kind: str  # user | correction
    targets: list[StepTarget]


@dataclass(frozen=True)
class FactEntry:
    key: str
    label: str
    label_en: str
    type: str
    shown: str
    shown_en: str
    masked: bool
    correctable: bool


@dataclass(frozen=True)
class RepairView:
    case: Case
    items: list[ItemState]
    steps: list[ActiveStep]
    facts: list[FactEntry]
    events: list[CaseEvent]


def repair_view(session: Session, rt: Runtime, *, user: User, number: str) -> RepairView:
    """A case as an operator repairs it: its items and their states, the steps waiting in its
    process (each with the steps it may be moved to), its facts (personal numbers masked) and
    its history. Opening it is a look at personal data: logged for the applicant to see."""
    case = find_case(session, user=user, number=number)
    log_view(session, user, case, f"{user.display_name}检修办件")
    return case_state(session, rt, case)


def case_state(session: Session, rt: Runtime, case: Case) -> RepairView:
    """The case's items, waiting steps, facts (masked) and history; the caller logs a look."""
    rows = session.exec(
        select(CaseItem).where(CaseItem.case_id == case.id).order_by(col(CaseItem.id))
    ).all()
    items = []
    for row in rows:
        item = rt.catalog.items.get(row.item_code)
        items.append(
            ItemState(
                row=row,
                name=item.name if item else row.item_code,
                name_en=item.name_en if item else row.item_code,
                department_name=department_name(rt, row.department),
                status=row.status,
                status_label=ITEM_STATUS.get(row.status, (row.status, row.status)),
            )
        )
    return RepairView(
        case=case,
        items=items,
        steps=_steps(session, rt, case),
        facts=_facts(rt, case),
        events=events_of(session, case=case),
    )


def _steps(session: Session, rt: Runtime, case: Case) -> list[ActiveStep]:
    if case.instance_id is None:
        return []
    instance = session.get(store.ProcessInstance, case.instance_id)
    spec = store.spec_for(session, rt.specs, instance)
    tasks = session.exec(
        select(HumanTask)
        .where(HumanTask.instance_id == case.instance_id, HumanTask.state == "ready")
        .order_by(col(HumanTask.created_at), col(HumanTask.id))
    ).all()
    names = {bpmn_id: info.name for bpmn_id, info in spec.user_tasks.items()}
    return [
        ActiveStep(
            task_id=task.id,
            bpmn_id=task.bpmn_id,
            name=task.name,
            item=task.item,
            kind=task.kind,
            targets=[
                StepTarget(target, names.get(target, target))
                for target in engine_repair.move_targets(spec, task.bpmn_id)
            ],
        )
        for task in tasks
    ]


def _facts(rt: Runtime, case: Case) -> list[FactEntry]:
    matter = rt.catalog.matters.get(case.matter)
    correctable = _correctable(rt, case)
    keys = [key for key in case.data if key in rt.catalog.facts]
    if matter is not None:
        keys = sorted(keys, key=lambda key: (key not in correctable, key))
    entries = []
    for key in keys:
        fact = rt.catalog.facts[key]
        masked = fact.type in MASKED_TYPES or key == "applicant_id_number"
        shown, shown_en = shown_value(fact, case.data.get(key), masked=masked)
        entries.append(
            FactEntry(
                key=key,
                label=fact.label,
                label_en=fact.label_en,
                type=fact.type,
                shown=shown,
                shown_en=shown_en,
                masked=masked,
                correctable=key in correctable,
            )
        )
    return entries


def _correctable(rt: Runtime, case: Case) -> set[str]:
    matter = rt.catalog.matters.get(case.matter)
    if matter is None:
        return set()
    return answerable_facts(rt, matter) - set(IDENTITY_FACTS)


# ---------------------------------------------------------------- the four repairs


def cancel_item(
    session: Session, rt: Runtime, *, user: User, case_id: int, item_id: int, reason: str
) -> CaseItem:
    """Withdraw an open item: its department's task is withdrawn (deadline timers with it), the
    process goes on without it, and the case completes when its other items are done."""
    require_operator(user)
    reason = stated_reason(reason)

    def step() -> CaseItem:
        case, row = _case_and_item(session, case_id, item_id)
        if row.status not in OPEN:
            raise Conflict(
                "该事项不在办理中，不能撤回", "The item is not open: nothing to withdraw"
            )
        instance, spec, workflow = store.load_workflow(session, rt.specs, case.instance_id)
        engine_repair.withdraw_item(workflow, spec, row.item_code)
        changes = store.save_instance(session, spec, instance, workflow)
        now = utcnow()
        _close(row, WITHDRAWN, now, comment=f"已撤回：{reason}")
        _settle_correction(session, case)
        item = rt.catalog.items[row.item_code]
        dept = department_name(rt, row.department)
        message = f"运维人员撤回事项：{item.name}（{dept}），该事项不再办理。理由：{reason}"
        _record(session, rt, user, case, message, changes, now, workflow)
        return row

    return _repair(session, step)


def reopen_item(
    session: Session, rt: Runtime, *, user: User, case_id: int, item_id: int, reason: str
) -> CaseItem:
    """Send a decided (or withdrawn) item back to its department: the old item is kept,
    superseded, its certificate revoked; a new item waits in the department's queue with a
    new time limit. A completed case is open again until it completes anew. Returns the new
    item."""
    require_operator(user)
    reason = stated_reason(reason)

    def step() -> CaseItem:
        case, row = _case_and_item(session, case_id, item_id)
        if row.status not in DECIDED:
            raise Conflict(
                "该事项尚未办结，不能重新办理", "The item is not decided: nothing to re-open"
            )
        instance, spec, workflow = store.load_workflow(session, rt.specs, case.instance_id)
        engine_repair.reopen_item(workflow, spec, row.item_code)
        changes = store.save_instance(session, spec, instance, workflow)
        now = utcnow()
        revoked = _supersede(session, row)
        _reopen_case(session, rt, case)
        item = rt.catalog.items[row.item_code]
        dept = department_name(rt, row.department)
        note = "，原电子证照已作废" if revoked else ""
        message = f"运维人员将已办结事项退回{dept}重新办理：{item.name}{note}。理由：{reason}"
        created = _record(session, rt, user, case, message, changes, now, workflow)
        again = [new for new in created if new.item_code == row.item_code]
        if not again:
            raise Conflict(*_REFUSED["not_reached"])
        return again[0]

    return _repair(session, step)


def move_step(
    session: Session,
    rt: Runtime,
    *,
    user: User,
    case_id: int,
    task_id: str,
    target: str,
    reason: str,
) -> Case:
    """Move a waiting step of the case's process to another department task of its branch
    (back to an earlier step, or on to a later one): the waiting item is withdrawn, the
    target's item goes to its department's queue (an earlier decision of it superseded, its
    certificate revoked)."""
    require_operator(user)
    reason = stated_reason(reason)

    def step() -> Case:
        case = _case(session, case_id)
        task = session.get(HumanTask, task_id) if task_id and len(task_id) <= 36 else None
        if task is None or task.instance_id != case.instance_id or task.state != "ready":
            raise Conflict(*_REFUSED["not_active"])
        instance, spec, workflow = store.load_workflow(session, rt.specs, case.instance_id)
        info = spec.user_tasks.get(target)
        if info is None or info.kind is not None:
            raise InvalidInput("target", *_REFUSED["not_a_target"])
        open_rows = _rows(session, case, info.item, OPEN) if info.item else []
        if open_rows:
            raise Conflict(
                "目标步骤的事项仍在办理中，不能调整过去",
                "The target's item is still open: withdraw it first",
            )
        try:
            engine_repair.move(workflow, spec, task_id, target)
        except engine_repair.RepairRefused as refused:
            if refused.code == "not_a_target":
                raise InvalidInput("target", *_REFUSED["not_a_target"]) from None
            raise
        changes = store.save_instance(session, spec, instance, workflow)
        now = utcnow()
        for row in _rows(session, case, task.item, OPEN):
            _close(row, WITHDRAWN, now, comment=f"流程调整，已撤回：{reason}")
        revoked = False
        for row in _rows(session, case, info.item, ("approved", "rejected")):
            revoked = _supersede(session, row) or revoked
        _settle_correction(session, case)
        note = "，原电子证照已作废" if revoked else ""
        message = f"运维人员调整办理步骤：由“{task.name}”改为“{info.name}”{note}。理由：{reason}"
        _record(session, rt, user, case, message, changes, now, workflow)
        return case

    return _repair(session, step)


def correct_fact(
    session: Session,
    rt: Runtime,
    *,
    user: User,
    case_id: int,
    key: str,
    value: Any,
    reason: str,
) -> Case:
    """Correct one fact of the application: checked as the form checks it (its type, a
    citizen ID's checksum...). The items' conditions are evaluated again (the same sandbox as
    the form's): a correction that would change which items the case needs is refused, naming
    them. A fact the process reads is changed in the process too. The history names the fact,
    never its value."""
    require_operator(user)
    reason = stated_reason(reason)
    case = _case(session, case_id)
    if key not in _correctable(rt, case):
        raise InvalidInput("key", "该信息不能由运维人员更正", "This fact cannot be corrected here")
    fact = rt.catalog.facts[key]
    try:
        parsed = parse_value(fact, value)
    except InvalidValue as exc:
        raise InvalidInput("value", f"{fact.label}：{exc.message}", exc.message_en) from None
    if parsed is None:
        raise InvalidInput("value", *missing_message(fact))
    if parsed == case.data.get(key):
        raise InvalidInput("value", "新值与原值相同", "The new value is the same as the old one")
    _refuse_changed_items(rt, case, {**case.data, key: parsed})
    _refuse_decided_on_it(session, rt, case, key)

    def step() -> Case:
        case = _case(session, case_id)
        now = utcnow()
        if case.instance_id is not None and case.status != "completed":
            instance, spec, workflow = store.load_workflow(session, rt.specs, case.instance_id)
            if key in spec.variables:
                engine_repair.set_variables(workflow, {key: parsed})
            store.save_instance(session, spec, instance, workflow)  # stale: refused
        if case.subject_key is not None:  # an open or granted case keeps its subject
            _claim_subject(session, rt, case, {**case.data, key: parsed})
        case.data = {**case.data, key: parsed}
        case.provenance = {
            **case.provenance,
            key: {"source": REPAIR_SOURCE, "corrected_at": now.isoformat()},
        }
        message = f"运维人员更正信息：{fact.label}。理由：{reason}"
        _record(session, rt, user, case, message, store.Changes(), now, None)
        return case

    return _repair(session, step)


def _refuse_changed_items(rt: Runtime, case: Case, data: dict[str, Any]) -> None:
    """InvalidInput when the corrected data change which items the case's matter needs."""
    matter = rt.catalog.matters.get(case.matter)
    if matter is None:
        return
    gained, lost = [], []
    for item in rt.catalog.items_of(matter):
        before = condition_holds(item.when, case.data)
        after = condition_holds(item.when, data)
        if after and not before:
            gained.append(item.name)
        elif before and not after:
            lost.append(item.name)
    if gained or lost:
        parts = ([f"新增：{'、'.join(gained)}"] if gained else []) + (
            [f"不再需要：{'、'.join(lost)}"] if lost else []
        )
        raise InvalidInput(
            "value",
            f"此更正会改变办件需要办理的事项（{'；'.join(parts)}），不能直接更正；"
            "请先撤回或重新办理相关事项，或请申请人重新申请",
            "This correction changes which items the case needs; withdraw or re-open those "
            "items first, or have the applicant apply again",
        )


def _refuse_decided_on_it(session: Session, rt: Runtime, case: Case, key: str) -> None:
    """InvalidInput when an item that asks for the fact was already decided on its old value
    (its result, a certificate perhaps, would stay as it is): those items are re-opened first,
    then the fact corrected, and their departments decide again on the corrected value. How to
    reach the applicant (subject "contact": phone, delivery address) decides nothing."""
    if rt.catalog.facts[key].subject == "contact":
        return
    decided = [
        row
        for row in _rows(session, case, None, ("approved", "rejected"), any_item=True)
        if (item := rt.catalog.items.get(row.item_code)) is not None and key in item.fact_keys
    ]
    if decided:
        names = "、".join(dict.fromkeys(rt.catalog.items[row.item_code].name for row in decided))
        names_en = ", ".join(
            dict.fromkeys(rt.catalog.items[row.item_code].name_en for row in decided)
        )
        raise InvalidInput(
            "value",
            f"已办结的事项使用了此信息（{names}）：请先将其重新办理，再更正，部门将按更正后的信息重新办理",
            f"Decided items used this fact ({names_en}): re-open them first, then correct it; "
            "their departments decide again on the corrected value",
        )


# ---------------------------------------------------------------- shared steps


def _repair(session: Session, step: Callable[[], T]) -> T:
    """Run one repair and commit it, all or nothing; a case changed meanwhile is a Conflict."""
    try:
        result = step()
        session.commit()
        return result
    except StaleInstance:
        session.rollback()
        raise Conflict(
            "办件刚被他人更新（例如部门同时作出了决定），本次检修未生效，请刷新后重试",
            "Someone changed the case meanwhile (a department deciding, say): nothing was "
            "repaired; reload and try again",
        ) from None
    except engine_repair.RepairRefused as refused:
        session.rollback()
        raise Conflict(*_REFUSED.get(refused.code, _REFUSED["not_active"])) from None
    except runner.StepFailed as failure:
        session.rollback()
        raise Conflict(
            f"流程无法按此方式继续（{failure.element_name or failure.element_id}）：{failure.reason}",
            f"The process cannot go on this way at {failure.element_id}: {failure.reason}",
        ) from failure
    except BaseException:
        session.rollback()
        raise


def _case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound("办件不存在", "No such case")
    return require_kept(case)


def _case_and_item(session: Session, case_id: int, item_id: int) -> tuple[Case, CaseItem]:
    case = _case(session, case_id)
    row = session.get(CaseItem, item_id)
    if row is None or row.case_id != case.id:
        raise NotFound("该办件没有这个事项", "The case has no such item")
    if case.instance_id is None:
        raise Conflict("该办件没有流程实例", "The case has no process")
    return case, row


def _rows(
    session: Session, case: Case, item: str | None, statuses, *, any_item: bool = False
) -> list[CaseItem]:
    """The case's items of code `item` (every item's: `any_item`) in one of `statuses`."""
    query = select(CaseItem).where(CaseItem.case_id == case.id, col(CaseItem.status).in_(statuses))
    if not any_item:
        query = query.where(CaseItem.item_code == item)
    return list(session.exec(query).all())


def _close(row: CaseItem, status: str, now: datetime, *, comment: str) -> None:
    row.status = status
    row.comment = comment[:500]
    row.claimed_by = None
    row.claimed_at = None
    row.locked_by = None
    row.lock_expires_at = None
    row.decided_at = row.decided_at or now


def _settle_correction(session: Session, case: Case) -> None:
    """A case waiting for corrections goes on once no item of it waits for one any more."""
    session.flush()
    if case.status == "correction" and not _rows(
        session, case, None, ("correction",), any_item=True
    ):
        case.status = "processing"


def _supersede(session: Session, row: CaseItem) -> bool:
    """The decided item taken back: superseded, its certificate (if issued) revoked."""
    row.status = SUPERSEDED
    session.add(row)
    certificate = session.exec(
        select(Certificate).where(Certificate.case_item_id == row.id)
    ).first()
    if certificate is None or certificate.revoked:
        return False
    certificate.revoked = True
    session.add(certificate)
    return True


def _reopen_case(session: Session, rt: Runtime, case: Case) -> None:
    """A completed case open again: its results wait for the new decision (a delivery not
    shipped yet is dropped; it is prepared again when the case completes)."""
    if case.status != "completed":
        return
    if case.subject_key is None:  # every item was refused: the subject was given up
        _claim_subject(session, rt, case, case.data)
    case.status = "processing"
    case.outcome = None
    case.completed_at = None
    delivery = session.exec(select(Delivery).where(Delivery.case_id == case.id)).first()
    if delivery is not None and delivery.status == "preparing":
        session.delete(delivery)
        session.flush()


def _claim_subject(session: Session, rt: Runtime, case: Case, data: dict[str, Any]) -> None:
    """The case's subject key for `data` (what it is about: one open or granted case per
    matter and subject); Conflict when another case of the matter holds it."""
    matter = rt.catalog.matters.get(case.matter)
    if matter is None:
        return
    key = subject_key(matter, data, case.applicant_id_number)
    if key == case.subject_key:
        return
    if key is not None:
        other = session.exec(
            select(Case.id).where(
                Case.matter == case.matter, Case.subject_key == key, Case.id != case.id
            )
        ).first()
        if other is not None:
            raise Conflict(
                "同一申请对象已有另一件办理中或已办结的办件，不能这样检修",
                "Another open or granted case of this matter has the same subject",
            )
    case.subject_key = key


def _record(
    session: Session,
    rt: Runtime,
    user: User,
    case: Case,
    message: str,
    changes: store.Changes,
    now: datetime,
    workflow,
) -> list[CaseItem]:
    """The repair in the history, what the process did next as items, the applicant told in
    one message; the case completes if its process did."""
    history.record(session, case_id=case.id, user=user, kind=KIND, message=message)
    session.flush()
    created = apply_changes(session, rt, case, changes, now, tell=False)
    on_case_event(
        session,
        case=case,
        kind=KIND,
        message=message,
        details=routing_summary(rt, created),
        sender=default_sender(),
    )
    if workflow is not None and runner.is_completed(workflow) and case.status != "completed":
        finish_case(session, case)
    session.add(case)
    return created
