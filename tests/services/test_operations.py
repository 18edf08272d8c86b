"""Open incidents grouped for operators (services/operations.py): alike failures of both kinds
(a process that could not run on, a department system that gave up) in one group each, by
kind, matter, item, department, element and cause, the varying parts of their texts aside."""

from __future__ import annotations

from sqlmodel import Session, select

from engine.cases import StepFailed
from services.cases import incidents
from services.cases.models import CaseItem
from services.operations import cause_of, incident_groups
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
