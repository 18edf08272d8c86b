"""Administrators configure departments and the holiday calendar through the pages: every
change is checked at the field (422, nothing written), applied at once and kept with who, when,
old and new."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

from demo.seed import DEMO_PASSWORD
from forms.catalog import default_catalog
from services import background, calendar
from services.accounts.models import User
from services.cases.models import CaseItem
from services.configuration.calendar import CalendarChange, CalendarOverride
from services.configuration.departments import (
    DepartmentChange,
    DepartmentSetting,
    apply_settings,
)
from tests.web.conftest import MOTHER, NEWBORN_ANSWERS

UNCOVERED = calendar.library_years()[1] + 1  # the first year chinese-calendar does not ship


@pytest.fixture(autouse=True)
def _catalog_as_shipped() -> Iterator[None]:
    """Settings live in the process (the catalog is shared): leave none behind."""
    yield
    calendar.set_overrides({})
    apply_settings(default_catalog(), [])


def _count(rt, model) -> int:
    with Session(rt.db) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def _submit_newborn(app) -> int:
    with TestClient(app) as client:
        body = {"username": MOTHER, "password": DEMO_PASSWORD}
        token = client.post("/api/v1/login", json=body).json()["token"]
        case = client.post(
            "/api/v1/cases",
            json={"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert case.status_code == 201, case.text
        return case.json()["id"]


def _row(page: str, code: str) -> str:
    found = re.search(rf'<tr data-department="{code}">(.*?)</tr>', page, re.S)
    assert found, code
    return found.group(1)


def _cell(row: str, name: str) -> int:
    return int(re.search(rf'class="{name}">(\d+)<', row).group(1))


# ---------------------------------------------------------------- access


@pytest.mark.parametrize(
    "url",
    ["/admin/config/departments", "/admin/config/departments/police", "/admin/config/calendar"],
)
def test_only_administrators_open_the_configuration_pages(browser, app, url):
    assert browser("police01").get(url).status_code == 403
    assert browser(MOTHER).get(url).status_code == 403
    anonymous = TestClient(app, follow_redirects=False)
    assert anonymous.get(url).status_code == 303
    assert browser("admin").get(url).status_code == 200


def test_changes_need_an_administrator_and_the_pages_csrf_token(browser, rt):
    clerk = browser("police-lead")
    clerk.get("/clerk")
    refused = clerk.post("/admin/config/departments/police", {"name": "改名"})
    assert refused.status_code == 403
    admin = browser("admin")
    admin.get("/admin/config/calendar")
    forged = admin.client.post(
        "/admin/config/calendar/days", data={"day": "2026-12-01", "kind": "rest"}
    )
    assert forged.status_code == 403
    forged = admin.client.post("/admin/config/departments/police", data={"name": "改名"})
    assert forged.status_code == 403
    assert _count(rt, CalendarOverride) == 0 and _count(rt, DepartmentSetting) == 0


# ---------------------------------------------------------------- departments


def test_the_department_list_counts_staff_items_and_open_tasks(browser, app, rt):
    _submit_newborn(app)
    page = browser("admin").get("/admin/config/departments").text
    with Session(rt.db) as session:
        staff = session.exec(
            select(User.supervisor, func.count())
            .where(User.role == "clerk", User.department == "police", col(User.active).is_(True))
            .group_by(User.supervisor)
        ).all()
        open_tasks = session.exec(
            select(func.count()).where(
                CaseItem.department == "police", CaseItem.status == "processing"
            )
        ).one()
    counts = dict(staff)
    police = _row(page, "police")
    assert counts.get(False) and counts.get(True) and open_tasks == 1
    assert _cell(police, "clerks") == counts[False]
    assert _cell(police, "supervisors") == counts[True]
    items = [i for i in rt.catalog.items.values() if i.department == "police"]
    assert _cell(police, "items") == len(items)
    assert _cell(police, "open-tasks") == 1
    assert _cell(_row(page, "education"), "open-tasks") == 0
    detail = browser("admin").get("/admin/config/departments/police").text
    assert all(item.code in detail for item in items)
    assert "BPMN" in detail  # the code is fixed by the catalog, and the page says why


def test_a_renamed_department_shows_everywhere_and_the_change_is_kept(browser, rt):
    admin = browser("admin")
    admin.get("/admin/config/departments/police")
    saved = admin.post(
        "/admin/config/departments/police",
        {
            "name": "公安分局",
            "name_en": "Police Sub-bureau",
            "address": "上海市徐汇区漕溪北路 1 号",
            "phone": "021-12345678",
            "opening_hours": "周一至周五 9:00–17:00",
            "supervisor_email": "police-lead@example.gov.cn",
        },
    )
    assert saved.status_code == 303
    police = rt.catalog.departments["police"]
    assert (police.name, police.phone) == ("公安分局", "021-12345678")
    assert police.supervisor_email == "police-lead@example.gov.cn"
    assert "公安分局" in browser("police01").get("/clerk").text  # the clerk's header
    page = admin.get(saved.headers["location"]).text
    assert 'id="saved"' in page
    history = page[page.index('id="history"') :]
    assert "公安局" in history and "公安分局" in history and "系统管理员" in history
    assert _count(rt, DepartmentChange) == 6
    # Empty names restore the catalog's; the code never changes.
    admin.post(
        "/admin/config/departments/police",
        {"name": "", "name_en": "", "phone": "021-12345678"},
    )
    police = rt.catalog.departments["police"]
    assert (police.code, police.name, police.name_en) == (
        "police",
        "公安局",
        "Public Security Bureau",
    )
    with Session(rt.db) as session:
        setting = session.get(DepartmentSetting, "police")
        assert setting.name is None and setting.address == "" and setting.phone == "021-12345678"


def test_bad_department_input_is_shown_at_its_field_and_nothing_is_saved(browser, rt):
    admin = browser("admin")
    admin.get("/admin/config/departments/police")
    response = admin.post(
        "/admin/config/departments/police",
        {
            "name": "公安分局",
            "phone": "call us",
            "supervisor_email": "not-an-address",
            "address": "路" * 201,
        },
    )
    assert response.status_code == 422
    page = response.text
    for field in ("phone", "supervisor_email", "address"):
        assert f'id="f_{field}-error"' in page
        assert re.search(rf'id="f_{field}"[^>]*aria-invalid="true"', page)
    assert 'value="call us"' in page and 'value="公安分局"' in page  # what was typed stays
    assert _count(rt, DepartmentSetting) == 0 and _count(rt, DepartmentChange) == 0
    assert rt.catalog.departments["police"].name == "公安局"
    english = admin.client.post(
        "/admin/config/departments/police?lang=en",
        data={"phone": "x", "csrf_token": admin.csrf},
    )
    assert english.status_code == 422 and "a phone number has digits" in english.text


def test_an_unknown_department_is_not_found(browser):
    admin = browser("admin")
    assert admin.get("/admin/config/departments/nowhere").status_code == 404
    assert admin.post("/admin/config/departments/nowhere", {"name": "x"}).status_code == 404


def test_another_process_picks_up_a_department_change_at_its_refresh(browser, rt, user_of):
    with Session(rt.db) as session:  # the rows another server process's change writes
        session.add(DepartmentSetting(code="cdc", name="疾控中心", phone="12320"))
        session.add(
            DepartmentChange(
                department="cdc", user_id=user_of("admin").id, what="name", old="x", new="疾控中心"
            )
        )
        session.commit()
    assert rt.catalog.departments["cdc"].name == "疾病预防控制中心"
    background.run_refresh_steps()  # what the refresh thread does every REFRESH_INTERVAL
    assert (rt.catalog.departments["cdc"].name, rt.catalog.departments["cdc"].phone) == (
        "疾控中心",
        "12320",
    )
    assert "疾控中心" in browser("cdc01").get("/clerk").text


# ---------------------------------------------------------------- holiday calendar


def test_the_calendar_shows_the_years_holidays_and_whether_the_library_covers_it(browser):
    admin = browser("admin")
    page = admin.get("/admin/config/calendar?year=2026").text
    assert 'data-covered="yes"' in page
    assert re.search(r'data-day="2026-02-16" data-working="no"', page)  # 春节
    assert re.search(r'data-day="2026-02-14" data-working="yes"', page)  # 调休上班
    assert "春节" in page
    uncovered = admin.get(f"/admin/config/calendar?year={UNCOVERED}&lang=en").text
    assert 'data-covered="no"' in uncovered and "does not cover" in uncovered
    assert admin.get("/admin/config/calendar").status_code == 200  # this year
    assert admin.get("/admin/config/calendar?year=abc").status_code == 422
    assert admin.get("/admin/config/calendar?year=1850").status_code == 422


def test_a_day_entered_on_the_page_moves_a_new_cases_due_date(browser, app, rt):
    admin = browser("admin")
    admin.get("/admin/config/calendar?year=2026")
    saved = admin.post(
        "/admin/config/calendar/days",
        {"year": "2026", "day": "2026-11-25", "kind": "rest", "name": "临时休假", "note": "试行"},
    )
    assert saved.status_code == 303
    page = admin.get(saved.headers["location"]).text
    assert re.search(r'data-day="2026-11-25" data-working="no" data-override="yes"', page)
    history = page[page.index('id="history"') :]
    assert "休 临时休假（试行）" in history and "系统管理员" in history
    case_id = _submit_newborn(app)
    with Session(rt.db) as session:
        police = session.exec(
            select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.department == "police")
        ).one()
    # Five working days from Monday 2026-11-23: Monday 11-30 without the holiday, now 12-01.
    assert police.due_date == date(2026, 12, 1)


def test_a_day_can_be_changed_and_deleted_on_the_page(browser, rt):
    admin = browser("admin")
    admin.get("/admin/config/calendar?year=2026")
    admin.post("/admin/config/calendar/days", {"day": "2026-11-28", "kind": "work"})
    edit = admin.get("/admin/config/calendar?day=2026-11-28").text
    assert re.search(r'name="kind" value="work" checked', edit)
    assert calendar.add_working_days(date(2026, 11, 27), 1) == date(2026, 11, 28)
    deleted = admin.post("/admin/config/calendar/days/2026-11-28/delete")
    assert deleted.status_code == 303
    assert _count(rt, CalendarOverride) == 0 and _count(rt, CalendarChange) == 2
    assert calendar.add_working_days(date(2026, 11, 27), 1) == date(2026, 11, 30)
    assert admin.post("/admin/config/calendar/days/2026-11-28/delete").status_code == 404


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"day": "2026-02-30", "kind": "rest"}, "day"),
        ({"day": "", "kind": "rest"}, "day"),
        ({"day": "2026-12-01", "kind": "maybe"}, "kind"),
        ({"day": "2026-12-01", "kind": "rest", "name": "名" * 41}, "name"),
    ],
)
def test_bad_day_input_is_shown_at_its_field_and_nothing_is_written(browser, rt, form, field):
    admin = browser("admin")
    admin.get("/admin/config/calendar?year=2026")
    response = admin.post("/admin/config/calendar/days", {"year": "2026", **form})
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text
    assert _count(rt, CalendarOverride) == 0 and _count(rt, CalendarChange) == 0


def test_a_pasted_schedule_names_its_bad_lines_and_writes_nothing(browser, rt):
    admin = browser("admin")
    admin.get(f"/admin/config/calendar?year={UNCOVERED}")
    text = f"{UNCOVERED}-01-01 休 元旦\n{UNCOVERED}-02-31 休 春节\n{UNCOVERED}-02-07 上 调休"
    response = admin.post(
        "/admin/config/calendar/import", {"year": str(UNCOVERED), "schedule": text}
    )
    assert response.status_code == 422
    page = response.text
    assert 'data-line="2"' in page and 'data-line="3"' in page and 'data-line="1"' not in page
    assert "第 2 行" in page and "第 3 行" in page
    assert f"{UNCOVERED}-02-31 休 春节" in page  # the text stays to be corrected
    assert _count(rt, CalendarOverride) == 0 and _count(rt, CalendarChange) == 0


def test_a_pasted_schedule_enters_a_year_the_library_does_not_cover(browser, rt):
    admin = browser("admin")
    admin.get(f"/admin/config/calendar?year={UNCOVERED}")
    text = f"{UNCOVERED}-01-01 休 元旦\n{UNCOVERED}-02-06~{UNCOVERED}-02-12 休 春节\n"
    text += f"{UNCOVERED}-02-20 班 调休"
    response = admin.post(
        "/admin/config/calendar/import",
        {"year": str(UNCOVERED), "schedule": text, "note": "国务院办公厅通知"},
    )
    assert response.status_code == 303
    page = admin.get(response.headers["location"]).text
    assert 'id="imported"' in page
    assert re.search(rf'data-day="{UNCOVERED}-02-20" data-working="yes" data-override="yes"', page)
    assert _count(rt, CalendarOverride) == 9
    assert not calendar.is_working_day(date(UNCOVERED, 2, 9))
    assert calendar.is_working_day(date(UNCOVERED, 2, 20))


def test_a_long_schedule_in_chinese_is_taken_though_its_form_is_over_the_default_limit(browser, rt):
    admin = browser("admin")
    admin.get(f"/admin/config/calendar?year={UNCOVERED}")
    name = "春节假期" * 10  # the longest name a day may have: 40 characters
    first = date(UNCOVERED, 1, 1)
    days = [date.fromordinal(first.toordinal() + n) for n in range(300)]
    text = "\n".join(f"{day.isoformat()} 休 {name}" for day in days)
    response = admin.post(
        "/admin/config/calendar/import", {"year": str(UNCOVERED), "schedule": text}
    )
    assert len(text.encode()) * 3 > 64 * 1024  # percent-encoded, over the default body limit
    assert response.status_code == 303, response.text[:300]
    assert _count(rt, CalendarOverride) == 300


def test_a_nul_character_in_a_days_name_or_a_schedule_is_refused_not_a_crash(browser, rt):
    admin = browser("admin")
    admin.get(f"/admin/config/calendar?year={UNCOVERED}")
    day = {"year": str(UNCOVERED), "day": f"{UNCOVERED}-05-01", "kind": "rest"}
    for form in ({**day, "name": "劳动节\x00"}, {**day, "note": "\x00"}):
        assert admin.post("/admin/config/calendar/days", form).status_code == 422
    schedule = {"year": str(UNCOVERED), "schedule": f"{UNCOVERED}-05-01 休 劳动\x00节"}
    assert admin.post("/admin/config/calendar/import", schedule).status_code == 422
    assert _count(rt, CalendarOverride) == 0
