"""The burden measured in use: each case's row (fields typed vs prefilled, materials uploaded,
trips) written with its submission and added to by corrections; per matter medians and
quartiles, working days and the share started from an offer, on the dashboard page, its API
and its CSV. The write path stays cheap: one INSERT with a submission, nothing with a decision."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from sqlalchemy import event
from sqlmodel import Session, select

from engine import clock
from services.calendar import local_date, working_days_between
from services.cases.burden_measured import (
    CaseBurden,
    distribution,
    measured_burden,
    record_offer_start,
)
from services.cases.models import Case, CaseItem
from tests.conftest import START
from tests.web import conftest as web
from tests.web.conftest import FATHER, MOTHER, NEWBORN_ANSWERS, NEWBORN_DEPARTMENTS
from tests.web.test_correction import PDF, _item, _send_back
from tests.web.test_frontdesk import SCAN, WALK_IN
from tests.web.test_newborn import submit_newborn

app, browser = web.app, web.browser  # the app and its signed-in browsers, as in tests/web


def _burden(rt, case_id: int) -> CaseBurden:
    with Session(rt.db) as session:
        row = session.get(CaseBurden, case_id)
        session.expunge(row)
        return row


def _case(rt, case_id: int) -> Case:
    with Session(rt.db) as session:
        case = session.get(Case, case_id)
        session.expunge(case)
        return case


def test_a_submission_records_fields_typed_apart_from_those_prefilled(browser, rt):
    _, case_id = submit_newborn(browser)
    case, row = _case(rt, case_id), _burden(rt, case_id)
    typed = [key for key in NEWBORN_ANSWERS if key in case.data and key not in case.provenance]
    assert row.fields_prefilled == len(case.provenance) > 0  # the registries' facts, shown
    assert row.fields_typed == len(typed) > 0
    assert row.materials_uploaded == 0 and row.materials_fetched > 0  # the marriage record
    assert row.trips == 0  # online, results by post
    assert (row.corrections, row.started_from_offer) == (0, False)


def test_a_correction_adds_its_typed_fields_and_materials(browser, rt):
    citizen, case_id = submit_newborn(browser)
    before = _burden(rt, case_id)
    item = _item(rt, case_id, "police")
    _send_back(browser("police01"), item.id, ["household_parent", "material_marriage_certificate"])
    citizen.get(f"/cases/{case_id}")
    done = citizen.post(
        f"/cases/{case_id}/items/{item.id}/correction",
        data={"household_parent": "mother"},
        files=[("material_marriage_certificate", PDF)],
    )
    assert done.status_code == 303, done.text[:300]
    after = _burden(rt, case_id)
    assert after.fields_typed == before.fields_typed + 1
    assert after.materials_uploaded == before.materials_uploaded + 1
    assert after.corrections == 1 and after.fields_prefilled == before.fields_prefilled


def test_a_case_accepted_at_the_front_desk_counts_a_trip(browser, rt):
    desk = browser("center01")
    desk.get("/frontdesk")
    opened = desk.post(
        "/frontdesk",
        data={"id_number": WALK_IN, "matter": "newborn", "consent": "1", "present": "1"},
    )
    accepted = desk.post(
        opened.headers["location"],
        data={**NEWBORN_ANSWERS, "household_parent": "father"},
        files=[("material_marriage_certificate", SCAN)],
    )
    assert accepted.status_code == 303, accepted.text[:500]
    with Session(rt.db) as session:
        case = session.exec(select(Case).where(Case.channel == "window")).one()
        row = session.get(CaseBurden, case.id)
    assert row.trips == 1  # the visit to the window; the results come by post
    assert row.materials_uploaded == 1  # the scanned marriage certificate


def test_collecting_the_results_at_a_window_is_a_trip(browser, rt):
    answers = {**NEWBORN_ANSWERS, "delivery_method": "window"}
    _, case_id = submit_newborn(browser, applicant=FATHER, answers=answers)
    assert _burden(rt, case_id).trips == 1


def _add_case(session: Session, user_id: int, days_ago: int, **figures) -> Case:
    created = clock.utcnow() - timedelta(days=days_ago)
    case = Case(
        matter="newborn",
        applicant_user_id=user_id,
        applicant_id_number=MOTHER,
        applicant_name="王芳",
        created_at=created,
        status="completed" if days_ago >= 10 else "processing",
        completed_at=created + timedelta(days=9) if days_ago >= 10 else None,
    )
    session.add(case)
    session.flush()
    session.add(CaseBurden(case_id=case.id, **figures))
    return case


def test_medians_quartiles_working_days_and_the_offer_share_per_matter(rt, user_of):
    mother = user_of(MOTHER).id
    typed = [1, 2, 3, 4, 10]
    with Session(rt.db) as session:
        cases = [
            _add_case(session, mother, days_ago=10 + i, fields_typed=n, materials_uploaded=i % 2)
            for i, n in enumerate(typed)
        ]
        _add_case(session, mother, days_ago=2, fields_typed=7, trips=1)  # still open
        _add_case(session, mother, days_ago=400, fields_typed=99)  # older than twelve months
        record_offer_start(session, cases[0].id)
        session.commit()
        expected_days = sorted(
            working_days_between(local_date(c.created_at), local_date(c.completed_at))
            for c in cases
        )
        figures = measured_burden(session)["newborn"]
    assert figures.cases == 6 and figures.from_offer == 1 and figures.offer_share == 1 / 6
    assert figures.fields_typed == distribution([*typed, 7])
    assert (figures.fields_typed.median, figures.fields_typed.maximum) == (3.5, 10)
    assert figures.trips.median == 0 and figures.trips.maximum == 1
    assert figures.working_days.count == 5  # completed cases only
    assert figures.working_days.median == expected_days[2] > 0
    assert distribution([]).median is None and distribution([4]).p25 == 4


def test_the_dashboard_shows_the_measured_burden_on_its_page_api_and_csv(browser, rt):
    submit_newborn(browser)
    with Session(rt.db) as session:
        record_offer_start(session, session.exec(select(Case.id)).one())
        session.commit()
    admin = browser("admin")
    page = admin.get("/admin/dashboard").text
    assert 'id="measured-burden"' in page and "实测负担" in page
    assert 'data-matter="newborn" data-measured="1"' in page
    row = re.search(r'data-matter="newborn" data-measured="1">.*?</tr>', page, re.S).group(0)
    assert "100.0%" in re.search(r'data-figure="offer_share">[^<]*', row).group(0)
    english = admin.get("/admin/dashboard?lang=en").text
    assert "Measured burden" in english

    figures = admin.client.get("/api/v1/admin/dashboard").json()
    newborn = next(m for m in figures["matters"] if m["matter"] == "newborn")
    measured = newborn["measured"]
    assert measured["cases"] == 1 and measured["offer_share"] == 1.0
    assert measured["fields_typed"]["median"] > 0 and measured["working_days"]["count"] == 0
    assert newborn["burden"]["facts_to_type"] >= 0  # expected, beside measured

    exported = admin.get("/admin/dashboard.csv?table=matters").content.decode("utf-8-sig")
    row = next(r for r in csv.DictReader(io.StringIO(exported)) if r["事项代码"] == "newborn")
    assert row["实测办件数"] == "1" and row["主动服务发起占比（%）"] == "100.0"
    assert float(row["实测填写数据项（中位数）"]) == measured["fields_typed"]["median"]


def test_a_submission_adds_one_insert_and_a_decision_nothing(browser, rt):
    """The write path's cost: the burden row is one INSERT flushed with the submission's own
    rows (no read), and a department's decision does not touch it."""
    sent: list[str] = []

    def spy(_conn, _cursor, statement, _params, _context, _many):
        if "case_burden" in statement:
            sent.append(statement.split()[0])

    event.listen(rt.db, "before_cursor_execute", spy)
    try:
        _, case_id = submit_newborn(browser)
        submitted = list(sent)
        with Session(rt.db) as session:
            item = session.exec(
                select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.department == "health")
            ).one()
        health = browser("health01")
        health.get(f"/clerk/items/{item.id}")
        health.post(f"/clerk/items/{item.id}/decision", data={"decision": "approved"})
    finally:
        event.remove(rt.db, "before_cursor_execute", spy)
    assert submitted == ["INSERT"]
    assert sent == ["INSERT"]  # the decision and the pages sent nothing about it


def test_working_days_count_from_submission_to_completion(browser, rt):
    _, case_id = submit_newborn(browser)
    clock.travel_to(START + timedelta(days=7))  # a Monday a week later: five working days
    for department in NEWBORN_DEPARTMENTS:
        clerk = browser(f"{department}01")
        for task in clerk.client.get("/api/v1/tasks").json():
            clerk.get(f"/clerk/items/{task['id']}")
            clerk.post(f"/clerk/items/{task['id']}/decision", data={"decision": "approved"})
    assert _case(rt, case_id).status == "completed"
    with Session(rt.db) as session:
        figures = measured_burden(session)["newborn"]
    assert figures.working_days.count == 1 and figures.working_days.median == 5
