"""Moving running cases to a newer deployed version of their matter's process (issue 21).

An operator first looks at a dry run (`plan`): for each open case of the matter on another
version, where its active steps land in the target version, the steps the new version adds
ahead of it or behind it (skipped), the finished steps it would pass again, the deadlines that
move, the items it would get, or why it cannot be moved. Then applies it (`apply`) to all the
cases that can be moved or to chosen ones: in batches, each case in its own transaction (its
process state, task and timer rows, items and history together, or nothing), a case a clerk
changed meanwhile is tried again once and otherwise reported "changed meanwhile, run again".
Every run is recorded (`MigrationRun`): who, when, which matter, from and to which version,
why, and each case's outcome.

Version 0 stands for the process file shipped in bpmn/ (cases submitted before any version of
the matter was deployed).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import func
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from engine import cases as runner
from engine import store
from engine.clock import utcnow
from engine.migration import Migration, Step, migrate, save_migrated
from engine.specs import ProcessSpec
from engine.store import HumanTask, ProcessInstance, StaleInstance
from services import db_outage
from services.accounts.models import User
from services.calendar import add_working_days, local_date
from services.cases.models import Case, CaseItem
from services.cases.routing import apply_changes, finish_case, record_event
from services.errors import InvalidInput, NotFound
from services.migration_models import MigrationRun
from services.operators import require_operator, stated_reason
from services.processes import get_version, matter_of, spec_of
from services.processes_models import ProcessVersion

if TYPE_CHECKING:
    from services.runtime import Runtime

BATCH = 50  # cases per batch of an applied migration
MAX_CASES = 2000  # open cases one dry run looks at
Outcome = Literal["migrated", "unmappable", "changed", "skipped"]


# Why a case cannot be moved, by the engine's refusal code: Chinese, English
REASONS = {
    "removed_active": (
        "办件当前所在的步骤“{name}”在新版本中已删除",
        "the step the case is at, {name}, was removed in the new version",
    ),
    "removed_finished": (
        "办件已完成的步骤“{name}”在新版本中已删除，无法对应",
        "a finished step of the case, {name}, was removed in the new version and cannot be mapped",
    ),
    "subprocess_removed": (
        "办件正在运行的子流程“{name}”在新版本中已删除",
        "the subprocess the case runs, {name}, was removed in the new version",
    ),
    "waits_forever": (
        "汇合点“{name}”将永远等待一条办件已无法到达的分支",
        "the join {name} would wait forever for a branch the case can no longer reach",
    ),
    "step_failed": (
        "办件在新版本中无法继续运行（“{name}”出错）",
        "the case cannot run on in the new version ({name} fails)",
    ),
    "state": (
        "办件的流程状态与新版本不符",
        "the case's process state does not fit the new version",
    ),
    "closes_task": (
        "迁移会关闭办件尚未办理的待办“{name}”",
        "the migration would close the case's open task {name} without a decision",
    ),
}
CHANGED = ("办件在迁移期间被修改，请重新运行迁移", "the case changed meanwhile, run again")
SKIPPED = (
    "办件已办结或已在目标版本上",
    "the case is finished or already on the target version",
)


@dataclass(frozen=True)
class Deadline:
    """A deadline of a case that moves: its item, warning or overdue, from when to when."""

    item: str
    item_name: str
    deadline: str
    old_due: datetime | None
    new_due: datetime | None


@dataclass(frozen=True)
class NewItem:
    """An item the case would get: its task is among the new version's steps ahead of it
    (created when the case reaches that task, due by the item's time limit from then)."""

    code: str
    name: str
    department: str
    due_if_today: date  # its due date were it reached today


@dataclass
class CasePlan:
    """What moving one case would do, or why it cannot be moved (`reason`)."""

    case_id: int
    number: str
    from_version: int
    steps: list[tuple[str, str]] = field(default_factory=list)  # (old step, new step) names
    ahead: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)
    deadlines: list[Deadline] = field(default_factory=list)
    new_items: list[NewItem] = field(default_factory=list)
    reason: tuple[str, str] | None = None  # Chinese, English

    @property
    def mappable(self) -> bool:
        return self.reason is None


@dataclass
class Plan:
    """A dry run: the matter, the target version, what it adds and removes, and each case."""

    matter: str
    to_version: int
    from_version: int | None
    added: list[str]
    removed: list[str]
    cases: list[CasePlan]

    @property
    def mappable(self) -> list[CasePlan]:
        return [c for c in self.cases if c.mappable]

    @property
    def unmappable(self) -> list[CasePlan]:
        return [c for c in self.cases if not c.mappable]


@dataclass(frozen=True)
class MatterVersions:
    """A matter with open cases on versions other than its newest: how many on each."""

    matter: str
    name: str
    current: int
    versions: list[int]  # deployed version numbers, newest first
    open_by_version: dict[int, int]

    @property
    def behind(self) -> int:
        return sum(n for v, n in self.open_by_version.items() if v != self.current)


def _version_numbers(session: Session, matter: str) -> dict[str, int]:
    """Definition key -> the first version deployed with it."""
    rows = session.exec(
        select(ProcessVersion.definition_key, func.min(ProcessVersion.version))
        .where(ProcessVersion.matter == matter)
        .group_by(ProcessVersion.definition_key)
    ).all()
    return dict(rows)


def _open_cases(session: Session, matter: str):
    return (
        select(Case, ProcessInstance)
        .join(ProcessInstance, col(ProcessInstance.id) == Case.instance_id)
        .where(
            Case.matter == matter,
            col(Case.status) != "completed",
            col(ProcessInstance.completed).is_(False),
        )
    )


def matters_behind(session: Session, rt: Runtime, *, user: User) -> list[MatterVersions]:
    """Matters with a deployed version and open cases on another one (the migrations page)."""
    require_operator(user)
    found = []
    matters = session.exec(select(ProcessVersion.matter).distinct()).all()
    for code in sorted(matters):
        if code not in rt.catalog.matters:
            continue
        keys = _version_numbers(session, code)
        counts = session.exec(
            select(ProcessInstance.definition_key, func.count())
            .select_from(Case)
            .join(ProcessInstance, col(ProcessInstance.id) == Case.instance_id)
            .where(
                Case.matter == code,
                col(Case.status) != "completed",
                col(ProcessInstance.completed).is_(False),
            )
            .group_by(ProcessInstance.definition_key)
        ).all()
        by_version: dict[int, int] = {}
        for key, count in counts:
            number = keys.get(key, 0)
            by_version[number] = by_version.get(number, 0) + count
        numbers = sorted(
            session.exec(select(ProcessVersion.version).where(ProcessVersion.matter == code)),
            reverse=True,
        )
        current = numbers[0]
        entry = MatterVersions(code, rt.catalog.matters[code].name, current, numbers, by_version)
        if entry.behind:
            found.append(entry)
    return found


def _target(session: Session, rt: Runtime, matter: str, to_version: int) -> ProcessSpec:
    return spec_of(session, rt.specs, get_version(session, matter_code=matter, version=to_version))


def _passed(session: Session, instance_id: int) -> set[str]:
    return set(
        session.exec(
            select(HumanTask.bpmn_id).where(
                HumanTask.instance_id == instance_id, HumanTask.state == "completed"
            )
        ).all()
    )


def _names(steps: list[Step]) -> list[str]:
    return [step.name for step in steps]


def _refused(code: str, name: str) -> tuple[str, str]:
    zh, en = REASONS[code]
    return zh.format(name=name), en.format(name=name)


def _case_plan(
    session: Session,
    rt: Runtime,
    case: Case,
    version: int,
    spec: ProcessSpec,
    result: Migration,
    workflow_spec: ProcessSpec,
) -> CasePlan:
    found = CasePlan(case.id, case.number or str(case.id), version)
    if result.refusal is not None:
        found.reason = _refused(result.refusal.code, result.refusal.element.name)
        return found
    timers = set(workflow_spec.timers) | set(spec.timers)
    found.steps = [
        (landing.old.name, landing.new.name)
        for landing in result.landings
        if landing.old.bpmn_id not in timers
    ]
    found.ahead = _names(result.ahead)
    found.skipped = _names(result.skipped)
    found.repeated = _names(result.repeated)
    for move in result.deadlines:
        item = rt.catalog.items.get(move.item or "")
        found.deadlines.append(
            Deadline(
                move.item or "",
                item.name if item else (move.item or ""),
                move.deadline,
                move.old_due,
                move.new_due,
            )
        )
    has = set(session.exec(select(CaseItem.item_code).where(CaseItem.case_id == case.id)).all())
    today = local_date(utcnow())
    for step in result.ahead:
        info = spec.user_tasks.get(step.bpmn_id)
        if info is None or info.item is None or info.item in has or info.kind == "correction":
            continue
        item = rt.catalog.items.get(info.item)
        if item is None:
            continue
        has.add(item.code)
        found.new_items.append(
            NewItem(
                item.code,
                item.name,
                info.lane or item.department,
                add_working_days(today, item.time_limit_days),
            )
        )
    return found


def _chosen(
    session: Session,
    matter: str,
    target_key: str,
    from_version: int | None,
    case_ids: Collection[int] | None,
) -> list[tuple[Case, ProcessInstance, int]]:
    numbers = _version_numbers(session, matter)
    statement = _open_cases(session, matter).where(
        col(ProcessInstance.definition_key) != target_key
    )
    if case_ids is not None:
        statement = statement.where(col(Case.id).in_(list(case_ids)))
    rows = session.exec(statement.order_by(col(Case.id)).limit(MAX_CASES)).all()
    found = []
    for case, instance in rows:
        version = numbers.get(instance.definition_key, 0)
        if from_version is None or version == from_version:
            found.append((case, instance, version))
    return found


def plan(
    session: Session,
    rt: Runtime,
    *,
    user: User,
    matter_code: str,
    to_version: int,
    from_version: int | None = None,
    case_ids: Collection[int] | None = None,
) -> Plan:
    """A dry run of moving the matter's open cases (of `from_version`, or of every other
    version; only `case_ids` if given) to `to_version`. Nothing is changed."""
    require_operator(user)
    matter = matter_of(rt, matter_code)
    target = get_version(session, matter_code=matter.code, version=to_version)
    spec = spec_of(session, rt.specs, target)
    cases = []
    added: dict[str, str] = {}
    removed: dict[str, str] = {}
    for case, instance, version in _chosen(
        session, matter.code, target.definition_key, from_version, case_ids
    ):
        old = store.spec_for(session, rt.specs, instance)
        workflow = runner.restore(instance.state, old)  # a copy: the case is not touched
        result = migrate(workflow, old, spec, passed=_passed(session, instance.id))
        added.update((s.bpmn_id, s.name) for s in result.added)
        removed.update((s.bpmn_id, s.name) for s in result.removed)
        cases.append(_case_plan(session, rt, case, version, spec, result, old))
    session.rollback()  # end the read transaction: nothing was written
    return Plan(
        matter.code,
        to_version,
        from_version,
        sorted(added.values()),
        sorted(removed.values()),
        cases,
    )


class _Refused(Exception):
    def __init__(self, reason: tuple[str, str]) -> None:
        super().__init__(reason[1])
        self.reason = reason


@dataclass(frozen=True)
class _Move:
    """What every case of one run is moved with."""

    rt: Runtime
    user: User
    target: ProcessVersion
    spec: ProcessSpec
    reason: str
    on_loaded: Callable[[int], None] | None


def _move_case(session: Session, move: _Move, case_id: int) -> tuple[Outcome, int]:
    """Move one case in the session's transaction (the caller commits or rolls back); returns
    the outcome and the version it came from. Raises StaleInstance when a clerk saved the
    case's process since it was read, _Refused when it cannot be moved."""
    case = session.get(Case, case_id)
    if case is None or case.instance_id is None or case.status == "completed":
        return "skipped", 0
    instance, old, workflow = store.load_workflow(session, move.rt.specs, case.instance_id)
    from_version = _version_numbers(session, case.matter).get(instance.definition_key, 0)
    if instance.completed or instance.definition_key == move.target.definition_key:
        return "skipped", from_version
    result = migrate(workflow, old, move.spec, passed=_passed(session, instance.id))
    if result.refusal is not None:
        raise _Refused(_refused(result.refusal.code, result.refusal.element.name))
    if move.on_loaded is not None:
        move.on_loaded(case_id)
    matter = matter_of(move.rt, case.matter)
    changes = save_migrated(session, move.spec, instance, workflow, matter.bpmn)
    if changes.closed:
        raise _Refused(_refused("closes_task", ", ".join(changes.closed)))
    lanes = {task.task_id: task.lane for task in runner.observe(move.spec, workflow).ready}
    for row in session.exec(
        select(CaseItem).where(
            CaseItem.case_id == case.id, col(CaseItem.engine_task_id).in_(list(lanes))
        )
    ):
        lane = lanes.get(row.engine_task_id or "")
        if lane and lane in move.rt.catalog.departments and lane != row.department:
            row.department = lane
            session.add(row)
    now = utcnow()
    note = f"：{move.reason}"
    message = f"流程版本迁移 v{from_version}→v{move.target.version}{note}"
    record_event(session, case, move.user, "migrated", message, tell=False)
    apply_changes(session, move.rt, case, changes, now, tell=False)
    if runner.is_completed(workflow):
        finish_case(session, case)
    session.add(case)
    return "migrated", from_version


def apply(
    session: Session,
    rt: Runtime,
    *,
    user: User,
    matter_code: str,
    to_version: int,
    reason: str,
    from_version: int | None = None,
    case_ids: Collection[int] | None = None,
    batch: int = BATCH,
    between_batches: Callable[[int], None] | None = None,
    on_loaded: Callable[[int], None] | None = None,
) -> MigrationRun:
    """Move the matter's open cases (of `from_version` or any other version; only `case_ids`
    if given) to `to_version`, `batch` cases at a time, each in its own transaction, and
    record the run. A case a clerk changed meanwhile is tried again once, then reported
    "changed"; one that cannot be moved is reported with the reason. `between_batches` (the
    number of batches done) and `on_loaded` (a case read, not yet saved) let tests put a
    clerk's decision at a chosen moment."""
    require_operator(user)
    reason = stated_reason(reason)
    matter = matter_of(rt, matter_code)
    target = get_version(session, matter_code=matter.code, version=to_version)
    spec = spec_of(session, rt.specs, target)
    chosen = [
        case.id
        for case, _instance, _version in _chosen(
            session, matter.code, target.definition_key, from_version, case_ids
        )
    ]
    if case_ids is not None and not chosen:
        raise InvalidInput(
            "case_ids",
            "所选办件都不在其他版本上运行，或已办结",
            "none of the chosen cases runs open on another version",
        )
    run = MigrationRun(
        matter=matter.code,
        from_version=from_version,
        to_version=to_version,
        operator_user_id=user.id,
        reason=reason,
        chosen=len(chosen),
    )
    session.add(run)
    session.commit()
    run_id = run.id
    move = _Move(rt, user, target, spec, reason, on_loaded)
    outcomes: list[dict[str, Any]] = []
    for start in range(0, len(chosen), batch):
        if start and between_batches is not None:
            between_batches(start // batch)
        for case_id in chosen[start : start + batch]:
            outcomes.append(_move_once(session, move, case_id))
    run = session.get(MigrationRun, run_id)
    run.outcomes = outcomes
    for outcome in ("migrated", "unmappable", "changed", "skipped"):
        setattr(run, outcome, sum(1 for o in outcomes if o["outcome"] == outcome))
    run.finished_at = utcnow()
    session.add(run)
    session.commit()
    session.refresh(run)
    return run


def _move_once(session: Session, move: _Move, case_id: int) -> dict[str, Any]:
    """One case's transaction, tried again once when a clerk's step raced it."""
    number = session.exec(select(Case.number).where(Case.id == case_id)).one()
    entry: dict[str, Any] = {"case_id": case_id, "number": number, "from_version": None}
    for attempt in range(2):
        try:
            outcome, from_version = _move_case(session, move, case_id)
            session.commit()
        except _Refused as refused:
            session.rollback()
            return {**entry, "outcome": "unmappable", "reason": list(refused.reason)}
        except (StaleInstance, OperationalError) as exc:
            session.rollback()
            if isinstance(exc, OperationalError) and db_outage.unavailable(exc):
                raise
            if attempt == 0:
                continue
            return {**entry, "outcome": "changed", "reason": list(CHANGED)}
        except BaseException:
            session.rollback()
            raise
        entry["from_version"] = from_version
        entry["retried"] = attempt > 0
        if outcome == "skipped":
            return {**entry, "outcome": "skipped", "reason": list(SKIPPED)}
        return {**entry, "outcome": "migrated", "reason": None}
    raise AssertionError("unreachable")


def runs(session: Session, *, user: User, matter_code: str | None = None) -> list[MigrationRun]:
    """The recorded migration runs, newest first (the last 100)."""
    require_operator(user)
    statement = select(MigrationRun)
    if matter_code:
        statement = statement.where(MigrationRun.matter == matter_code)
    return list(session.exec(statement.order_by(col(MigrationRun.id).desc()).limit(100)).all())


def get_run(session: Session, *, user: User, run_id: int) -> MigrationRun:
    require_operator(user)
    run = session.get(MigrationRun, run_id)
    if run is None:
        raise NotFound("没有这次迁移记录", "no such migration run")
    return run
