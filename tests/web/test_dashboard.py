"""The administrators' dashboard: figures aggregated from the case database, charts as inline SVG,
a CSV export that Excel opens in Chinese, and nobody else may look."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from sqlmodel import Session, select

from engine import clock
from services.cases.models import Case, CaseItem
from services.dashboard import department_figures, matter_figures
from tests.conftest import START
from tests.web.conftest import FATHER, NEWBORN_ANSWERS
from tests.web.test_newborn import submit_newborn
from tests.web.test_results import _complete_case
from web.charts import bar_chart, stacked_bar_chart

FATHER_ANSWERS = {**NEWBORN_ANSWERS, "delivery_method": "online"}


def _send_back_for_correction(browser, rt, case_id: int) -> None:
    with Session(rt.db) as session:
        item = session.exec(
            select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.department == "police")
        ).one()
    police = browser("police01")
    police.get(f"/clerk/items/{item.id}")
    sent = police.post(
        f"/clerk/items/{item.id}/decision",
        data={"decision": "correction", "comment": "请确认落户方", "reopen": ["household_parent"]},
    )
    assert sent.status_code == 303, sent.text[:300]


def test_figures_are_counted_from_cases_and_items_in_the_database(browser, rt):
    _complete_case(browser)
    _, open_case = submit_newborn(browser, applicant=FATHER, answers=FATHER_ANSWERS)
    _send_back_for_correction(browser, rt, open_case)

    with Session(rt.db) as session:
        cases = session.exec(select(Case)).all()
        items = session.exec(select(CaseItem).where(CaseItem.status != "not_applicable")).all()
        newborn = {m.matter: m for m in matter_figures(session, rt)}["newborn"]
        police = {d.department: d for d in department_figures(session, rt)}["police"]
    decided = [i for i in items if i.status in ("approved", "rejected")]
    assert newborn.by_status == {c.status: 1 for c in cases} and newborn.cases == 2
    assert newborn.completed == 1 and newborn.avg_days is not None and newborn.avg_days >= 0
    assert (newborn.auto, newborn.decided) == (sum(i.auto for i in decided), len(decided))
    assert newborn.instant_rate == sum(i.auto for i in decided) / len(decided)
    assert newborn.corrected == 1 and newborn.correction_rate == 1 / len(items)
    assert newborn.burden.trips_separately > newborn.burden.trips_combined
    assert (police.open, police.overdue, police.corrected) == (1, 0, 1)
    assert police.decided == 1 and police.avg_limit is not None and police.avg_limit > 0

    admin = browser("admin")
    page = admin.get("/admin/dashboard").text
    assert 'data-matter="newborn" data-cases="2" data-completed="1"' in page
    assert 'data-department="police" data-open="1" data-overdue="0" data-decided="1"' in page
    assert page.count("<svg") >= 6 and 'role="img"' in page and "<desc id=" in page

    clock.travel_to(START + timedelta(days=90))  # every open item is now past its due date
    later = browser("admin").get("/admin/dashboard").text  # signed in afresh: sessions expire
    assert 'data-department="police" data-open="1" data-overdue="1"' in later


def test_csv_export_has_chinese_headers_and_opens_in_excel(browser):
    submit_newborn(browser)
    admin = browser("admin")
    response = admin.get("/admin/dashboard.csv?table=matters")
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.content.startswith("\ufeff".encode())  # BOM: Excel reads UTF-8
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    newborn = next(r for r in rows if r["事项代码"] == "newborn")
    assert newborn["办件总数"] == "1" and newborn["办理中"] == "1" and newborn["一件事"]
    departments = admin.get("/admin/dashboard.csv?table=departments").content.decode("utf-8-sig")
    header = next(csv.reader(io.StringIO(departments)))
    assert header[:5] == ["部门代码", "部门", "事项总数", "在办事项", "逾期在办"]
    assert admin.get("/admin/dashboard.csv?table=cases").status_code == 422


def test_only_administrators_see_the_dashboard(browser):
    assert 'href="/admin/dashboard"' in browser("admin").get("/admin").text
    for username in (FATHER, "police01"):
        someone = browser(username)
        assert someone.get("/admin/dashboard").status_code == 403
        assert someone.get("/admin/dashboard.csv").status_code == 403


def test_bar_chart_is_an_accessible_svg_with_the_numbers_in_words():
    rows = [{"name": "公安<局>", "rate": 0.5}, {"name": "医保", "rate": None}]
    svg = str(bar_chart(rows, "rate", "name", 1, title="秒批率", percent=True))
    assert svg.startswith("<svg") and 'role="img"' in svg and "<title id=" in svg
    assert "公安&lt;局&gt;: 50.0%; 医保: —" in svg and "<局>" not in svg
    stacked = str(
        stacked_bar_chart(
            [{"name": "新生儿", "parts": {"processing": 2, "completed": 3}}],
            "parts",
            "name",
            [("processing", "办理中"), ("completed", "已办结")],
            title="办件状态",
        )
    )
    assert "新生儿: 办理中 2, 已办结 3" in stacked and stacked.count("<rect") == 4
