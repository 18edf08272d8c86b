"""Retention: a case closed longer ago than the period loses every trace of its applicant's
personal data, in every table and in the file store, while the dashboard's figures stay the
same; open and recently closed cases are untouched; purged cases answer plainly."""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, SQLModel, select

from engine import clock
from services.cases.models import Case, CaseItem, Upload
from services.certificates.models import Certificate
from services.config import get_settings
from services.dashboard import department_figures, matter_figures
from services.errors import NotFound
from services.maintenance.jobs import maintenance_jobs, register_jobs, run_due_jobs
from services.maintenance.models import PeriodicJob
from services.maintenance.retention import purge
from tests.web import conftest as web
from tests.web.conftest import FATHER, MOTHER, NEWBORN_ANSWERS, NEWBORN_DEPARTMENTS
from web.cli import main

app, browser = web.app, web.browser  # the app and its signed-in browsers, as in tests/web

DAYS = 30
MOTHER_NAME = "王芳"
SCAN = ("王芳结婚证.pdf", b"%PDF-1.4 marriage certificate of the applicant", "application/pdf")
# A's answers are hers alone: the other cases answer otherwise, so a match can only be A's.
A_ANSWERS = {
    **NEWBORN_ANSWERS,
    "applicant_phone": "13912340001",
    "delivery_address": "上海市静安区南京西路1号甲",
}
OTHERS = {
    **NEWBORN_ANSWERS,
    "applicant_phone": "13700000002",
    "delivery_method": "online",
    "bank_card_number": "6222020200112233446",
}
# Tables of the citizen's account, which lives on after its cases (the sign-in name is the ID
# number): the account is not the case's data, and is removed with the account, not here.
ACCOUNT_TABLES = {"user_account", "login_attempt"}


def _decide_all(browser_) -> None:
    for department in NEWBORN_DEPARTMENTS:
        clerk = browser_(f"{department}01")
        for task in clerk.client.get("/api/v1/tasks").json():
            clerk.get(f"/clerk/items/{task['id']}")
            done = clerk.post(f"/clerk/items/{task['id']}/decision", data={"decision": "approved"})
            assert done.status_code == 303, done.text[:300]


def _apply(browser_, applicant: str, answers: dict, files=None):
    citizen = browser_(applicant)
    citizen.consent("newborn")
    citizen.get("/matters/newborn/apply")
    response = citizen.post("/matters/newborn/apply", data=answers, files=files)
    assert response.status_code == 303, response.text[:500]
    return citizen, int(response.headers["location"].rsplit("/", 1)[1])


def _found(db, needles: list[str]) -> set[tuple[str, str]]:
    """(table, column) of every value in the database (account tables aside) that holds one of
    `needles`, as text, as JSON escapes or as UTF-8 bytes."""
    forms = set(needles) | {json.dumps(n)[1:-1] for n in needles}
    hits = set()
    with Session(db) as session:
        for table in SQLModel.metadata.sorted_tables:
            if table.name in ACCOUNT_TABLES:
                continue
            for row in session.execute(table.select()).mappings():
                for column, value in row.items():
                    if value is None or isinstance(value, (int, float)):
                        continue
                    if isinstance(value, bytes):
                        shown = value.decode("utf-8", "replace")
                    elif isinstance(value, (dict, list)):
                        shown = json.dumps(value, ensure_ascii=False) + json.dumps(value)
                    else:
                        shown = str(value)
                    if any(form in shown for form in forms):
                        hits.add((table.name, column))
    return hits


def _figures(rt):
    with Session(rt.db) as session:
        return matter_figures(session, rt), department_figures(session, rt)


@pytest.fixture
def three_cases(rt, app, browser, newborn_parents):
    """A: the mother's case, with an upload, certificates and an evaluation, completed at the
    start; C: the father's, completed 20 days later; B: another mother's, still open. The clock
    then stands 35 days after A closed (15 after C)."""
    citizen, a = _apply(browser, MOTHER, A_ANSWERS, files=[("material_marriage_certificate", SCAN)])
    _decide_all(browser)
    page = citizen.get(f"/cases/{a}").text  # issues the certificates
    result = re.search(r'href="(/cases/\d+/items/(\d+)/result)"', page)
    pdf = citizen.get(result.group(1)).content
    rated = citizen.post(
        f"/cases/{a}/evaluation",
        data={"level": "5", "reasons": ["done_once"], "comment": f"{MOTHER_NAME}很满意"},
    )
    assert rated.status_code in (200, 303), rated.text[:300]
    clock.advance(timedelta(days=20))
    _apply(browser, FATHER, OTHERS)
    _decide_all(browser)
    [other_mother] = newborn_parents(1)
    _, b = _apply(browser, other_mother, OTHERS)
    clock.advance(timedelta(days=15))
    with Session(rt.db) as session:
        c = session.exec(select(Case.id).where(Case.id != a, Case.id != b)).one()
        cases = {
            name: session.get(Case, case_id) for name, case_id in zip("abc", (a, b, c), strict=True)
        }
        uploads = session.exec(select(Upload).where(Upload.case_id == a)).all()
        certificate = session.exec(
            select(Certificate).where(Certificate.case_item_id == int(result.group(2)))
        ).one()
        for case in cases.values():
            session.expunge(case)
        for upload in uploads:
            session.expunge(upload)
        session.expunge(certificate)
    assert cases["a"].status == "completed" and cases["c"].status == "completed"
    assert cases["b"].status == "processing" and len(uploads) == 1
    return cases, uploads, certificate, pdf


def test_a_case_closed_before_the_period_loses_every_trace_of_its_applicant(rt, three_cases):
    cases, uploads, _certificate, _pdf = three_cases
    needles = [MOTHER, MOTHER_NAME, A_ANSWERS["applicant_phone"], A_ANSWERS["delivery_address"]]
    before = _found(rt.db, needles)
    # The scan finds them where they were: it can fail.
    assert {"case_file", "case_event", "data_access", "certificate", "upload", "evaluation"} <= {
        table for table, _ in before
    }
    with Session(rt.db) as session:
        assert rt.files.get(session, uploads[0].stored_name).startswith(b"%PDF")

    report = purge(rt.db, rt.files, days=DAYS)

    assert report.numbers == [cases["a"].number]
    assert report.counts["uploads"] == 1 and report.counts["certificates"] >= 1
    assert _found(rt.db, needles) == set()
    with Session(rt.db) as session:
        with pytest.raises(NotFound):
            rt.files.get(session, uploads[0].stored_name)
        assert session.exec(select(Upload).where(Upload.case_id == cases["a"].id)).all() == []
        purged = session.get(Case, cases["a"].id)
        assert purged.purged_at is not None and purged.data == {} and purged.instance_id is None
        for name in "bc":  # the open case and the recently closed one are as they were
            kept = session.get(Case, cases[name].id)
            assert kept.purged_at is None and kept.instance_id is not None
            assert kept.data == cases[name].data and kept.applicant_name
    if rt.files.kind == "directory":
        assert not (rt.files.directory / uploads[0].stored_name).exists()
    assert purge(rt.db, rt.files, days=DAYS).numbers == []  # once only


def test_the_dashboard_figures_are_the_same_before_and_after_a_purge(rt, three_cases):
    before = _figures(rt)
    assert purge(rt.db, rt.files, days=DAYS).numbers
    assert _figures(rt) == before


def test_a_dry_run_counts_what_it_would_purge_and_changes_nothing(rt, three_cases):
    cases, uploads, _certificate, _pdf = three_cases
    report = purge(rt.db, rt.files, days=DAYS, dry_run=True)
    assert report.numbers == [cases["a"].number] and report.counts["uploads"] == 1
    assert "would purge 1 cases" in report.summary()
    with Session(rt.db) as session:
        assert session.get(Case, cases["a"].id).purged_at is None
        assert rt.files.get(session, uploads[0].stored_name).startswith(b"%PDF")
    assert purge(rt.db, rt.files, days=0).numbers == []  # 0: retention is off


def test_onething_purge_runs_it_by_hand_dry_or_not(rt, three_cases, monkeypatch, capsys):
    cases = three_cases[0]
    monkeypatch.setenv("ONETHING_DATA_DIR", str(rt.settings.data_dir))
    monkeypatch.setenv("ONETHING_DATABASE_URL", rt.settings.db_url)
    monkeypatch.setenv("ONETHING_RETENTION_DAYS", str(DAYS))
    get_settings.cache_clear()
    try:
        assert main(["purge", "--dry-run"]) == 0
        dry = capsys.readouterr().out
        with Session(rt.db) as session:
            assert session.get(Case, cases["a"].id).purged_at is None
        assert main(["purge"]) == 0
        done = capsys.readouterr().out
    finally:
        get_settings.cache_clear()
    assert "would purge 1 cases" in dry and cases["a"].number in dry
    assert "purged 1 cases" in done and cases["a"].number in done and "uploads 1" in done
    assert MOTHER not in dry + done and MOTHER_NAME not in dry + done
    with Session(rt.db) as session:
        assert session.get(Case, cases["a"].id).purged_at is not None


def test_the_purge_is_a_claimed_daily_job_and_is_logged_without_personal_data(
    rt, three_cases, caplog
):
    cases = three_cases[0]
    rt.settings.retention_days = DAYS
    jobs = maintenance_jobs(rt)
    register_jobs(rt.db, jobs)
    with caplog.at_level(logging.INFO, logger="services.maintenance"):
        assert run_due_jobs(rt.db, jobs, owner="host-a:1") == ["retention-purge"]
        assert run_due_jobs(rt.db, jobs, owner="host-b:1") == []  # once a day, on one host
    assert f"purged case {cases['a'].number}" in caplog.text
    assert MOTHER not in caplog.text and MOTHER_NAME not in caplog.text
    with Session(rt.db) as session:
        row = session.get(PeriodicJob, "retention-purge")
        assert row.last_outcome == "succeeded" and cases["a"].number in row.last_summary
    assert cases["c"].number not in caplog.text


def test_a_purged_case_answers_plainly_to_its_citizen_clerk_and_verifier(
    rt,
    app,
    browser,
    three_cases,
):
    cases, _uploads, certificate, pdf = three_cases
    purge(rt.db, rt.files, days=DAYS)
    case_id = cases["a"].id
    citizen = browser(MOTHER)
    page = citizen.get(f"/cases/{case_id}")
    assert page.status_code == 404 and "已按保存期限清除" in page.text
    api = citizen.client.get(f"/api/v1/cases/{case_id}")
    assert api.status_code == 404 and "retention period" in api.text
    listed = citizen.get("/cases")  # the list shows it, without details
    assert listed.status_code == 200 and cases["a"].number in listed.text
    assert "已按保存期限清除" in listed.text
    for page in ("/my-data-access", "/inbox"):
        assert citizen.get(page).status_code == 200, page
    rating = citizen.get(f"/cases/{case_id}/evaluation")
    assert rating.status_code == 404 and "已按保存期限清除" in rating.text
    admin = browser("admin")
    for page in ("/admin/data-access", "/admin/dashboard", "/admin/incidents"):
        assert admin.get(page).status_code == 200, page
    police = browser("police01")
    with Session(rt.db) as session:
        item = session.exec(
            select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.department == "police")
        ).one()
    shown = police.get(f"/clerk/items/{item.id}")
    assert shown.status_code == 404 and "已按保存期限清除" in shown.text
    assert police.get("/clerk?status=all").status_code == 200
    assert browser("police-lead").get("/clerk/follow-ups").status_code == 200
    with TestClient(app) as anyone:
        verified = anyone.get(f"/verify/{certificate.public_id}")
        assert verified.status_code == 200 and 'data-valid="true"' in verified.text
        assert "已按保存期限清除" in verified.text and MOTHER_NAME[0] + "*" not in verified.text
        # The holder's own copy still verifies: the hash and the signature were kept.
        checked = anyone.post(
            f"/verify/{certificate.public_id}", files={"file": ("copy.pdf", pdf, "application/pdf")}
        )
        assert checked.status_code == 200 and 'data-valid="true"' in checked.text
        assert "未被篡改" in checked.text
