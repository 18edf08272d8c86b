"""Acting for someone else (代办, services/agency): an adult child applies for an elderly parent
under the parent's authorization; the scope, withdrawal and what each of them sees."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from engine import clock
from engine.clock import utcnow
from services.agency import service as agency
from services.agency.models import AgentCase
from services.calendar import local_date
from services.cases.access import load_case
from services.cases.models import Case, CaseEvent
from services.cases.uploads import UploadedFile
from services.errors import Forbidden, InvalidInput, NotFound
from services.notifications.models import Notification
from services.registries.models import DataAccess
from tests.forms.test_matters import APPLICATIONS, PDF, _sample, common_for

PARENT = "310107196607150399"  # 孙国强, retiring
CHILD = "31010620030618095X"  # 陈思远, acting for him
OTHER = "310110198503300425"  # 何静


def until(days: int = 30):
    return local_date(utcnow()) + timedelta(days=days)


def grant(rt, user_of, matters=("retirement",), **options: Any) -> int:
    with Session(rt.db) as session:
        row = agency.grant(
            session,
            rt,
            principal=user_of(PARENT),
            agent_id_number=CHILD,
            agent_name="陈思远",
            matters=matters,
            valid_until=options.pop("valid_until", until()),
            **options,
        )
        return row.id


def answers_for(rt, agent, authorization_id: int, code: str = "retirement") -> dict[str, Any]:
    """The demo application's answers, completed with samples for what the form still asks."""
    filled = {**common_for(code), **next(a[2] for a in APPLICATIONS if a[0] == code)}
    for _round in range(3):
        with Session(rt.db) as session:
            _row, _principal, form = agency.agent_form(
                session,
                rt,
                agent=agent,
                authorization_id=authorization_id,
                matter=code,
                answers=filled,
            )
        filled.update(
            {
                f.key: _sample(f.fact)
                for f in form.fields
                if f.known is None and f.required and f.key not in filled
            }
        )
    return filled, [UploadedFile(e.code, f"{e.code}.pdf", PDF) for e in form.uploads]


def apply(rt, user_of, authorization_id: int) -> int:
    agent = user_of(CHILD)
    answers, uploads = answers_for(rt, agent, authorization_id)
    with Session(rt.db) as session:
        case = agency.apply_for(
            session,
            rt,
            agent=agent,
            authorization_id=authorization_id,
            matter="retirement",
            answers=answers,
            uploads=uploads,
        )
        return case.id


def test_agent_applies_for_parent_who_then_sees_the_case(rt, user_of):
    authorization_id = grant(rt, user_of)
    case_id = apply(rt, user_of, authorization_id)
    parent, child = user_of(PARENT), user_of(CHILD)
    with Session(rt.db) as session:
        case = load_case(session, case_id=case_id, user=parent)  # the parent's own case
        assert case.applicant_user_id == parent.id and case.channel == "online"
        link = session.get(AgentCase, case_id)
        assert link.agent_user_id == child.id and link.authorization_id == authorization_id
        submitted = session.exec(
            select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == "submitted")
        ).one()
        assert submitted.actor_user_id == child.id and "代办" in submitted.message
        told = session.exec(
            select(Notification).where(
                Notification.user_id == parent.id, Notification.case_id == case_id
            )
        ).all()
        assert any("陈思远代办" in n.body for n in told)
        # the registries were read for the parent, by the agent, on the authorization's ground
        reads = session.exec(
            select(DataAccess).where(
                DataAccess.subject_id_number == PARENT, DataAccess.actor_user_id == child.id
            )
        ).all()
        assert reads and all(f"授权第{authorization_id}号" in r.purpose for r in reads)
        with pytest.raises(NotFound):  # the agent is not the applicant
            load_case(session, case_id=case_id, user=child)
        view = agency.agent_view(session, agent=child, case_id=case_id)
        assert view.case.id == case_id and view.items
        assert [c.id for c in agency.agent_cases(session, agent=child)] == [case_id]
        record = agency.agent_record(session, principal=parent)
        whats = [act.what for act in record]
        assert any("代办《" in w for w in whats)  # submitted
        assert any("代办查看办件" in w for w in whats)  # looked
        assert any("预填" in w for w in whats)  # the lookups
        assert {act.agent_name for act in record} == {"陈思远"}


def test_scope_refuses_other_matters(rt, user_of):
    authorization_id = grant(rt, user_of, matters=("employment",))
    with Session(rt.db) as session, pytest.raises(Forbidden):
        agency.agent_form(
            session,
            rt,
            agent=user_of(CHILD),
            authorization_id=authorization_id,
            matter="retirement",
        )
    with Session(rt.db) as session, pytest.raises(NotFound):  # not the agent's authorization
        agency.usable(session, agent=user_of(OTHER), authorization_id=authorization_id)


def test_withdrawal_stops_access(rt, user_of):
    authorization_id = grant(rt, user_of)
    case_id = apply(rt, user_of, authorization_id)
    with Session(rt.db) as session:
        with pytest.raises(NotFound):  # only the principal withdraws
            agency.withdraw(session, user=user_of(CHILD), authorization_id=authorization_id)
        row = agency.withdraw(session, user=user_of(PARENT), authorization_id=authorization_id)
        assert row.withdrawn_at is not None and row.withdrawn_by == user_of(PARENT).id
    with Session(rt.db) as session:
        with pytest.raises(NotFound):
            agency.agent_view(session, agent=user_of(CHILD), case_id=case_id)
        assert agency.agent_cases(session, agent=user_of(CHILD)) == []
        with pytest.raises(Forbidden):
            agency.usable(
                session,
                agent=user_of(CHILD),
                authorization_id=authorization_id,
                matter="retirement",
            )
        # the parent still sees the case, and what the agent did
        assert load_case(session, case_id=case_id, user=user_of(PARENT)).id == case_id


def test_agent_sees_none_of_the_principals_other_cases(rt, user_of):
    from tests.services.test_case_path import submit

    own = submit(rt, user_of, "retirement", "applicant")  # the parent's own application
    grant(rt, user_of, matters=(), all_matters=True)
    with Session(rt.db) as session:
        assert agency.agent_cases(session, agent=user_of(CHILD)) == []
        with pytest.raises(NotFound):
            agency.agent_view(session, agent=user_of(CHILD), case_id=own)


def test_grant_checks_the_agent_and_the_dates(rt, user_of):
    with Session(rt.db) as session:
        for bad in (
            {"agent_id_number": "310106200306180951"},  # check digit
            {"agent_name": "别人"},  # not the agent's name
            {"agent_id_number": PARENT, "agent_name": "孙国强"},  # oneself
            {"valid_until": until(400)},
            {"matters": ()},
            {"matters": ("no_such_matter",)},
        ):
            options = {
                "agent_id_number": CHILD,
                "agent_name": "陈思远",
                "matters": ("retirement",),
                "valid_until": until(),
                **bad,
            }
            with pytest.raises(InvalidInput):
                agency.grant(session, rt, principal=user_of(PARENT), **options)


def test_front_desk_records_a_written_authorization_with_its_scan(rt, user_of):
    clerk = user_of("center01")
    with Session(rt.db) as session:
        with pytest.raises(InvalidInput):  # not an accepted file type
            agency.record_at_front_desk(
                session,
                rt,
                clerk=clerk,
                principal_id_number=PARENT,
                agent_id_number=CHILD,
                scan=UploadedFile("scan", "scan.txt", b"hello"),
                matters=("retirement",),
                valid_until=until(),
            )
        with pytest.raises(Forbidden):  # only the front desk
            agency.record_at_front_desk(
                session,
                rt,
                clerk=user_of("police01"),
                principal_id_number=PARENT,
                agent_id_number=CHILD,
                scan=UploadedFile("scan", "scan.pdf", PDF),
                matters=("retirement",),
                valid_until=until(),
            )
        row = agency.record_at_front_desk(
            session,
            rt,
            clerk=clerk,
            principal_id_number=PARENT,
            agent_id_number=CHILD,
            scan=UploadedFile("scan", "授权书.pdf", PDF),
            matters=("retirement",),
            valid_until=until(),
        )
        assert row.recorded_via == "frontdesk" and row.clerk_user_id == clerk.id
        assert row.scan_content_type == "application/pdf" and row.scan_filename == "授权书.pdf"
        assert rt.files.get(session, row.scan_stored_name) == PDF
        assert [r.id for r in agency.given(session, user=user_of(PARENT))] == [row.id]
        assert [r.id for r in agency.held(session, user=user_of(CHILD))] == [row.id]
    case_id = apply(rt, user_of, row.id)
    with Session(rt.db) as session:
        assert session.get(Case, case_id).applicant_user_id == user_of(PARENT).id


def test_access_ends_after_the_last_day(rt, user_of):
    authorization_id = grant(rt, user_of, valid_until=until(3))
    case_id = apply(rt, user_of, authorization_id)
    with Session(rt.db) as session:
        assert agency.agent_view(session, agent=user_of(CHILD), case_id=case_id)
    clock.advance(timedelta(days=4))
    with Session(rt.db) as session:
        with pytest.raises(NotFound):
            agency.agent_view(session, agent=user_of(CHILD), case_id=case_id)
        with pytest.raises(Forbidden):
            agency.usable(session, agent=user_of(CHILD), authorization_id=authorization_id)
