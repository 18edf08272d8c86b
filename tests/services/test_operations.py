"""Open incidents grouped for operators (services/operations.py): alike failures of both kinds
(a process that could not run on, a department system that gave up) in one group each, by
kind, matter, item, department, element and cause, the varying parts of their texts aside."""

from __future__ import annotations

import pytest
from sqlmodel import Session, col, select

from engine.cases import StepFailed
from services.cases import incidents
from services.cases.models import CaseEvent, CaseItem
from services.errors import Forbidden, InvalidInput
from services.operations import cause_of, incident_groups, progress, retry_group
from tests.services.test_replay import store_case


def test_the_varying_parts_of_a_failure_are_put_aside():
    assert cause_of("timeout after 30 s (case 17)") == cause_of("timeout after 31 s (case 18)")
    assert cause_of("name 'x' is not defined") == cause_of('name "y" is not defined')
    assert cause_of("timeout") != cause_of("refused")
    assert cause_of("") == "?"


def test_open_incidents_are_grouped_alike_with_alike(rt, user_of):
    cases = [store_case(rt, user_of, n) for n in (1, 2, 3)]
    with Session(rt.db) as session:
        items = {
            case_id: session.exec(
                select(CaseItem).where(CaseItem.case_id == case_id).order_by(CaseItem.id)
            ).first()
            for case_id in cases
        }
        for case_id, seconds in zip(cases, (30, 31, 32), strict=True):
            failure = StepFailed("Gateway_fee", "收费？", f"timed out after {seconds} s")
            incidents.add(
                session,
                failure,
                matter="convenience_store",
                step="deadline",
                case_id=case_id,
                case_item_id=items[case_id].id,
            )
        incidents.add(
            session,
            StepFailed("Gateway_other", "", "division by zero"),
            matter="convenience_store",
            step="decision",
            case_id=cases[0],
        )
        resolved = incidents.add(
            session,
            StepFailed("Gateway_old", "", "fixed since"),
            matter="convenience_store",
            step="decision",
            case_id=cases[1],
        )
        resolved.resolved_at = resolved.at
        for case_id, text in zip(
            cases,
            ("HTTP 502 from tax system", "HTTP 503 from tax system", "bad credentials"),
            strict=True,
        ):
            item = items[case_id]
            item.incident = text
            session.add(item)
        session.commit()
        groups = incident_groups(session)
    shapes = [(g.key.kind, g.key.element, g.count, sorted(g.case_ids)) for g in groups]
    assert shapes == [
        ("process", "Gateway_fee", 3, sorted(cases)),
        ("department_system", "", 2, sorted(cases[:2])),
        ("department_system", "", 1, [cases[2]]),
        ("process", "Gateway_other", 1, [cases[0]]),
    ]
    fee = groups[0]
    assert fee.key.item == items[cases[0]].item_code and fee.key.department == "market"
    assert fee.example.startswith("timed out after") and len(fee.incident_ids) == 3
    assert fee.first_at <= fee.last_at
    system = groups[1]
    assert system.key.cause == "HTTP # from tax system" and len(system.item_ids) == 2
    other = groups[3]
    assert other.key.item == "" and other.key.department == ""  # not an item's failure


def _first_items(rt, cases):
    with Session(rt.db) as session:
        found = {}
        for case_id in cases:
            item = session.exec(
                select(CaseItem).where(CaseItem.case_id == case_id).order_by(CaseItem.id)
            ).first()
            session.expunge(item)
            found[case_id] = item
        return found


def test_a_department_systems_group_is_handed_back_and_done_only_once_decided(rt, user_of):
    import random

    from examples.department_worker import credit_code
    from services.cases import decisions

    cases = [store_case(rt, user_of, n) for n in (1, 2)]
    items = _first_items(rt, cases)
    with Session(rt.db) as session:
        for item in items.values():
            row = session.get(CaseItem, item.id)
            row.incident = "HTTP 502 from market system"
            session.add(row)
        session.commit()
        [group] = incident_groups(session)
        with pytest.raises(Forbidden):
            retry_group(session, rt, user=user_of("market01"), key=group.key)
        outcomes = retry_group(session, rt, user=user_of("admin"), key=group.key)
    assert {(o.case_id, o.outcome) for o in outcomes} == {(c, "waiting") for c in cases}
    ids = [items[c].id for c in cases]
    with Session(rt.db) as session:
        assert incident_groups(session) == []
        assert {o.outcome for o in progress(session, ids)} == {"waiting"}
        events = session.exec(select(CaseEvent.kind).where(col(CaseEvent.case_id).in_(cases))).all()
        assert events.count("incident_resolved") == 2
        # the system decides one and gives up on the other again
        decisions.decide(
            session,
            rt,
            user=user_of("market01"),
            item_id=ids[0],
            decision="approved",
            result_data={
                "enterprise_uscc": credit_code(random.Random(1)),
                "established_on": "2026-11-25",
            },
        )
        again = session.get(CaseItem, ids[1])
        again.incident = "HTTP 502 from market system"
        session.add(again)
        session.commit()
        assert [o.outcome for o in progress(session, ids)] == ["done", "failed_again"]


def test_a_group_of_failed_deadlines_runs_again_and_reports_what_moved_on(rt, user_of, monkeypatch):
    from engine.store import TimerJob
    from services.cases import deadlines
    from services.cases.models import Case

    cases = [store_case(rt, user_of, n) for n in (1, 2)]
    with Session(rt.db) as session:
        for case_id in cases:
            case = session.get(Case, case_id)
            job = session.exec(
                select(TimerJob).where(
                    TimerJob.instance_id == case.instance_id, TimerJob.status == "pending"
                )
            ).first()
            job.status = "failed"
            session.add(job)
            incidents.add(
                session,
                StepFailed("Timer_x", "临近办结时限", "name 'broken' is not defined"),
                matter="convenience_store",
                step="deadline",
                case_id=case_id,
            )
        session.commit()
        [group] = incident_groups(session)
    # the second case's timer still fails: the process was not fixed for it
    fired = deadlines._on_fired

    def fire(rt_, session_, instance, changes):
        if instance.id == second_instance:
            raise StepFailed("Timer_x", "临近办结时限", "name 'broken' is not defined")
        fired(rt_, session_, instance, changes)

    with Session(rt.db) as session:
        second_instance = session.get(Case, cases[1]).instance_id
    monkeypatch.setattr(deadlines, "_on_fired", fire)
    with Session(rt.db) as session:
        outcomes = retry_group(session, rt, user=user_of("admin"), key=group.key)
        assert {(o.case_id, o.outcome) for o in outcomes} == {
            (cases[0], "done"),
            (cases[1], "failed_again"),
        }
        [left] = incident_groups(session)
        assert left.case_ids == [cases[1]] and left.count == 1


def test_a_persons_rolled_back_step_is_not_retried_for_them(rt, user_of):
    [case_id] = [store_case(rt, user_of, 1)]
    with Session(rt.db) as session:
        incidents.add(
            session,
            StepFailed("Gateway_x", "", "division by zero"),
            matter="convenience_store",
            step="decision",
            case_id=case_id,
        )
        session.commit()
        [group] = incident_groups(session)
        with pytest.raises(InvalidInput) as refused:
            retry_group(session, rt, user=user_of("admin"), key=group.key)
    assert "person" in refused.value.message_en
