"""Acting for someone else (代办): a principal (委托人) authorizes an agent (代办人) to apply for
them, for some matters or all, until a date.

- Recorded online by the principal (naming the agent by ID number and name), or at the front
  desk with the principal's written authorization scanned (the scan kept in the file store).
- The agent applies with the principal's form: the case's applicant is the principal, the
  registries are read for the principal under the consent the authorization gives (that basis
  in the lookup log's purpose, the agent as actor), the agent named in the case's history and
  linked to the case (`AgentCase`), the principal told in their inbox.
- The agent sees the cases they filed while the authorization lasts, and nothing else of the
  principal's (every look logged); the principal sees everything the agent did.
- The principal withdraws the authorization at any time; the agent's access ends with it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlmodel import Session, col, select

from engine.clock import utcnow
from forms.compiler import CompiledForm
from forms.values import InvalidValue, check_citizen_id
from services.accounts.models import User
from services.agency.models import AgentCase, Authorization
from services.calendar import local_date
from services.cases import submission
from services.cases.access import log_view, require_citizen, require_kept
from services.cases.frontdesk import _walk_in_applicant, require_front_desk
from services.cases.models import Case, CaseEvent, CaseItem, DraftUpload
from services.cases.uploads import UploadedFile, check_file
from services.configuration.matters import published_matters
from services.errors import Forbidden, InvalidInput, NotFound
from services.notifications.service import notify
from services.registries.models import DataAccess
from services.runtime import Runtime

MAX_DAYS = 366  # an authorization lasts at most a year; a new one is given after
ONLINE, FRONT_DESK = "online", "frontdesk"
SCAN_MATERIAL = "written_authorization"  # the scan's field name in refusals


def basis_of(authorization: Authorization) -> str:
    """What the lookup log and the case's history name as the ground of an agent's act."""
    return f"依{authorization.principal_name}的代办授权第{authorization.id}号"


def is_valid(authorization: Authorization, today: date | None = None) -> bool:
    """In force today: not withdrawn, and today within its dates."""
    today = today or local_date(utcnow())
    return (
        authorization.withdrawn_at is None
        and authorization.valid_from <= today <= authorization.valid_until
    )


def covers(authorization: Authorization, matter: str) -> bool:
    return authorization.all_matters or matter in authorization.matters


def _id_number(field: str, raw: str) -> str:
    try:
        return check_citizen_id(raw or "")
    except InvalidValue as exc:
        raise InvalidInput(field, f"公民身份号码：{exc.message}", exc.message_en) from None


def _agent(session: Session, *, id_number: str, name: str | None) -> User:
    """The agent's account, by ID number (and name, when the principal typed it): an agent signs
    in to act, so they must have an account."""
    number = _id_number("agent_id_number", id_number)
    agent = session.exec(
        select(User).where(User.id_number == number, User.role == "citizen")
    ).first()
    typed = " ".join((name or "").split())
    if agent is None or not agent.active or (name is not None and typed != agent.display_name):
        raise InvalidInput(
            "agent_id_number",
            "没有找到该代办人：请核对代办人的姓名和公民身份号码（代办人须已实名注册本系统账号）",
            "No such agent: check their name and ID number (the agent needs an account here)",
        )
    return agent


def _scope(session: Session, rt: Runtime, matters: Iterable[str], all_matters: bool) -> list[str]:
    """The matters chosen, each a published one; all of them with `all_matters`."""
    if all_matters:
        return []
    offered = {m.code for m in published_matters(session, rt)}
    chosen = list(dict.fromkeys(m for m in matters if m))
    if not chosen:
        raise InvalidInput("matters", "请选择委托代办的事项", "Choose the matters it covers")
    if any(code not in offered for code in chosen):
        raise InvalidInput("matters", "所选事项不存在", "No such matter")
    return chosen


def _until(valid_until: date | None) -> date:
    today = local_date(utcnow())
    if valid_until is None:
        raise InvalidInput("valid_until", "请填写授权截止日期", "Give the last day it covers")
    if not today <= valid_until <= today + timedelta(days=MAX_DAYS):
        raise InvalidInput(
            "valid_until",
            f"截止日期须在今天至{MAX_DAYS}天内",
            f"The last day must be between today and {MAX_DAYS} days from now",
        )
    return valid_until


def _create(
    session: Session,
    rt: Runtime,
    *,
    principal: User,
    agent: User,
    matters: Iterable[str],
    all_matters: bool,
    valid_until: date | None,
    **recorded: Any,
) -> Authorization:
    if agent.id == principal.id:
        raise InvalidInput("agent_id_number", "不能委托自己", "You cannot authorize yourself")
    row = Authorization(
        principal_user_id=principal.id,
        principal_id_number=principal.id_number,
        principal_name=principal.display_name,
        agent_user_id=agent.id,
        agent_id_number=agent.id_number,
        agent_name=agent.display_name,
        matters=_scope(session, rt, matters, all_matters),
        all_matters=all_matters,
        valid_from=local_date(utcnow()),
        valid_until=_until(valid_until),
        **recorded,
    )
    session.add(row)
    session.flush()
    notify(
        session,
        user_id=agent.id,
        case_id=None,
        kind="agency",
        title="您收到一份代办授权",
        body=f"{principal.display_name}委托您代为办理（授权第{row.id}号，至{row.valid_until}）。",
    )
    return row


def grant(
    session: Session,
    rt: Runtime,
    *,
    principal: User,
    agent_id_number: str,
    agent_name: str,
    matters: Iterable[str] = (),
    all_matters: bool = False,
    valid_until: date | None = None,
) -> Authorization:
    """The principal authorizes an agent online (named by ID number and name), for the matters
    chosen (or all) until `valid_until`. The agent is told. Commits."""
    require_citizen(principal)
    agent = _agent(session, id_number=agent_id_number, name=agent_name)
    row = _create(
        session,
        rt,
        principal=principal,
        agent=agent,
        matters=matters,
        all_matters=all_matters,
        valid_until=valid_until,
        recorded_via=ONLINE,
    )
    session.commit()
    return row


def record_at_front_desk(
    session: Session,
    rt: Runtime,
    *,
    clerk: User,
    principal_id_number: str,
    agent_id_number: str,
    scan: UploadedFile,
    matters: Iterable[str] = (),
    all_matters: bool = False,
    valid_until: date | None = None,
) -> Authorization:
    """The front desk records an authorization the principal signed on paper: the scan is checked
    (types by content, size) and kept with it; the principal's account is opened if they never
    signed in (their ID checked in the population registry, logged). Both are told. Commits."""
    require_front_desk(clerk)
    principal_number = _id_number("principal_id_number", principal_id_number)
    agent = _agent(session, id_number=agent_id_number, name=None)
    file = check_file(rt, UploadedFile(SCAN_MATERIAL, scan.filename, scan.content))
    principal = _walk_in_applicant(session, rt, clerk=clerk, id_number=principal_number)
    stored_name = secrets.token_hex(16)
    rt.files.put(session, stored_name, file.content)
    row = _create(
        session,
        rt,
        principal=principal,
        agent=agent,
        matters=matters,
        all_matters=all_matters,
        valid_until=valid_until,
        recorded_via=FRONT_DESK,
        clerk_user_id=clerk.id,
        scan_stored_name=stored_name,
        scan_filename=file.filename,
        scan_content_type=file.content_type,
        scan_sha256=file.sha256,
    )
    notify(
        session,
        user_id=principal.id,
        case_id=None,
        kind="agency",
        title="综合窗口已登记您的代办授权",
        body=f"您委托{agent.display_name}代为办理（授权第{row.id}号，至{row.valid_until}），"
        "可随时在“委托代办”中撤回。",
    )
    session.commit()
    return row


def withdraw(session: Session, *, user: User, authorization_id: int) -> Authorization:
    """The principal withdraws the authorization (at once; the agent is told and loses access
    to the cases filed under it). Withdrawing twice changes nothing. Commits."""
    row = session.get(Authorization, authorization_id)
    if row is None or row.principal_user_id != user.id:
        raise NotFound("没有这份代办授权", "No such authorization")
    if row.withdrawn_at is None:
        row.withdrawn_at = utcnow()
        row.withdrawn_by = user.id
        notify(
            session,
            user_id=row.agent_user_id,
            case_id=None,
            kind="agency",
            title="代办授权已撤回",
            body=f"{row.principal_name}已撤回对您的代办授权（第{row.id}号）。",
        )
        session.commit()
    return row


def given(session: Session, *, user: User) -> list[Authorization]:
    """The authorizations the user gave, newest first."""
    return list(
        session.exec(
            select(Authorization)
            .where(Authorization.principal_user_id == user.id)
            .order_by(col(Authorization.id).desc())
        ).all()
    )


def held(session: Session, *, user: User) -> list[Authorization]:
    """The authorizations the user holds as an agent, newest first."""
    return list(
        session.exec(
            select(Authorization)
            .where(Authorization.agent_user_id == user.id)
            .order_by(col(Authorization.id).desc())
        ).all()
    )


def usable(
    session: Session, *, agent: User, authorization_id: int, matter: str | None = None
) -> tuple[Authorization, User]:
    """The agent's authorization in force (covering `matter`, if given) and its principal;
    Forbidden when it was withdrawn, has ended or does not cover the matter."""
    require_citizen(agent)
    row = session.get(Authorization, authorization_id)
    if row is None or row.agent_user_id != agent.id:
        raise NotFound("没有这份代办授权", "No such authorization")
    if not is_valid(row):
        raise Forbidden(
            "该代办授权已撤回或已过期，不能再代为办理",
            "This authorization was withdrawn or has ended",
            link="/agency",
        )
    if matter is not None and not covers(row, matter):
        raise Forbidden(
            "该代办授权不包括此事项，请委托人另行授权",
            "This authorization does not cover this matter",
            link="/agency",
        )
    principal = session.get(User, row.principal_user_id)
    return row, principal


def _acting(
    session: Session, *, agent: User, authorization_id: int, matter: str
) -> tuple[Authorization, dict[str, Any]]:
    """The agent's authorization for `matter`, and the submission's options for acting on it:
    the principal's application, prefilled under the consent the authorization gives, the agent
    as actor (the lookup log and the history name the authorization as basis)."""
    row, principal = usable(session, agent=agent, authorization_id=authorization_id, matter=matter)
    options = dict(
        user=principal, matter_code=matter, consented=True, actor=agent, basis=basis_of(row)
    )
    return row, options


def agent_form(
    session: Session,
    rt: Runtime,
    *,
    agent: User,
    authorization_id: int,
    matter: str,
    answers: dict[str, Any] | None = None,
) -> tuple[Authorization, User, CompiledForm]:
    """The principal's form, for their agent: prefilled from the registries under the consent
    the authorization gives (logged with the agent as actor and the authorization as basis)."""
    row, options = _acting(session, agent=agent, authorization_id=authorization_id, matter=matter)
    form = submission.prepare_form(session, rt, answers=answers, **options)
    return row, options["user"], form


def link_case(session: Session, *, authorization: Authorization, case: Case) -> None:
    """Note that the authorization's agent filed `case`: in the submission's own transaction
    (`submit_application(then=...)`), so a case is never left without its agent's link."""
    session.add(
        AgentCase(
            case_id=case.id,
            authorization_id=authorization.id,
            agent_user_id=authorization.agent_user_id,
        )
    )


def apply_for(
    session: Session,
    rt: Runtime,
    *,
    agent: User,
    authorization_id: int,
    matter: str,
    answers: dict[str, Any],
    uploads: list[UploadedFile] = (),
    drafts: dict[str, str] | None = None,
) -> Case:
    """The agent submits the principal's application: the case is the principal's, the agent
    named in its history and linked to it; the principal is told (inbox)."""
    row, options = _acting(session, agent=agent, authorization_id=authorization_id, matter=matter)

    def linked(current: Session, case: Case) -> None:
        link_case(current, authorization=row, case=case)

    return submission.submit_application(
        session, rt, answers=answers, uploads=uploads, drafts=drafts, then=linked, **options
    )


def upload_for(
    session: Session,
    rt: Runtime,
    *,
    agent: User,
    authorization_id: int,
    matter: str,
    material_code: str,
    filename: str,
    content: bytes,
) -> DraftUpload:
    """Keep a file the agent uploads for the principal's application (as `upload_material`
    does for an applicant): kept for the agent, named in the application by its token."""
    _row, options = _acting(session, agent=agent, authorization_id=authorization_id, matter=matter)
    return submission.upload_material(
        session,
        rt,
        user=options["user"],
        matter_code=matter,
        material_code=material_code,
        filename=filename,
        content=content,
        actor=agent,
    )


def _filed(session: Session, *, agent: User) -> list[tuple[AgentCase, Authorization]]:
    return list(
        session.exec(
            select(AgentCase, Authorization)
            .join(Authorization, col(Authorization.id) == AgentCase.authorization_id)
            .where(AgentCase.agent_user_id == agent.id)
            .order_by(col(AgentCase.case_id).desc())
        ).all()
    )


def agent_cases(session: Session, *, agent: User) -> list[Case]:
    """The cases the agent filed under authorizations still in force, newest first."""
    ids = [link.case_id for link, row in _filed(session, agent=agent) if is_valid(row)]
    if not ids:
        return []
    return list(
        session.exec(select(Case).where(col(Case.id).in_(ids)).order_by(col(Case.id).desc()))
    )


@dataclass(frozen=True)
class AgentView:
    """A case as its agent sees it: progress and history, while the authorization lasts."""

    case: Case
    authorization: Authorization
    items: list[CaseItem]
    events: list[CaseEvent]


def agent_view(session: Session, *, agent: User, case_id: int) -> AgentView:
    """A case the agent filed, while its authorization is in force (the look logged, with its
    purpose, for the principal to see); any other case does not exist for them."""
    link = session.get(AgentCase, case_id)
    row = session.get(Authorization, link.authorization_id) if link else None
    if link is None or link.agent_user_id != agent.id or row is None or not is_valid(row):
        raise NotFound("办件不存在", "No such case")
    case = require_kept(session.get(Case, case_id))
    log_view(session, agent, case, f"{agent.display_name}代办查看办件（{basis_of(row)}）")
    items = session.exec(
        select(CaseItem).where(CaseItem.case_id == case.id).order_by(col(CaseItem.id))
    ).all()
    events = session.exec(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(col(CaseEvent.id))
    ).all()
    return AgentView(case=case, authorization=row, items=list(items), events=list(events))


@dataclass(frozen=True)
class AgentAct:
    """One thing an agent did for the principal: a step in a case's history, or a look."""

    at: Any
    agent_name: str
    case_id: int | None
    case_number: str | None
    what: str


def agent_record(session: Session, *, principal: User, limit: int = 200) -> list[AgentAct]:
    """Everything the principal's agents did (代办记录), newest first: the steps of the
    principal's cases done by an agent (submitted, corrected, uploaded...) and every look at
    the principal's data by an agent (the data-access log)."""
    agents = {row.agent_user_id: row.agent_name for row in given(session, user=principal)}
    if not agents:
        return []
    steps = session.exec(
        select(CaseEvent, Case.number)
        .join(Case, col(Case.id) == CaseEvent.case_id)
        .where(
            Case.applicant_user_id == principal.id,
            col(CaseEvent.actor_user_id).in_(list(agents)),
        )
        .order_by(col(CaseEvent.id).desc())
        .limit(limit)
    ).all()
    looks = session.exec(
        select(DataAccess)
        .where(
            DataAccess.subject_id_number == principal.id_number,
            col(DataAccess.actor_user_id).in_(list(agents)),
        )
        .order_by(col(DataAccess.id).desc())
        .limit(limit)
    ).all()
    acts = [
        AgentAct(e.at, agents[e.actor_user_id], e.case_id, number, e.message) for e, number in steps
    ]
    acts += [
        AgentAct(a.at, agents[a.actor_user_id], a.case_id, a.case_number, a.purpose) for a in looks
    ]
    return sorted(acts, key=lambda act: act.at, reverse=True)[:limit]
