"""Repairing a case by hand (services/cases/repair.py): an operator withdraws an item,
re-opens a decided one, moves a waiting step, corrects a fact; each for a reason in the
history, told to the applicant, in one transaction, and the case can still finish."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from engine import store
from engine.store import HumanTask, ProcessInstance, TimerJob
from services.cases import repair
from services.cases.models import Case, CaseEvent, CaseItem
from services.cases.results import certificate_for
from services.certificates.models import Certificate
from services.errors import Conflict, Forbidden, InvalidInput
from services.notifications.models import Notification
from services.registries.models import DataAccess
from tests.services.test_case_path import approve_open, submit
from tests.web.test_deadlines import _submit

REASON = "部门系统故障，按部门来函处理"


def _items(rt, case_id, **where) -> list[CaseItem]:
    with Session(rt.db) as session:
        query = select(CaseItem).where(CaseItem.case_id == case_id).order_by(col(CaseItem.id))
        for name, value in where.items():
            query = query.where(getattr(CaseItem, name) == value)
        rows = session.exec(query).all()
        for row in rows:
            session.expunge(row)
        return list(rows)


def _case(rt, case_id) -> Case:
    with Session(rt.db) as session:
        case = session.get(Case, case_id)
        session.expunge(case)
        return case


def _repair_events(rt, case_id) -> list[CaseEvent]:
    with Session(rt.db) as session:
        return list(
            session.exec(
                select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == "repair")
            ).all()
        )


def _told(rt, case_id) -> list[Notification]:
    with Session(rt.db) as session:
        return list(
            session.exec(
                select(Notification).where(
                    Notification.case_id == case_id, Notification.kind == "repaired"
                )
            ).all()
        )


def _do(rt, user_of, operation, **kwargs):
    with Session(rt.db, expire_on_commit=False) as session:
        return operation(session, rt, user=user_of(kwargs.pop("as_", "operator")), **kwargs)


def _finish(rt, user_of, case_id) -> Case:
    for _round in range(4):
        approve_open(rt, user_of, case_id)
    return _case(rt, case_id)


def test_a_withdrawn_item_leaves_the_queue_and_the_case_completes_without_it(rt, user_of):
    case_id = _submit(rt)
    police = _items(rt, case_id, department="police")[0]
    _do(rt, user_of, repair.cancel_item, case_id=case_id, item_id=police.id, reason=REASON)
    [row] = _items(rt, case_id, department="police")
    assert row.status == "cancelled" and REASON in row.comment
    with Session(rt.db) as session:
        task = session.get(HumanTask, police.engine_task_id)
        assert task.state == "completed"
        timers = session.exec(select(TimerJob).where(TimerJob.item == police.item_code)).all()
        assert timers and {job.status for job in timers} == {"void"}
    [event] = _repair_events(rt, case_id)
    assert REASON in event.message and "出生登记" in event.message
    assert event.actor_user_id == user_of("operator").id
    [notice] = _told(rt, case_id)
    assert REASON in notice.body
    case = _finish(rt, user_of, case_id)
    assert case.status == "completed" and case.outcome == "approved"


def test_a_reopened_item_goes_back_to_its_department_and_its_certificate_is_revoked(rt, user_of):
    case_id = _submit(rt)
    case = _finish(rt, user_of, case_id)
    assert case.status == "completed"
    health = _items(rt, case_id, department="health")[0]
    with Session(rt.db) as session:
        certificate = certificate_for(
            session, rt, case=session.get(Case, case_id), item_id=health.id
        )
        old_number = certificate.number
    new = _do(rt, user_of, repair.reopen_item, case_id=case_id, item_id=health.id, reason=REASON)
    assert new.id != health.id and new.status == "processing" and new.engine_task_id
    old = _items(rt, case_id, id=health.id)[0]
    assert old.status == "superseded"
    with Session(rt.db) as session:
        assert (
            session.exec(select(Certificate).where(Certificate.case_item_id == health.id))
            .one()
            .revoked
        )
    reopened = _case(rt, case_id)
    assert reopened.status == "processing" and reopened.outcome is None
    assert "作废" in _repair_events(rt, case_id)[0].message
    assert _told(rt, case_id)
    case = _finish(rt, user_of, case_id)
    assert case.status == "completed" and case.outcome == "approved"
    with Session(rt.db) as session:
        again = certificate_for(session, rt, case=session.get(Case, case_id), item_id=new.id)
        assert again.number != old_number and not again.revoked


def test_a_step_moves_back_to_an_earlier_step_of_its_branch(rt, user_of):
    case_id = submit(rt, user_of, "real_estate_transfer", "seller")
    approve_open(rt, user_of, case_id)  # the taxes: the registration is next
    [taxes] = _items(rt, case_id, item_code=_items(rt, case_id)[0].item_code)
    assert taxes.status == "approved"
    with Session(rt.db) as session:
        view = repair.case_state(session, rt, session.get(Case, case_id))
    [step] = view.steps
    assert [t.bpmn_id for t in step.targets] == ["Task_taxes"]
    with pytest.raises(InvalidInput):
        _do(
            rt,
            user_of,
            repair.move_step,
            case_id=case_id,
            task_id=step.task_id,
            target="Task_water",
            reason=REASON,
        )
    _do(
        rt,
        user_of,
        repair.move_step,
        case_id=case_id,
        task_id=step.task_id,
        target="Task_taxes",
        reason=REASON,
    )
    rows = _items(rt, case_id)
    assert [r.status for r in rows] == ["superseded", "cancelled", "processing"]
    assert rows[2].item_code == taxes.item_code
    assert "转移登记" in _repair_events(rt, case_id)[0].message
    case = _finish(rt, user_of, case_id)
    assert case.status == "completed" and case.outcome == "approved"


def test_a_fact_correction_is_checked_and_reaches_the_process(rt, user_of):
    case_id = _submit(rt)
    before = _case(rt, case_id).data
    with pytest.raises(InvalidInput) as refused:
        _do(
            rt,
            user_of,
            repair.correct_fact,
            case_id=case_id,
            key="applicant_phone",
            value="12",
            reason=REASON,
        )
    assert refused.value.field == "value"
    with pytest.raises(InvalidInput):  # identity comes from the verified account
        _do(
            rt,
            user_of,
            repair.correct_fact,
            case_id=case_id,
            key="applicant_id_number",
            value="110101199003070016",
            reason=REASON,
        )
    assert _case(rt, case_id).data == before and not _repair_events(rt, case_id)
    _do(
        rt,
        user_of,
        repair.correct_fact,
        case_id=case_id,
        key="applicant_phone",
        value="13900001111",
        reason=REASON,
    )
    case = _case(rt, case_id)
    assert case.data["applicant_phone"] == "13900001111"
    assert case.provenance["applicant_phone"]["source"] == "repair"
    [event] = _repair_events(rt, case_id)
    assert "13900001111" not in event.message and REASON in event.message
    assert _finish(rt, user_of, case_id).status == "completed"


def test_a_bad_citizen_id_is_refused_and_the_data_stay(rt, user_of, newborn_parents):
    case_id = submit(rt, user_of, "real_estate_transfer", "seller")
    case = _case(rt, case_id)
    ids = [
        key for key in repair._correctable(rt, case) if rt.catalog.facts[key].type == "citizen_id"
    ]
    assert ids
    key = ids[0]
    with pytest.raises(InvalidInput) as refused:
        _do(
            rt,
            user_of,
            repair.correct_fact,
            case_id=case_id,
            key=key,
            value="110101199003070017",
            reason=REASON,
        )  # the checksum is 6
    assert "110101199003070017" not in str(refused.value.message_en)
    assert _case(rt, case_id).data == case.data


def test_a_correction_that_changes_the_items_needed_is_refused(rt, user_of):
    case_id = _submit(rt)
    with pytest.raises(InvalidInput) as refused:
        _do(
            rt,
            user_of,
            repair.correct_fact,
            case_id=case_id,
            key="mother_maternity_insurance",
            value=False,
            reason=REASON,
        )
    assert "事项" in refused.value.message


def test_only_an_operator_repairs_and_a_reason_is_required(rt, user_of):
    case_id = _submit(rt)
    police = _items(rt, case_id, department="police")[0]
    for who in ("admin", "police01", "31010519940908028X"):
        with pytest.raises(Forbidden):
            _do(
                rt,
                user_of,
                repair.cancel_item,
                as_=who,
                case_id=case_id,
                item_id=police.id,
                reason=REASON,
            )
    for reason in ("", "   短  ", "x" * 301):
        with pytest.raises(InvalidInput) as refused:
            _do(rt, user_of, repair.cancel_item, case_id=case_id, item_id=police.id, reason=reason)
        assert refused.value.field == "reason"
    assert _items(rt, case_id, department="police")[0].status == "processing"


def test_a_case_a_clerk_changes_meanwhile_is_a_conflict_and_nothing_is_repaired(
    rt, user_of, monkeypatch
):
    case_id = _submit(rt)
    police = _items(rt, case_id, department="police")[0]
    load = store.load_workflow

    def racing(session, specs, instance_id):
        found = load(session, specs, instance_id)
        with Session(rt.db) as other:  # a department's step commits in between
            other.exec(
                update(ProcessInstance)
                .where(ProcessInstance.id == instance_id)
                .values(version=ProcessInstance.version + 1)
            )
            other.commit()
        return found

    monkeypatch.setattr(store, "load_workflow", racing)
    with pytest.raises(Conflict):
        _do(rt, user_of, repair.cancel_item, case_id=case_id, item_id=police.id, reason=REASON)
    monkeypatch.undo()
    assert _items(rt, case_id, department="police")[0].status == "processing"
    assert not _repair_events(rt, case_id) and not _told(rt, case_id)


def test_the_operators_view_is_logged_and_masks_id_numbers(rt, user_of):
    case_id = _submit(rt)
    number = _case(rt, case_id).number
    view = _do(rt, user_of, repair.repair_view, number=number.lower())
    assert view.case.id == case_id and len(view.steps) == 5
    shown = {fact.key: fact for fact in view.facts}
    assert "********" in shown["applicant_id_number"].shown
    assert not shown["applicant_id_number"].correctable
    with Session(rt.db) as session:
        logged = session.exec(select(DataAccess).where(DataAccess.case_id == case_id)).all()
    assert any("检修" in row.purpose for row in logged)
    with pytest.raises(Forbidden):
        _do(rt, user_of, repair.repair_view, as_="admin", number=number)


def test_an_item_awaiting_the_applicants_correction_is_withdrawn_too(rt, user_of):
    from services.cases.decisions import decide

    case_id = _submit(rt)
    police = _items(rt, case_id, department="police")[0]
    fact = rt.catalog.items[police.item_code].fact_keys[0]
    with Session(rt.db) as session:
        decide(
            session,
            rt,
            user=user_of("police01"),
            item_id=police.id,
            decision="correction",
            comment="请核对",
            reopen=[fact],
        )
    assert _case(rt, case_id).status == "correction"
    _do(rt, user_of, repair.cancel_item, case_id=case_id, item_id=police.id, reason=REASON)
    assert _items(rt, case_id, id=police.id)[0].status == "cancelled"
    assert _case(rt, case_id).status == "processing"
    with Session(rt.db) as session:
        instance_id = _case(rt, case_id).instance_id
        ready = session.exec(
            select(HumanTask).where(
                HumanTask.instance_id == instance_id,
                HumanTask.state == "ready",
                HumanTask.item == police.item_code,
            )
        ).all()
    assert ready == []
    assert _finish(rt, user_of, case_id).status == "completed"


def test_a_completed_item_cannot_be_withdrawn_nor_an_open_one_reopened(rt, user_of):
    case_id = _submit(rt)
    police = _items(rt, case_id, department="police")[0]
    with pytest.raises(Conflict):
        _do(rt, user_of, repair.reopen_item, case_id=case_id, item_id=police.id, reason=REASON)
    approve_open(rt, user_of, case_id)
    with pytest.raises(Conflict):
        _do(rt, user_of, repair.cancel_item, case_id=case_id, item_id=police.id, reason=REASON)
    assert not _repair_events(rt, case_id)


def test_a_fact_a_decided_item_used_is_corrected_only_after_the_item_is_reopened(rt, user_of):
    """The department decided on the old value (a certificate may carry it): the correction is
    refused naming the item; re-opened first, the item is decided again on the corrected one."""
    case_id = _submit(rt)
    approve_open(rt, user_of, case_id)
    case = _case(rt, case_id)
    correctable = repair._correctable(rt, case)  # noqa: SLF001
    decided, key = next(
        (row, key)
        for row in _items(rt, case_id, status="approved")
        for key in rt.catalog.items[row.item_code].fact_keys
        if key in correctable and rt.catalog.facts[key].type == "text" and case.data.get(key)
    )
    new_value = case.data[key] + "甲"
    with pytest.raises(InvalidInput) as refused:
        _do(
            rt,
            user_of,
            repair.correct_fact,
            case_id=case_id,
            key=key,
            value=new_value,
            reason=REASON,
        )
    assert rt.catalog.items[decided.item_code].name in refused.value.message
    assert _case(rt, case_id).data[key] == case.data[key] and not _repair_events(rt, case_id)
    used = [
        row
        for row in _items(rt, case_id, status="approved")
        if key in rt.catalog.items[row.item_code].fact_keys
    ]
    assert decided in used
    for row in used:
        assert rt.catalog.items[row.item_code].name in refused.value.message
        _do(rt, user_of, repair.reopen_item, case_id=case_id, item_id=row.id, reason=REASON)
    _do(rt, user_of, repair.correct_fact, case_id=case_id, key=key, value=new_value, reason=REASON)
    assert _case(rt, case_id).data[key] == new_value
    assert _finish(rt, user_of, case_id).status == "completed"
