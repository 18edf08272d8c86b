"""Open incidents grouped for operators (services/operations.py): alike failures of both kinds
(a process that could not run on, a department system that gave up) in one group each, by
kind, matter, item, department, element and cause, the varying parts of their texts aside."""

from __future__ import annotations

import pytest
from sqlmodel import Session, col, select

from engine.cases import StepFailed
from services.cases import incidents
from services.cases.models import CaseEvent, CaseItem
from services.errors import Forbidden, InvalidInput, NotFound
from services.operations import (
    batch_report,
    cause_of,
    find_group_by_id,
    group_cases,
    incident_groups,
    list_groups,
    masked,
    progress,
    recent_batches,
    resolve_group,
    retry_group,
)
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
        for refused in ("market01", "admin"):  # administrators configure, operators operate
            with pytest.raises(Forbidden):
                retry_group(session, rt, user=user_of(refused), key=group.key)
        outcomes = retry_group(session, rt, user=user_of("operator"), key=group.key).rows
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


def fail_deadlines(rt, cases) -> list[str]:
    """Each case's first pending deadline timer failed in the process (an incident each, as the
    scheduler records it); the failed timer jobs' ids."""
    from engine.store import TimerJob
    from services.cases.models import Case

    failed = []
    with Session(rt.db) as session:
        for case_id in cases:
            case = session.get(Case, case_id)
            job = session.exec(
                select(TimerJob).where(
                    TimerJob.instance_id == case.instance_id, TimerJob.status == "pending"
                )
            ).first()
            job.status = "failed"
            failed.append(job.id)
            session.add(job)
            incidents.add(
                session,
                StepFailed("Timer_x", "临近办结时限", "name 'broken' is not defined"),
                matter="convenience_store",
                step="deadline",
                case_id=case_id,
            )
        session.commit()
    return failed


def test_a_group_of_failed_deadlines_runs_again_and_reports_what_moved_on(rt, user_of, monkeypatch):
    from services.cases import deadlines
    from services.cases.models import Case

    cases = [store_case(rt, user_of, n) for n in (1, 2)]
    fail_deadlines(rt, cases)
    with Session(rt.db) as session:
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
        outcomes = retry_group(session, rt, user=user_of("operator"), key=group.key).rows
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
            retry_group(session, rt, user=user_of("operator"), key=group.key)
    assert "person" in refused.value.message_en


# ---------------------------------------------------------------- operators: names, filters, resolve


def system_fails_items(rt, user_of, cases, message="HTTP 502 from market system") -> list[int]:
    """The market's own system locks the cases' first items and fails each after its last
    retry, as over the external-task API: incidents for people."""
    from services.cases import external

    items = _first_items(rt, cases)
    system = user_of("market-system")
    with Session(rt.db) as session:
        locked = external.fetch_and_lock(session, rt, user=system, worker_id="w1", max_tasks=50)
        ids = {item.id for item in items.values()}
        for task in locked:
            if task.item.id in ids:
                external.report_failure(
                    session,
                    user=system,
                    item_id=task.item.id,
                    worker_id="w1",
                    message=message,
                    retries=0,
                )
    return [items[c].id for c in cases]


def decision_incidents(rt, cases, *, matter="convenience_store", element="Gateway_x"):
    """A clerk's decision on each case failed in the process at `element` (rolled back)."""
    with Session(rt.db) as session:
        for case_id in cases:
            incidents.add(
                session,
                StepFailed(element, "", "division by zero"),
                matter=matter,
                step="decision",
                case_id=case_id,
            )
        session.commit()


def test_a_group_has_a_stable_name_and_the_list_filters_by_kind_matter_and_department(rt, user_of):
    cases = [store_case(rt, user_of, n) for n in (1, 2)]
    system_fails_items(rt, user_of, cases)
    decision_incidents(rt, cases[:1])
    with Session(rt.db) as session:
        system, person = list_groups(session, rt)
        assert system.key.id == incident_groups(session)[0].key.id  # stable between looks
        assert len(system.key.id) == 16 and system.key.id != person.key.id
        assert find_group_by_id(session, person.key.id).case_ids == cases[:1]
        assert [g.key.kind for g in list_groups(session, rt, kind="process")] == ["process"]
        assert list_groups(session, rt, matter="convenience_store", department="market") == [system]
        assert list_groups(session, rt, matter="newborn") == []
        for name, value in (("kind", "other"), ("matter", "nothing"), ("department", "x")):
            with pytest.raises(InvalidInput) as refused:
                list_groups(session, rt, **{name: value})
            assert refused.value.field == name
        with pytest.raises(NotFound):
            find_group_by_id(session, "0" * 16)
        rows = group_cases(session, system)
    assert sorted(r.case_id for r in rows) == sorted(cases)
    assert {r.item_status for r in rows} == {"processing"} and all(r.at for r in rows)
    assert all(r.case_number for r in rows)


def test_personal_numbers_in_a_failures_text_are_masked_for_show():
    assert masked("no record for 31010519940908028X (13812345678)") == (
        "no record for 310105********028X (138****5678)"
    )
    assert masked("HTTP 502 after 30 s") == "HTTP 502 after 30 s"


def test_only_operators_resolve_a_group_and_a_reason_is_required(rt, user_of):
    cases = [store_case(rt, user_of, 1)]
    decision_incidents(rt, cases)
    with Session(rt.db) as session:
        [group] = incident_groups(session)
        for refused in ("market01", "admin"):
            with pytest.raises(Forbidden):
                resolve_group(session, rt, user=user_of(refused), key=group.key, reason="已修复")
        for reason in ("", " x ", "长" * 201, "ok\x00no"):
            with pytest.raises(InvalidInput) as invalid:
                resolve_group(session, rt, user=user_of("operator"), key=group.key, reason=reason)
            assert invalid.value.field == "reason"
        assert incident_groups(session) == [group]  # nothing was touched


def test_resolving_a_persons_group_closes_its_incidents_with_the_reason_in_each_history(
    rt, user_of
):
    cases = [store_case(rt, user_of, n) for n in (1, 2)]
    decision_incidents(rt, cases)
    with Session(rt.db) as session:
        [group] = incident_groups(session)
        report = resolve_group(
            session, rt, user=user_of("operator"), key=group.key.id, reason="  流程已修正，请重办 "
        )
        assert incident_groups(session) == []
        messages = session.exec(
            select(CaseEvent.message).where(
                col(CaseEvent.case_id).in_(cases), CaseEvent.kind == "incident_resolved"
            )
        ).all()
    assert report.batch.action == "resolve" and report.batch.reason == "流程已修正，请重办"
    assert report.batch.group_id == group.key.id and report.settled
    assert sorted((r.case_id, r.outcome) for r in report.rows) == [
        (c, "resolved") for c in sorted(cases)
    ]
    assert all(r.case_number for r in report.rows)
    assert len(messages) == 2 and all("流程已修正，请重办" in m for m in messages)
    with Session(rt.db) as session:
        again = batch_report(session, batch_id=report.batch.id)
        assert [r.outcome for r in again.rows] == ["resolved", "resolved"]
        assert [b.id for b in recent_batches(session)] == [report.batch.id]
        with pytest.raises(NotFound):  # handled: the group is gone
            resolve_group(
                session, rt, user=user_of("operator"), key=group.key.id, reason="再来一次"
            )


def test_resolving_failed_deadlines_voids_their_timers_and_the_case_goes_on(rt, user_of):
    from engine.store import TimerJob
    from services.cases import decisions

    [case_id] = [store_case(rt, user_of, 1)]
    [job_id] = fail_deadlines(rt, [case_id])
    with Session(rt.db) as session:
        [group] = incident_groups(session)
        report = resolve_group(
            session, rt, user=user_of("operator"), key=group.key, reason="提醒已过时，不再补发"
        )
        assert [r.outcome for r in report.rows] == ["resolved"]
        assert session.get(TimerJob, job_id).status == "void"
        assert incident_groups(session) == []
    item = _first_items(rt, [case_id])[case_id]
    with Session(rt.db) as session:  # the item still waits for its department, and is decided
        decisions.decide(
            session,
            rt,
            user=user_of("market01"),
            item_id=item.id,
            decision="rejected",
            comment="不符合条件",
        )
        assert session.get(CaseItem, item.id).status == "rejected"


def test_resolving_a_systems_group_hands_its_items_back_and_the_batch_follows_them(rt, user_of):
    import random

    from examples.department_worker import credit_code
    from services.cases import decisions, external

    cases = [store_case(rt, user_of, n) for n in (1, 2)]
    ids = system_fails_items(rt, user_of, cases)
    with Session(rt.db) as session:
        [group] = incident_groups(session)
        report = resolve_group(
            session, rt, user=user_of("operator"), key=group.key, reason="市场监管系统已恢复"
        )
        assert incident_groups(session) == []
        assert not report.settled
        assert sorted((r.item_id, r.outcome) for r in report.rows) == [
            (i, "waiting") for i in sorted(ids)
        ]
        events = session.exec(
            select(CaseEvent.message).where(
                col(CaseEvent.case_id).in_(cases), CaseEvent.kind == "incident_resolved"
            )
        ).all()
        assert len(events) == 2 and all("市场监管系统已恢复" in m for m in events)
    system = user_of("market-system")
    with Session(rt.db) as session:  # the system takes them again: decides one, fails one
        locked = {
            t.item.id: t for t in external.fetch_and_lock(session, rt, user=system, worker_id="w2")
        }
        assert set(ids) <= set(locked)
        decisions.decide(
            session,
            rt,
            user=system,
            item_id=ids[0],
            worker_id="w2",
            decision="approved",
            result={
                "enterprise_uscc": credit_code(random.Random(1)),
                "established_on": "2026-11-25",
            },
        )
        external.report_failure(
            session, user=system, item_id=ids[1], worker_id="w2", message="HTTP 502", retries=0
        )
    with Session(rt.db) as session:
        later = batch_report(session, batch_id=report.batch.id)
    assert {r.item_id: r.outcome for r in later.rows} == {ids[0]: "done", ids[1]: "failed_again"}
    assert later.settled and later.counts == {"done": 1, "failed_again": 1}


def test_a_failed_timer_left_waiting_does_not_stop_the_cases_next_save(rt, user_of):
    """A deadline timer whose firing failed stays waiting in the process, its job failed: a later
    save of the case restored from its stored state (another process, or after a restart) must
    not schedule it a second time (its job row exists)."""
    from datetime import timedelta

    from engine import store
    from engine.clock import utcnow
    from engine.store import TimerJob
    from services.cases.deadlines import run_deadlines
    from services.cases.models import Case

    case_id = store_case(rt, user_of, 1)
    [failed_id] = fail_deadlines(rt, [case_id])
    with Session(rt.db) as session:
        case = session.get(Case, case_id)
        other = session.exec(
            select(TimerJob).where(
                TimerJob.instance_id == case.instance_id, TimerJob.status == "pending"
            )
        ).one()
        other.due_at = utcnow() - timedelta(minutes=1)
        other_id = other.id
        session.add(other)
        session.commit()
    store._LIVE._entries.clear()  # noqa: SLF001 - as another process: restored from the state
    run_deadlines(rt)
    with Session(rt.db) as session:
        assert session.get(TimerJob, other_id).status == "done"
        assert session.get(TimerJob, failed_id).status == "failed"
        jobs = session.exec(select(TimerJob).where(TimerJob.id == failed_id)).all()
        assert len(jobs) == 1
