"""Concurrent writers on one case, with real threads over HTTP, on SQLite and PostgreSQL:
departments deciding their items of the same case at the same moment all land; two clerks
deciding the same task: exactly one wins and the other is told why."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from demo.seed import DEMO_PASSWORD
from engine import cases as runner
from engine.store import HumanTask, ProcessInstance
from services.cases.models import Case, CaseEvent, CaseItem
from tests.web.conftest import FATHER, MOTHER, NEWBORN_ANSWERS, NEWBORN_DEPARTMENTS
from tests.web.test_newborn import submit_newborn


def _api_client(app, username: str) -> TestClient:
    client = TestClient(app)
    login = client.post("/api/v1/login", json={"username": username, "password": DEMO_PASSWORD})
    assert login.status_code == 200, login.text
    client.headers["Authorization"] = f"Bearer {login.json()['token']}"
    return client


def _at_once(calls: dict[str, callable]) -> dict:
    """Run every call in its own thread, released together; their results by name."""
    start = threading.Barrier(len(calls))
    results: dict = {}

    def run(name: str) -> None:
        start.wait()
        results[name] = calls[name]()

    threads = [threading.Thread(target=run, args=(name,)) for name in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _open_items(rt, case_id: int) -> dict[str, int]:
    with Session(rt.db) as session:
        rows = session.exec(
            select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.status == "processing")
        ).all()
        return {row.department: row.id for row in rows if not row.auto}


def _consistent(rt, case_id: int) -> None:
    """The read model agrees with the serialized workflow: what is ready in one is open in the
    other, and the engine's state is the newest version."""
    with Session(rt.db) as session:
        case = session.get(Case, case_id)
        instance = session.get(ProcessInstance, case.instance_id)
        spec = rt.specs.get(instance.definition_key, instance.process_id)
        workflow = runner.restore(instance.state, spec)
        ready = {task.task_id for task in runner.ready_tasks(spec, workflow)}
        open_tasks = session.exec(
            select(HumanTask.id).where(
                HumanTask.instance_id == instance.id,
                HumanTask.state == "ready",
                HumanTask.kind.in_(["user", "correction"]),
            )
        ).all()
        assert {str(t) for t in open_tasks} == ready


def test_every_department_deciding_the_same_case_at_once_lands(app, rt, browser):
    _, case_id = submit_newborn(browser)
    items = _open_items(rt, case_id)
    assert set(items) == set(NEWBORN_DEPARTMENTS) - {"medical"} | ({"medical"} & set(items))
    clients = {dept: _api_client(app, f"{dept}01") for dept in items}
    results = _at_once(
        {
            dept: (
                lambda dept=dept: clients[dept].post(
                    f"/api/v1/tasks/{items[dept]}/complete", json={"decision": "approved"}
                )
            )
            for dept in items
        }
    )
    assert {dept: r.status_code for dept, r in results.items()} == dict.fromkeys(items, 200)
    _consistent(rt, case_id)
    # The mother's maternity allowance is a second medical item; decide what is left.
    for dept, item_id in _open_items(rt, case_id).items():
        done = clients.get(dept) or _api_client(app, f"{dept}01")
        assert done.post(
            f"/api/v1/tasks/{item_id}/complete", json={"decision": "approved"}
        ).is_success
    with Session(rt.db) as session:
        case = session.get(Case, case_id)
        assert (case.status, case.outcome) == ("completed", "approved")
        decided = session.exec(select(CaseItem.status).where(CaseItem.case_id == case_id)).all()
        assert set(decided) == {"approved"}
    _consistent(rt, case_id)


def _decide(client: TestClient, item_id: int, body: dict):
    return lambda: client.post(f"/api/v1/tasks/{item_id}/complete", json=body)


def test_two_clerks_deciding_the_same_task_exactly_one_wins(app, rt, browser):
    for applicant, answers in (
        (MOTHER, NEWBORN_ANSWERS),
        (FATHER, {**NEWBORN_ANSWERS, "delivery_method": "online"}),
    ):
        _, case_id = submit_newborn(browser, applicant=applicant, answers=answers)
        item_id = _open_items(rt, case_id)["police"]
        clerks = {name: _api_client(app, name) for name in ("police01", "police02")}
        results = _at_once(
            {
                "police01": _decide(clerks["police01"], item_id, {"decision": "approved"}),
                "police02": _decide(
                    clerks["police02"], item_id, {"decision": "rejected", "comment": "材料不全"}
                ),
            }
        )
        statuses = sorted(r.status_code for r in results.values())
        assert statuses == [200, 409], {
            k: (r.status_code, r.text[:200]) for k, r in results.items()
        }
        winner = next(name for name, r in results.items() if r.status_code == 200)
        loser = next(r for r in results.values() if r.status_code == 409)
        assert loser.json()["detail"] and loser.json()["detail_en"]
        with Session(rt.db) as session:
            row = session.get(CaseItem, item_id)
            assert row.status == ("approved" if winner == "police01" else "rejected")
            decisions = session.exec(
                select(CaseEvent).where(
                    CaseEvent.case_id == case_id,
                    CaseEvent.kind.in_(["approved", "rejected"]),
                    CaseEvent.actor_user_id.is_not(None),  # not the automatic check
                )
            ).all()
            assert len(decisions) == 1  # the loser left no trace
        _consistent(rt, case_id)


def test_more_requests_than_connections_all_get_answers(rt):
    """A burst of requests larger than the connection pool (and than the pool plus the thread
    pool) queues for database slots on the event loop: every request is answered, none waits
    out the pool's timeout (before, threads holding no connection filled the thread pool while
    the requests holding connections waited for a thread)."""
    import dataclasses

    import httpx
    from sqlalchemy import create_engine

    from tests.live import serve
    from web.app import create_app

    small = create_engine(rt.db.url, pool_size=5, max_overflow=0, pool_timeout=5)
    tight = dataclasses.replace(rt, db=small)
    app = create_app(tight)
    assert app.state.db_slots.size == 1
    with serve(app) as base:
        token = httpx.post(
            f"{base}/api/v1/login", json={"username": "police01", "password": DEMO_PASSWORD}
        ).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        calls = {
            str(n): lambda: (
                httpx.get(f"{base}/api/v1/tasks", headers=headers, timeout=60).status_code
            )
            for n in range(60)
        }
        statuses = _at_once(calls)
    small.dispose()
    assert sorted(set(statuses.values())) == [200], statuses
