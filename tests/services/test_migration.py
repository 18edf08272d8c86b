"""Moving running cases to a newer version of their matter's process (services/migration.py):
the dry run, applying it in batches, chosen cases only, cases that cannot be moved, and clerks
deciding while it runs; the moved cases then finish end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from engine.store import ProcessInstance, TimerJob
from services import migration, processes
from services.calendar import add_working_days, local_date
from services.cases.decisions import decide
from services.cases.models import Case, CaseEvent, CaseItem
from services.cases.submission import prepare_form, submit_application
from services.errors import Forbidden, InvalidInput
from services.migration_models import MigrationRun
from tests.bpmn_edit import add_item_task, insert_item_task
from tests.conftest import START
from tests.services.test_case_path import approve_open
from tests.web.conftest import NEWBORN_ANSWERS

NEWBORN = (Path(__file__).resolve().parents[2] / "bpmn" / "newborn.bpmn").read_bytes()
NEW_ITEM = "hrss_social_insurance_enrollment"
NEW_TASK = "Task_social_insurance_enrollment"
# A step for an item the matter did not have: after the social security card, the HRSS bureau
# enrols the child in social insurance.
WITH_ENROLLMENT = insert_item_task(
    NEWBORN,
    flow="Flow_hrss_done",
    item=NEW_ITEM,
    lane="hrss",
    task_id=NEW_TASK,
    name="社会保险参保登记",
)


def newborn_case(rt, user_of, username: str) -> int:
    citizen = user_of(username)
    with Session(rt.db) as session:
        prepare_form(session, rt, user=citizen, matter_code="newborn", consented=True)
        case = submit_application(
            session,
            rt,
            user=citizen,
            matter_code="newborn",
            answers=dict(NEWBORN_ANSWERS),
            consented=True,
        )
        return case.id


def deploy(rt, user_of, content: bytes) -> int:
    with Session(rt.db) as session:
        return processes.deploy(
            session, rt, matter_code="newborn", content=content, author=user_of("admin")
        ).version


def open_items(rt, case_id: int, department: str | None = None) -> list[CaseItem]:
    with Session(rt.db) as session:
        statement = select(CaseItem).where(
            CaseItem.case_id == case_id, CaseItem.status == "processing"
        )
        if department:
            statement = statement.where(CaseItem.department == department)
        rows = session.exec(statement.order_by(col(CaseItem.id))).all()
        for row in rows:
            session.expunge(row)
        return list(rows)


def approve(rt, user_of, row: CaseItem) -> None:
    clerk = user_of(f"{row.department}01")
    with Session(rt.db) as session:
        decide(session, rt, user=clerk, item_id=row.id, decision="approved")


def approve_all(rt, user_of, case_id: int) -> None:
    """Every open item approved until the case is done (items routed later included)."""
    for _round in range(5):
        if not open_items(rt, case_id):
            return
        approve_open(rt, user_of, case_id)


def case_of(rt, case_id: int) -> Case:
    with Session(rt.db) as session:
        case = session.get(Case, case_id)
        session.expunge(case)
        return case


def plan(rt, user_of, **kwargs) -> migration.Plan:
    with Session(rt.db) as session:
        return migration.plan(
            session, rt, user=user_of("operator"), matter_code="newborn", **kwargs
        )


def apply(rt, user_of, **kwargs) -> MigrationRun:
    with Session(rt.db) as session:
        return migration.apply(
            session,
            rt,
            user=user_of("operator"),
            matter_code="newborn",
            reason=kwargs.pop("reason", "新增社会保险参保登记"),
            **kwargs,
        )


@pytest.fixture
def three_cases(rt, user_of, newborn_parents) -> list[int]:
    return [newborn_case(rt, user_of, mother) for mother in newborn_parents(3)]


def test_the_dry_run_says_where_each_case_lands_and_what_it_would_get(rt, user_of, three_cases):
    first, second, _third = three_cases
    approve(rt, user_of, open_items(rt, second, "hrss")[0])  # past the point of the new step
    version = deploy(rt, user_of, WITH_ENROLLMENT)
    found = plan(rt, user_of, to_version=version)
    assert found.added == ["社会保险参保登记"] and found.removed == []
    assert [c.case_id for c in found.cases] == three_cases
    assert [c.from_version for c in found.cases] == [0, 0, 0]
    assert [c.mappable for c in found.cases] == [True, False, True]
    one = found.cases[0]
    assert ("出生登记（落户）", "出生登记（落户）") in one.steps
    assert ("社会保障卡申领", "社会保障卡申领") in one.steps
    assert one.ahead == ["社会保险参保登记"] and one.skipped == [] and one.repeated == []
    assert one.deadlines == []  # the timers did not change: every deadline stays
    [new_item] = one.new_items
    assert (new_item.code, new_item.department) == (NEW_ITEM, "hrss")
    limit = rt.catalog.items[NEW_ITEM].time_limit_days
    assert new_item.due_if_today == add_working_days(local_date(START), limit)
    # The second case waits at the join for the social security card's branch, which in the
    # new version comes through the new step: the join would never see it arrive.
    assert found.cases[1].reason == (
        "汇合点“统一出件”将永远等待一条办件已无法到达的分支",
        "the join 统一出件 would wait forever for a branch the case can no longer reach",
    )
    # nothing was changed
    with Session(rt.db) as session:
        keys = session.exec(select(ProcessInstance.definition_key)).all()
        assert len(set(keys)) == 1
        assert session.exec(select(MigrationRun)).all() == []
    assert first in [c.case_id for c in found.mappable]


def test_the_dry_run_shows_the_deadlines_a_new_version_moves(rt, user_of, three_cases):
    earlier = NEWBORN.replace(
        b"due_in_working_days(time_limits['police_birth_registration'] - 1)",
        b"due_in_working_days(time_limits['police_birth_registration'] - 2)",
    )
    assert earlier != NEWBORN
    version = deploy(rt, user_of, earlier)
    found = plan(rt, user_of, to_version=version, case_ids=[three_cases[0]])
    [one] = found.cases
    [moved] = one.deadlines
    assert (moved.item, moved.deadline) == ("police_birth_registration", "warning")
    assert moved.new_due < moved.old_due
    run = apply(rt, user_of, to_version=version, case_ids=[three_cases[0]])
    assert run.migrated == 1
    with Session(rt.db) as session:
        instance_id = session.get(Case, three_cases[0]).instance_id
        jobs = session.exec(
            select(TimerJob).where(
                TimerJob.instance_id == instance_id,
                TimerJob.item == "police_birth_registration",
                TimerJob.deadline == "warning",
            )
        ).all()
    assert [job.due_at for job in jobs] == [moved.new_due]


def test_open_newborn_cases_move_to_a_version_with_a_new_item_and_finish(rt, user_of, three_cases):
    version = deploy(rt, user_of, WITH_ENROLLMENT)
    run = apply(rt, user_of, to_version=version, batch=2)
    assert (run.chosen, run.migrated, run.unmappable, run.changed) == (3, 3, 0, 0)
    assert [o["outcome"] for o in run.outcomes] == ["migrated"] * 3
    with Session(rt.db) as session:
        target = processes.get_version(session, matter_code="newborn", version=version)
        keys = set(session.exec(select(ProcessInstance.definition_key)).all())
        assert keys == {target.definition_key}
        events = session.exec(
            select(CaseEvent).where(CaseEvent.kind == "migrated").order_by(CaseEvent.case_id)
        ).all()
    assert [e.message for e in events] == [f"流程版本迁移 v0→v{version}：新增社会保险参保登记"] * 3
    assert {e.actor for e in events} == {user_of("operator").display_name}
    for case_id in three_cases:
        approve(rt, user_of, open_items(rt, case_id, "hrss")[0])
        [enrollment] = open_items(rt, case_id, "hrss")
        assert enrollment.item_code == NEW_ITEM
        limit = rt.catalog.items[NEW_ITEM].time_limit_days
        assert enrollment.due_date == add_working_days(local_date(START), limit)
        approve_all(rt, user_of, case_id)
        case = case_of(rt, case_id)
        assert (case.status, case.outcome) == ("completed", "approved")
    # a second run finds nothing left to move
    assert plan(rt, user_of, to_version=version).cases == []


def test_only_the_chosen_cases_move(rt, user_of, three_cases):
    version = deploy(rt, user_of, WITH_ENROLLMENT)
    run = apply(rt, user_of, to_version=version, case_ids=[three_cases[1]])
    assert run.chosen == 1 and [o["case_id"] for o in run.outcomes] == [three_cases[1]]
    assert [c.case_id for c in plan(rt, user_of, to_version=version).cases] == [
        three_cases[0],
        three_cases[2],
    ]
    with pytest.raises(InvalidInput):
        apply(rt, user_of, to_version=version, case_ids=[three_cases[1]])  # moved already
    with pytest.raises(InvalidInput):
        apply(rt, user_of, to_version=version, reason=" ")


def test_a_case_whose_step_the_new_version_drops_is_reported_with_the_reason(
    rt, user_of, three_cases
):
    with_step = deploy(rt, user_of, WITH_ENROLLMENT)
    assert apply(rt, user_of, to_version=with_step).migrated == 3
    first = three_cases[0]
    approve(rt, user_of, open_items(rt, first, "hrss")[0])  # now at the new step
    without = deploy(rt, user_of, NEWBORN)  # the step taken out again
    found = plan(rt, user_of, to_version=without)
    by_case = {c.case_id: c for c in found.cases}
    assert by_case[first].reason == (
        "办件当前所在的步骤“社会保险参保登记”在新版本中已删除",
        "the step the case is at, 社会保险参保登记, was removed in the new version",
    )
    assert all(by_case[c].mappable for c in three_cases[1:])
    run = apply(rt, user_of, to_version=without)
    outcomes = {o["case_id"]: o for o in run.outcomes}
    assert outcomes[first]["outcome"] == "unmappable"
    assert outcomes[first]["reason"] == list(by_case[first].reason)
    assert (run.migrated, run.unmappable) == (2, 1)
    approve_all(rt, user_of, first)  # it finishes on the version it stayed on
    assert case_of(rt, first).status == "completed"


def test_a_branch_added_after_the_fork_the_cases_passed_cannot_be_mapped(rt, user_of, three_cases):
    parallel = add_item_task(
        NEWBORN,
        item=NEW_ITEM,
        lane="hrss",
        task_id=NEW_TASK,
        fork="Gateway_fanout",
        join="Gateway_fanin",
    )
    version = deploy(rt, user_of, parallel)
    found = plan(rt, user_of, to_version=version)
    assert found.mappable == []
    assert {c.reason[1] for c in found.cases} == {
        "the join 统一出件 would wait forever for a branch the case can no longer reach"
    }


def test_only_operators_migrate(rt, user_of, three_cases):
    version = deploy(rt, user_of, WITH_ENROLLMENT)
    for username in ("admin", "police01", "hrss-system"):
        with Session(rt.db) as session, pytest.raises(Forbidden):
            migration.plan(
                session, rt, user=user_of(username), matter_code="newborn", to_version=version
            )
        with Session(rt.db) as session, pytest.raises(Forbidden):
            migration.apply(
                session,
                rt,
                user=user_of(username),
                matter_code="newborn",
                to_version=version,
                reason="x",
            )


def test_a_clerk_deciding_between_the_dry_run_and_the_run_is_taken_into_account(
    rt, user_of, three_cases
):
    version = deploy(rt, user_of, WITH_ENROLLMENT)
    found = plan(rt, user_of, to_version=version)
    assert found.cases[0].ahead == ["社会保险参保登记"]
    approve(rt, user_of, open_items(rt, three_cases[0], "hrss")[0])  # meanwhile
    run = apply(rt, user_of, to_version=version)
    assert [o["outcome"] for o in run.outcomes] == ["unmappable", "migrated", "migrated"]
    assert run.outcomes[0]["reason"][1].startswith("the join 统一出件 would wait forever")
    for case_id in three_cases:
        approve_all(rt, user_of, case_id)
        assert case_of(rt, case_id).status == "completed"


def test_a_case_a_clerk_changes_while_it_is_moved_is_tried_again_or_reported(
    rt, user_of, three_cases
):
    version = deploy(rt, user_of, WITH_ENROLLMENT)
    first, second, third = three_cases
    raced: list[int] = []

    def clerk_decides(case_id: int) -> None:
        """A clerk decides one of the case's items after the migration read it."""
        if case_id == first and raced.count(first) == 0 or case_id == second:
            raced.append(case_id)
            rows = [r for r in open_items(rt, case_id) if r.department != "hrss"]
            approve(rt, user_of, rows[0])

    def between(done: int) -> None:
        approve(rt, user_of, open_items(rt, third, "cdc")[0])  # before the third's batch

    run = apply(
        rt, user_of, to_version=version, batch=2, on_loaded=clerk_decides, between_batches=between
    )
    outcomes = {o["case_id"]: o for o in run.outcomes}
    assert outcomes[first]["outcome"] == "migrated" and outcomes[first]["retried"]
    assert outcomes[second]["outcome"] == "changed"
    assert outcomes[second]["reason"] == [
        "办件在迁移期间被修改，请重新运行迁移",
        "the case changed meanwhile, run again",
    ]
    assert outcomes[third]["outcome"] == "migrated" and not outcomes[third]["retried"]
    assert (run.migrated, run.changed) == (2, 1)
    # the second case was not touched by the migration: its clerks' decisions all stand
    with Session(rt.db) as session:
        events = session.exec(
            select(CaseEvent.kind).where(CaseEvent.case_id == second, CaseEvent.kind == "migrated")
        ).all()
        assert events == []
    again = apply(rt, user_of, to_version=version)
    assert [(o["case_id"], o["outcome"]) for o in again.outcomes] == [(second, "migrated")]
    for case_id in three_cases:
        approve_all(rt, user_of, case_id)
        case = case_of(rt, case_id)
        assert (case.status, case.outcome) == ("completed", "approved")
        with Session(rt.db) as session:
            items = session.exec(select(CaseItem.item_code).where(CaseItem.case_id == case_id))
            assert NEW_ITEM in set(items)
    with Session(rt.db) as session:
        assert migration.runs(session, user=user_of("operator"))[0].id == again.id
