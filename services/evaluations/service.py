"""Evaluations (好差评): the applicant rates a completed case once; a bad review is followed up.

Under the national good/bad review rules the rating has five levels, from very satisfied (5)
to very dissatisfied (1), with reasons from fixed lists; a bad review (不满意 or 非常不满意)
must be verified and fixed within 15 working days by the departments concerned, with a
callback to the citizen. Here it opens one follow-up for each department that rejected an
item of the case (or, if none did, for each department of the case), worked by that
department's supervisors.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from engine.clock import utcnow
from forms.catalog import Catalog, default_catalog
from services.accounts.models import User
from services.accounts.service import supervisors_of
from services.calendar import add_working_days, local_date
from services.cases import history
from services.cases.access import log_list_view
from services.cases.models import Case, CaseItem
from services.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.evaluations.models import Evaluation, FollowUp
from services.notifications.senders import Sender
from services.notifications.service import KINDS, notify

LEVELS = {
    5: ("非常满意", "Very satisfied"),
    4: ("满意", "Satisfied"),
    3: ("基本满意", "Fairly satisfied"),
    2: ("不满意", "Dissatisfied"),
    1: ("非常不满意", "Very dissatisfied"),
}
BAD_LEVEL = 2  # this level and below is a bad review (差评)
FOLLOW_UP_WORKING_DAYS = 15
REASONS: dict[str, dict[str, tuple[str, str]]] = {
    "good": {
        "done_once": ("一次办好", "Done in one go"),
        "simple_process": ("流程简便", "Simple process"),
        "fewer_materials": ("材料精简", "Few materials asked"),
        "quick": ("办理快捷", "Done quickly"),
        "no_trips": ("少跑腿或不用跑", "Few or no trips"),
        "warm_service": ("服务热情", "Friendly service"),
        "clear_guidance": ("一次告知清楚", "Clear guidance up front"),
        "transparent_progress": ("进度透明", "Progress easy to follow"),
        "easy_system": ("系统好用", "Easy-to-use system"),
    },
    "bad": {
        "complex_process": ("办事流程繁琐", "Complicated process"),
        "too_many_materials": ("材料要求多", "Too many materials asked"),
        "slow": ("办理时间长", "Took too long"),
        "overdue": ("超过承诺时限", "Not done within the promised time"),
        "repeated_trips": ("多次跑动", "Several trips needed"),
        "poor_attitude": ("服务态度差", "Poor service attitude"),
        "unclear_guidance": ("告知不清楚", "Unclear guidance"),
        "hard_system": ("系统不好用", "Hard-to-use system"),
        "unsatisfied_result": ("对办理结果不满意", "Unhappy with the result"),
        "other": ("其他", "Other"),
    },
}
REASON_LABELS = {**REASONS["good"], **REASONS["bad"]}
FOLLOW_UP_STATUS = {"open": ("待整改", "Open"), "resolved": ("已整改", "Resolved")}
MAX_COMMENT = 500
MAX_RESOLUTION = 1000


@dataclass(frozen=True)
class FollowUpRow:
    """A follow-up with the review and the case it concerns, for the supervisor's list."""

    follow_up: FollowUp
    evaluation: Evaluation
    case: Case

    @property
    def level_label(self) -> tuple[str, str]:
        return LEVELS[self.evaluation.level]

    @property
    def reason_labels(self) -> list[tuple[str, str]]:
        return [REASON_LABELS[code] for code in self.evaluation.reasons if code in REASON_LABELS]

    @property
    def applicant_phone(self) -> str:
        return self.case.data.get("applicant_phone") or ""

    def overdue(self, today: date) -> bool:
        return self.follow_up.status == "open" and self.follow_up.due_date < today


def reasons_for(level: int) -> dict[str, tuple[str, str]]:
    """The reasons one may give for a level: good ones, bad ones, or either for 基本满意."""
    if level > 3:
        return REASONS["good"]
    if level < 3:
        return REASONS["bad"]
    return REASON_LABELS


def evaluation_of(session: Session, *, case: Case) -> Evaluation | None:
    """The case's evaluation, or None while the applicant has not evaluated it."""
    return session.exec(select(Evaluation).where(Evaluation.case_id == case.id)).first()


def _validated(level: int, reasons: Iterable[str], comment: str) -> tuple[list[str], str]:
    errors: dict[str, tuple[str, str]] = {}
    if level not in LEVELS:
        errors["level"] = ("请选择满意程度（1至5）", "Choose how satisfied you are (1 to 5)")
    chosen = list(dict.fromkeys(code.strip() for code in reasons if code and code.strip()))
    allowed = reasons_for(level) if level in LEVELS else REASON_LABELS
    if any(code not in allowed for code in chosen):
        errors["reasons"] = (
            "所选原因与满意程度不符，请重新选择",
            "The reasons chosen do not match the level: choose again",
        )
    elif level in LEVELS and level <= BAD_LEVEL and not chosen:
        errors["reasons"] = (
            "请至少选择一项不满意的原因，以便部门整改",
            "Choose at least one reason, so that the department can put it right",
        )
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        errors["comment"] = _too_long("评价内容", MAX_COMMENT)
    elif "other" in chosen and not comment:
        errors["comment"] = (
            "选择“其他”时请说明具体情况",
            "Describe the problem when choosing Other",
        )
    _refuse(errors)
    return chosen, comment


def _too_long(what: str, limit: int) -> tuple[str, str]:
    return f"{what}不能超过{limit}字", f"At most {limit} characters"


def _refuse(errors: dict[str, tuple[str, str]]) -> None:
    """Refuse the input with every field's message (the first one names the error)."""
    if errors:
        first = next(iter(errors))
        raise InvalidInput(first, *errors[first], fields=errors)


def _event(session: Session, case: Case, user: User | None, kind: str, message: str) -> None:
    history.record(session, case_id=case.id, user=user, kind=kind, message=message)


def _department_names(catalog: Catalog | None) -> Mapping[str, str]:
    departments = (catalog or default_catalog()).departments
    return {code: department.name for code, department in departments.items()}


def evaluate(
    session: Session,
    *,
    user: User,
    case: Case,
    level: int,
    reasons: Iterable[str] = (),
    comment: str = "",
    catalog: Catalog | None = None,
    now: datetime | None = None,
) -> Evaluation:
    """The applicant rates their completed case, once; a bad review opens follow-ups for the
    departments concerned, due in 15 working days, and tells their supervisors. One commit."""
    if case.applicant_user_id != user.id:
        raise Forbidden("只有申请人本人可以评价办件", "Only the applicant may evaluate the case")
    if case.status != "completed":
        raise Conflict("办件全部办结后才能评价", "A case can be evaluated once it is completed")
    if evaluation_of(session, case=case) is not None:
        raise Conflict("您已评价过该办件，每个办件只能评价一次", "This case was already evaluated")
    chosen, comment = _validated(level, reasons, comment)
    now = now or utcnow()
    evaluation = Evaluation(
        case_id=case.id,
        user_id=user.id,
        level=level,
        reasons=chosen,
        comment=comment or None,
        created_at=now,
    )
    session.add(evaluation)
    try:
        session.flush()
    except IntegrityError:  # evaluated meanwhile from another tab
        session.rollback()
        raise Conflict("您已评价过该办件", "This case was already evaluated") from None
    labels = "、".join(REASON_LABELS[code][0] for code in chosen)
    note = f"（{labels}）" if labels else ""
    _event(session, case, user, "evaluated", f"申请人评价：{LEVELS[level][0]}{note}")
    if level <= BAD_LEVEL:
        names = _department_names(catalog)
        for follow_up in _open_follow_ups(session, case, evaluation, now):
            name = names.get(follow_up.department, follow_up.department)
            _event(
                session,
                case,
                None,
                "follow_up_opened",
                f"差评已转{name}核实整改，{follow_up.due_date:%Y-%m-%d}前完成并回访申请人",
            )
            _tell_supervisors(session, case, evaluation, follow_up, labels)
    session.commit()
    return evaluation


def _open_follow_ups(
    session: Session, case: Case, evaluation: Evaluation, now: datetime
) -> list[FollowUp]:
    """One follow-up per department that rejected an item, or else per department of the case."""
    departments = select(CaseItem.department).where(CaseItem.case_id == case.id).distinct()
    rejected = session.exec(departments.where(CaseItem.status == "rejected")).all()
    concerned = sorted(rejected or session.exec(departments).all())
    due = add_working_days(local_date(now), FOLLOW_UP_WORKING_DAYS)
    rows = [
        FollowUp(evaluation_id=evaluation.id, department=code, due_date=due, created_at=now)
        for code in concerned
    ]
    session.add_all(rows)
    session.flush()
    return rows


def _tell_supervisors(
    session: Session, case: Case, evaluation: Evaluation, follow_up: FollowUp, labels: str
) -> None:
    note = f"（{labels}）" if labels else ""
    body = (
        f"办件{case.number}收到“{LEVELS[evaluation.level][0]}”评价{note}，"
        f"请于{follow_up.due_date:%Y-%m-%d}前核实整改并回访申请人"
    )
    for supervisor in supervisors_of(session, department=follow_up.department):
        notify(
            session,
            user_id=supervisor.id,
            case_id=case.id,
            kind="follow_up_opened",
            title=KINDS["follow_up_opened"][0],
            body=body,
        )


def _require_supervisor(user: User) -> str:
    if user.role != "clerk" or not user.supervisor or not user.department:
        raise Forbidden(
            "只有部门负责人可以处理差评整改", "Only a department supervisor may handle follow-ups"
        )
    return user.department


def follow_ups(
    session: Session, *, user: User, status: str = "open", limit: int = 50, offset: int = 0
) -> list[FollowUpRow]:
    """The follow-ups of the supervisor's own department, earliest due first; paged in SQL."""
    department = _require_supervisor(user)
    if status not in FOLLOW_UP_STATUS:
        raise InvalidInput("status", "未知的整改状态", f"Unknown status {status!r}")
    query = (
        select(FollowUp, Evaluation, Case)
        .join(Evaluation, col(Evaluation.id) == FollowUp.evaluation_id)
        .join(Case, col(Case.id) == Evaluation.case_id)
        .where(FollowUp.department == department, FollowUp.status == status)
        .order_by(col(FollowUp.due_date), col(FollowUp.id))
        .offset(max(offset, 0))
        .limit(min(max(limit, 1), 200))
    )
    rows = [FollowUpRow(*row) for row in session.exec(query).all()]
    log_list_view(session, user, [row.case for row in rows], f"{user.display_name}差评整改回访")
    return rows


def resolve_follow_up(
    session: Session,
    *,
    user: User,
    follow_up_id: int,
    resolution: str,
    callback_done: bool,
    catalog: Catalog | None = None,
    sender: Sender | None = None,
) -> FollowUp:
    """A supervisor records how the department put the bad review right, having called the
    citizen back; the citizen is told (inbox, and SMS with a sender). One commit."""
    department = _require_supervisor(user)
    follow_up = session.get(FollowUp, follow_up_id)
    if follow_up is None or follow_up.department != department:
        raise NotFound("整改任务不存在", "No such follow-up in your department")
    if follow_up.status != "open":
        raise Conflict("该差评已整改办结", "This follow-up is already resolved")
    resolution = (resolution or "").strip()
    errors: dict[str, tuple[str, str]] = {}
    if not resolution:
        errors["resolution"] = ("请填写核实整改情况", "Describe what was found and put right")
    elif len(resolution) > MAX_RESOLUTION:
        errors["resolution"] = _too_long("整改情况", MAX_RESOLUTION)
    if not callback_done:
        errors["callback_done"] = (
            "请先回访申请人，并确认已回访",
            "Call the applicant back first, then confirm the callback",
        )
    _refuse(errors)
    now = utcnow()
    result = session.execute(
        update(FollowUp)
        .where(col(FollowUp.id) == follow_up.id, FollowUp.status == "open")
        .values(
            status="resolved",
            resolution=resolution,
            callback_done=True,
            resolved_at=now,
            resolved_by=user.id,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # resolved meanwhile by another supervisor
        session.rollback()
        raise Conflict("该差评已由他人整改办结", "Another supervisor resolved this follow-up")
    session.refresh(follow_up)
    evaluation = session.get(Evaluation, follow_up.evaluation_id)
    case = session.get(Case, evaluation.case_id)
    name = _department_names(catalog).get(department, department)
    _event(session, case, user, "follow_up_resolved", f"{name}已核实整改并回访申请人：{resolution}")
    notify(
        session,
        user_id=case.applicant_user_id,
        case_id=case.id,
        kind="evaluation_handled",
        title=KINDS["evaluation_handled"][0],
        body=f"{name}已处理您对办件{case.number}的评价：{resolution}",
        phone=case.data.get("applicant_phone"),
        sender=sender,
    )
    session.commit()
    return follow_up
