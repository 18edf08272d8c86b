"""The clerk's workbench: the department queue filtered, sorted, paged and searched in SQL, and
claiming, so that two clerks never work the same task."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from demo.seed import DEMO_PASSWORD
from engine.clock import utcnow
from services.calendar import local_date
from services.cases import workbench
from services.cases.decisions import decide
from services.cases.models import Case, CaseEvent, CaseItem
from services.cases.submission import prepare_form, submit_application
from services.cases.uploads import UploadedFile
from services.errors import Conflict, Forbidden, InvalidInput, NotFound
from tests.forms.test_matters import APPLICATIONS, LOGINS, PDF, _sample, common_for
from tests.web.conftest import FATHER, MOTHER
from web.rendering import templates

SCHOOL_PARENT = "310110198910220510"  # 李明: school enrollment, checked by the police


def _apply(rt, user_of, matter: str, role: str) -> int:
    """A demo citizen applies through the service, as the form would; returns the case id."""
    person = next(p for p in LOGINS if p.matter == matter and p.role == role)
    answers = next(a for m, r, a, _ in APPLICATIONS if (m, r) == (matter, role))
    citizen = user_of(person.id_number)
    filled = {**common_for(matter), **answers}
    for _round in range(3):
        with Session(rt.db) as session:
            form = prepare_form(
                session, rt, user=citizen, matter_code=matter, answers=filled, consented=True
            )
        missing = [f for f in form.fields if f.known is None and f.required and f.key not in filled]
        filled.update({f.key: _sample(f.fact) for f in missing})
    uploads = [UploadedFile(entry.code, f"{entry.code}.pdf", PDF) for entry in form.uploads]
    with Session(rt.db) as session:
        case = submit_application(
            session,
            rt,
            user=citizen,
            matter_code=matter,
            answers=filled,
            uploads=uploads,
            consented=True,
        )
        return case.id


@dataclass
class PoliceTasks:
    """Three police tasks: two newborn registrations and a school-enrollment hukou check."""

    mother: CaseItem
    father: CaseItem
    school: CaseItem
    mother_hrss: CaseItem


def _item(session: Session, case_id: int, department: str) -> CaseItem:
    row = session.exec(
        select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.department == department)
    ).one()
    session.expunge(row)
    return row


def _set_due(rt, item_id: int, due: date) -> None:
    with Session(rt.db) as session:
        row = session.get(CaseItem, item_id)
        row.due_date = due
        session.add(row)
        session.commit()


@pytest.fixture
def tasks(rt, user_of) -> PoliceTasks:
    mother = _apply(rt, user_of, "newborn", "mother")
    father = _apply(rt, user_of, "newborn", "father")
    school = _apply(rt, user_of, "school_enrollment", "parent")
    with Session(rt.db) as session:
        found = PoliceTasks(
            mother=_item(session, mother, "police"),
            father=_item(session, father, "police"),
            school=_item(session, school, "police"),
            mother_hrss=_item(session, mother, "hrss"),
        )
    # Distinct due dates, so the order is known: father, school, mother.
    today = local_date(utcnow())
    for row, days in ((found.father, 2), (found.school, 4), (found.mother, 6)):
        row.due_date = today + timedelta(days=days)
        _set_due(rt, row.id, row.due_date)
    return found


def _search(rt, user_of, username: str, **wanted) -> workbench.QueuePage:
    with Session(rt.db) as session:
        return workbench.search_queue(
            session, rt, user=user_of(username), filter=workbench.QueueFilter(**wanted)
        )


def _ids(page: workbench.QueuePage) -> list[int]:
    return [row.item.id for row in page.rows]


def _api(app, username: str) -> TestClient:
    client = TestClient(app)
    token = client.post("/api/v1/login", json={"username": username, "password": DEMO_PASSWORD})
    client.headers["Authorization"] = f"Bearer {token.json()['token']}"
    return client


# --- filters, search, sorting, paging ------------------------------------------------------------


def test_queue_filters_by_matter_and_item(rt, user_of, tasks):
    everything = _search(rt, user_of, "police01")
    assert sorted(_ids(everything)) == sorted([tasks.mother.id, tasks.father.id, tasks.school.id])
    newborn = _search(rt, user_of, "police01", matter="newborn")
    assert sorted(_ids(newborn)) == sorted([tasks.mother.id, tasks.father.id])
    hukou = _search(rt, user_of, "police01", item="police_hukou_verification")
    assert _ids(hukou) == [tasks.school.id]
    assert (
        _search(rt, user_of, "police01", matter="newborn", item=tasks.school.item_code).total == 0
    )


def test_queue_filters_by_due_date_and_overdue(rt, user_of, tasks, browser):
    today = local_date(utcnow())
    _set_due(rt, tasks.mother.id, today - timedelta(days=3))
    due_soon = _search(rt, user_of, "police01", due_before=today + timedelta(days=2))
    assert sorted(_ids(due_soon)) == sorted([tasks.mother.id, tasks.father.id])
    overdue = _search(rt, user_of, "police01", overdue=True)
    assert _ids(overdue) == [tasks.mother.id] and overdue.rows[0].overdue
    page = browser("police01").get("/clerk?overdue=1")
    assert page.status_code == 200
    assert f'data-item="{tasks.mother.id}" data-overdue="1"' in page.text
    assert f'data-item="{tasks.father.id}"' not in page.text
    assert page.text.count('class="status-tag upload overdue"') == 1


def test_search_by_case_number_masked_id_and_last_four(rt, user_of, tasks, app):
    with Session(rt.db) as session:
        number = session.get(Case, tasks.school.case_id).number
    police = _api(app, "police01")

    def found(search: str) -> list[int]:
        response = police.get("/api/v1/queue", params={"search": search, "status": "all"})
        assert response.status_code == 200, response.text
        return [task["id"] for task in response.json()["tasks"]]

    assert found(number) == [tasks.school.id]
    assert found(number.lower()) == [tasks.school.id]
    assert tasks.school.id in found(number[:11])  # every case of that day
    assert found("310105********028X") == [tasks.mother.id]
    assert found("028x") == [tasks.mother.id]
    assert found(FATHER[-4:]) == [tasks.father.id]
    assert found(f"{FATHER[:6]}******{FATHER[-4:]}") == [tasks.father.id]  # any number of stars
    assert found(f"{MOTHER[:6]}********{FATHER[-4:]}") == []
    body = police.get("/api/v1/queue", params={"search": "028X"}).json()["tasks"][0]
    assert body["applicant"] == "310105********028X" and MOTHER not in str(body)
    refused = police.get("/api/v1/queue", params={"search": "王芳"})
    assert refused.status_code == 422 and "后4位" in refused.json()["detail"]
    # A day's matches are counted in the same statement that sorts them for the page; past the
    # last page they are counted on their own.
    pages = [
        _search(rt, user_of, "police01", search=number[:11], per_page=2, page=page)
        for page in (1, 2, 3)
    ]
    by_due = [tasks.father.id, tasks.school.id, tasks.mother.id]
    assert [_ids(page) for page in pages] == [by_due[:2], by_due[2:], []]
    assert [page.total for page in pages] == [3, 3, 3]


def test_a_full_id_searched_on_the_page_is_kept_out_of_the_address(tasks, browser):
    police = browser("police01")
    response = police.get(f"/clerk?search={MOTHER}&sort=case")
    assert response.status_code == 303
    assert MOTHER not in response.headers["location"]
    assert "search=310105%2A%2A%2A%2A%2A%2A%2A%2A028X" in response.headers["location"]
    page = police.get(response.headers["location"])
    assert f'data-item="{tasks.mother.id}"' in page.text and MOTHER not in page.text
    assert 'value="310105********028X"' in page.text
    assert "办件编号或申请人证件号（可用掩码或后4位）" in page.text
    bad = police.get("/clerk?search=abc")
    assert bad.status_code == 422 and "后4位" in bad.text


def test_queue_sorts_and_pages_in_sql(rt, user_of, tasks):
    by_due = [tasks.father.id, tasks.school.id, tasks.mother.id]
    assert _ids(_search(rt, user_of, "police01", sort="due")) == by_due
    assert _ids(_search(rt, user_of, "police01", sort="due", desc=True)) == by_due[::-1]
    by_case = [tasks.mother.id, tasks.father.id, tasks.school.id]  # the order they applied in
    assert _ids(_search(rt, user_of, "police01", sort="case")) == by_case
    assert _ids(_search(rt, user_of, "police01", sort="received", desc=True)) == by_case[::-1]
    first = _search(rt, user_of, "police01", per_page=2)
    second = _search(rt, user_of, "police01", per_page=2, page=2)
    assert (first.total, first.pages, first.has_next, first.has_previous) == (3, 2, True, False)
    assert _ids(first) + _ids(second) == by_due and not second.has_next
    assert _search(rt, user_of, "police01", per_page=1000).per_page == workbench.MAX_PER_PAGE
    # A page is picked from the task rows before they are joined to their cases: a filter on
    # the tasks alone (unclaimed) and the API's listing by offset page the same way.
    later = _search(rt, user_of, "police01", per_page=1, page=3, unclaimed=True)
    assert _ids(later) == by_due[2:] and later.rows[0].case.id == tasks.mother.case_id
    with Session(rt.db) as session:
        listed = [
            workbench.search_queue(
                session,
                rt,
                user=user_of("police01"),
                filter=workbench.QueueFilter(),
                offset=offset,
                limit=1,
                count=False,
            )
            for offset in range(4)
        ]
    assert [_ids(page) for page in listed] == [[i] for i in by_due] + [[]]
    assert [page.total for page in listed] == [-1] * 4


def test_page_links_keep_the_filters(tasks, browser):
    page = browser("police01").get(
        "/clerk?per_page=1&matter=newborn&due_before=2030-01-01&sort=case&desc=1"
    )
    assert page.status_code == 200
    assert page.text.count("data-case=") == 1 and 'rel="prev"' not in page.text
    assert "共2条 · 第1 / 2页" in page.text
    wanted = "matter=newborn&amp;due_before=2030-01-01&amp;sort=case&amp;desc=1&amp;page=2"
    assert f'href="/clerk?{wanted}&amp;per_page=1" rel="next"' in page.text
    assert 'name="per_page" value="1"' in page.text  # the filter form keeps it too


def test_counts_per_status_overdue_and_claims(rt, user_of, tasks):
    _set_due(rt, tasks.school.id, local_date(utcnow()) - timedelta(days=1))
    with Session(rt.db) as session:
        workbench.claim(session, user=user_of("police01"), item_id=tasks.mother.id)
        decide(session, rt, user=user_of("police01"), item_id=tasks.father.id, decision="approved")
        counts = workbench.status_counts(session, user=user_of("police01"))
        theirs = workbench.status_counts(session, user=user_of("police02"))
    assert counts["processing"] == 2 and counts["approved"] == 1 and counts["rejected"] == 0
    assert counts["overdue"] == 1 and counts["mine"] == 1 and counts["unclaimed"] == 1
    assert theirs["mine"] == 0


def test_police_never_sees_hrss_tasks_even_by_search(rt, user_of, tasks, app):
    police = _api(app, "police01")
    for search in ("310105********028X", "028X", ""):
        body = police.get("/api/v1/queue", params={"search": search, "status": "all"}).json()
        assert tasks.mother_hrss.id not in [t["id"] for t in body["tasks"]]
        assert {t["item"] for t in body["tasks"]} <= {
            "police_birth_registration",
            "police_hukou_verification",
        }
    hrss = _search(rt, user_of, "hrss01", search="028X", status=None)
    assert _ids(hrss) == [tasks.mother_hrss.id]
    with Session(rt.db) as session, pytest.raises(NotFound):
        workbench.claim(session, user=user_of("police01"), item_id=tasks.mother_hrss.id)
    assert police.post(f"/api/v1/tasks/{tasks.mother_hrss.id}/claim").status_code == 404


def test_only_clerks_see_the_queue(rt, user_of, tasks):
    with Session(rt.db) as session, pytest.raises(Forbidden):
        workbench.search_queue(session, rt, user=user_of(MOTHER), filter=workbench.QueueFilter())


# --- claims --------------------------------------------------------------------------------------


def test_claim_release_and_reassign_on_the_page(rt, tasks, browser):
    first, second, lead = browser("police01"), browser("police02"), browser("police-lead")
    first.get("/clerk")
    claimed = first.post(f"/clerk/items/{tasks.mother.id}/claim", data={"back": "/clerk?sort=case"})
    assert claimed.status_code == 303
    assert claimed.headers["location"] == "/clerk?sort=case&notice=claimed"
    assert first.post(f"/clerk/items/{tasks.mother.id}/claim").status_code == 303  # mine already
    page = first.get("/clerk?mine=1").text
    assert f'data-item="{tasks.mother.id}"' in page and "（我）" in page
    assert f"/clerk/items/{tasks.mother.id}/release" in page and "改派给" not in page

    second.get("/clerk")
    taken = second.post(f"/clerk/items/{tasks.mother.id}/claim")
    assert taken.status_code == 409 and "该待办已由公安局窗口认领" in taken.text
    assert second.post(f"/clerk/items/{tasks.mother.id}/release").status_code == 403
    refused = second.post(f"/clerk/items/{tasks.mother.id}/reassign", data={"to_user_id": "1"})
    assert refused.status_code == 403 and "只有科长可以改派" in refused.text

    lead_page = lead.get("/clerk").text
    assert 'name="to_user_id"' in lead_page and "公安局窗口二" in lead_page
    with Session(rt.db) as session:
        police02 = workbench.department_clerks(session, department="police")
    target = next(u for u in police02 if u.username == "police02")
    moved = lead.post(
        f"/clerk/items/{tasks.mother.id}/reassign",
        data={"to_user_id": str(target.id), "back": "https://evil.example/clerk"},
    )
    assert moved.status_code == 303 and moved.headers["location"] == "/clerk?notice=reassigned"
    assert first.post(f"/clerk/items/{tasks.mother.id}/release").status_code == 403
    assert second.post(f"/clerk/items/{tasks.mother.id}/release").status_code == 303
    with Session(rt.db) as session:
        row = session.get(CaseItem, tasks.mother.id)
        events = session.exec(
            select(CaseEvent)
            .where(
                CaseEvent.case_id == row.case_id,
                col(CaseEvent.kind).in_(("claim", "release", "reassign")),
            )
            .order_by(col(CaseEvent.id))
        ).all()
    assert row.claimed_by is None and row.claimed_at is None
    assert [e.kind for e in events] == ["claim", "reassign", "release"]
    assert "改派给公安局窗口二（原认领人：公安局窗口）" in events[1].message


def test_supervisor_releases_and_reassigns_only_within_the_department(rt, user_of, tasks):
    lead, clerk = user_of("police-lead"), user_of("police01")
    with Session(rt.db) as session:
        workbench.claim(session, user=clerk, item_id=tasks.school.id)
        released = workbench.release(session, user=lead, item_id=tasks.school.id)
        assert released.claimed_by is None
        for outsider in ("hrss01", "police-system", MOTHER):
            with pytest.raises(Forbidden):
                workbench.reassign(
                    session, user=lead, item_id=tasks.school.id, to_user_id=user_of(outsider).id
                )
        row = workbench.reassign(session, user=lead, item_id=tasks.school.id, to_user_id=clerk.id)
        assert row.claimed_by == clerk.id and row.claimed_at is not None
        with pytest.raises(Forbidden):
            workbench.claim(session, user=user_of("police-system"), item_id=tasks.father.id)


def test_decided_tasks_cannot_be_claimed(rt, user_of, tasks, app):
    with Session(rt.db) as session:
        decide(session, rt, user=user_of("police01"), item_id=tasks.father.id, decision="approved")
    response = _api(app, "police02").post(f"/api/v1/tasks/{tasks.father.id}/claim")
    assert response.status_code == 409 and "不在办理中" in response.json()["detail"]


def test_claims_over_the_json_api(rt, user_of, tasks, app):
    first, second, lead = _api(app, "police01"), _api(app, "police02"), _api(app, "police-lead")
    mine = first.post(f"/api/v1/tasks/{tasks.school.id}/claim")
    assert mine.status_code == 200 and mine.json()["claimed_by_name"] == "公安局窗口"
    refused = second.post(f"/api/v1/tasks/{tasks.school.id}/claim")
    assert refused.status_code == 409
    assert "公安局窗口" in refused.json()["detail"] and "claimed by" in refused.json()["detail_en"]
    queue = second.get("/api/v1/queue", params={"unclaimed": "1"}).json()
    assert tasks.school.id not in [t["id"] for t in queue["tasks"]]
    assert queue["counts"]["unclaimed"] == 2
    mine_only = first.get("/api/v1/queue", params={"mine": "true"}).json()
    assert [t["id"] for t in mine_only["tasks"]] == [tasks.school.id]
    assert mine_only["tasks"][0]["claimed_by_name"] == "公安局窗口"
    police02 = user_of("police02").id
    moved = lead.post(f"/api/v1/tasks/{tasks.school.id}/reassign", json={"to_user_id": police02})
    assert moved.status_code == 200 and moved.json()["claimed_by"] == police02
    released = second.post(f"/api/v1/tasks/{tasks.school.id}/release")
    assert released.status_code == 200 and released.json()["claimed_by"] is None


def test_nobody_decides_a_task_another_clerk_holds(rt, user_of, tasks):
    first, second = user_of("police01"), user_of("police02")
    with Session(rt.db) as session:
        row = workbench.claim(session, user=first, item_id=tasks.mother.id)
        workbench.check_can_decide(row, first)
        with pytest.raises(Conflict) as refused:
            workbench.check_can_decide(row, second)
        assert "公安局窗口" in refused.value.message
        workbench.check_can_decide(session.get(CaseItem, tasks.father.id), second)  # unclaimed


def test_two_clerks_claiming_at_once_exactly_one_wins(rt, tasks, browser):
    clerks = {name: browser(name) for name in ("police01", "police02")}
    for clerk in clerks.values():
        clerk.get("/clerk")
    start = threading.Barrier(len(clerks))
    results = {}

    def claim(name: str) -> None:
        start.wait()
        results[name] = clerks[name].post(f"/clerk/items/{tasks.mother.id}/claim")

    threads = [threading.Thread(target=claim, args=(name,)) for name in clerks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(response.status_code for response in results.values())
    assert statuses == [303, 409]
    winner = next(name for name, response in results.items() if response.status_code == 303)
    loser = next(response for response in results.values() if response.status_code == 409)
    with Session(rt.db) as session:
        row = session.get(CaseItem, tasks.mother.id)
        holder = workbench.holder_name(session, row)
        claims = session.exec(
            select(CaseEvent).where(CaseEvent.case_id == row.case_id, CaseEvent.kind == "claim")
        ).all()
    assert holder == {"police01": "公安局窗口", "police02": "公安局窗口二"}[winner]
    assert f"该待办已由{holder}认领" in loser.text
    assert len(claims) == 1


def test_a_clerk_who_read_the_task_before_it_was_claimed_still_loses(rt, user_of, tasks):
    """The conditional UPDATE, not the earlier read, decides who wins."""
    first, second = user_of("police01"), user_of("police02")
    with Session(rt.db) as late, Session(rt.db) as early:
        stale = late.get(CaseItem, tasks.mother.id)  # read while nobody held it
        assert stale.claimed_by is None
        workbench.claim(early, user=first, item_id=tasks.mother.id)
        with pytest.raises(Conflict) as lost:
            workbench.claim(late, user=second, item_id=tasks.mother.id)
    assert "该待办已由公安局窗口认领" in lost.value.message
    with Session(rt.db) as session:
        assert session.get(CaseItem, tasks.mother.id).claimed_by == first.id


def test_search_text_is_parsed_without_ever_keeping_a_full_id():
    assert workbench.parse_search(MOTHER).text == "310105********028X"
    assert workbench.parse_search(" yjs2026 ").text == "YJS2026"
    assert workbench.parse_search("310105＊＊＊＊＊＊＊＊028x").text == "310105********028X"
    assert workbench.parse_search("") is None
    assert workbench.parse_search("3101").text == "3101"  # four characters: an ID's last four
    with pytest.raises(InvalidInput):
        workbench.parse_search("31010")


def test_prefix_bounds_cover_exactly_the_prefix():
    assert workbench._upper_bound("310109") == "31010A"
    assert workbench._upper_bound("YJS") == "YJT"
    assert workbench._upper_bound("ZZ") is None


def test_a_task_claimed_by_one_clerk_cannot_be_decided_by_another(browser):
    from tests.web.test_newborn import submit_newborn

    submit_newborn(browser)
    first, second = browser("police01"), browser("police02")
    task = first.client.get("/api/v1/tasks").json()[0]
    first.get("/clerk")
    assert first.post(f"/clerk/items/{task['id']}/claim").status_code == 303
    second.get(f"/clerk/items/{task['id']}")
    refused = second.post(f"/clerk/items/{task['id']}/decision", data={"decision": "approved"})
    assert refused.status_code == 409
    first.get(f"/clerk/items/{task['id']}")
    done = first.post(f"/clerk/items/{task['id']}/decision", data={"decision": "approved"})
    assert done.status_code == 303


def test_counts_and_totals_stop_at_the_cap(rt, user_of, tasks, browser, monkeypatch):
    """Counts are taken up to the cap (a large department's queue is not counted in full on
    every page); beyond it the page says "N+" and the API says the total is capped."""
    monkeypatch.setattr(workbench, "COUNT_CAP", 2)
    with Session(rt.db) as session:
        counts = workbench.status_counts(session, user=user_of("police01"))
    assert counts["processing"] == 3 and counts["unclaimed"] == 3  # cap + 1: more than 2
    page = _search(rt, user_of, "police01", per_page=1)
    assert page.total == 3 and page.capped and page.pages == 2
    clerk = browser("police01")
    monkeypatch.setitem(templates.env.globals, "COUNT_CAP", 2)
    text = clerk.get("/clerk").text
    assert "2+" in text
    answer = clerk.client.get("/api/v1/queue").json()
    assert answer["total_capped"] is True and answer["counts"]["processing"] == 3
