"""好差评: the applicant rates a completed case once; a bad review is followed up by the
departments concerned within 15 working days, with a callback, and the citizen is told."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from sqlmodel import Session, col, select

import services.evaluations.models  # noqa: F401 - tables exist before `rt` creates the schema
import services.notifications.models  # noqa: F401
from services.accounts.models import User
from services.calendar import add_working_days, local_date
from services.cases.models import Case, CaseEvent, CaseItem
from services.evaluations import service as evaluations
from services.evaluations.models import Evaluation, FollowUp
from services.notifications.models import Notification
from services.notifications.senders import default_sender
from tests.web.conftest import FATHER, MOTHER, NEWBORN_ANSWERS, NEWBORN_DEPARTMENTS


def _submit(browser, applicant=MOTHER):
    citizen = browser(applicant)
    citizen.consent("newborn")
    citizen.get("/matters/newborn/apply")
    response = citizen.post("/matters/newborn/apply", data=NEWBORN_ANSWERS)
    assert response.status_code == 303, response.text[:500]
    return citizen, int(response.headers["location"].rsplit("/", 1)[1])


def _decide_all(browser, reject=()):
    """Every department decides its tasks; returns the clerks, signed in."""
    clerks = {}
    for department in NEWBORN_DEPARTMENTS:
        clerk = clerks[department] = browser(f"{department}01")
        for task in clerk.client.get("/api/v1/tasks").json():
            clerk.get(f"/clerk/items/{task['id']}")
            decision = (
                {"decision": "rejected", "comment": "材料与户籍信息不一致"}
                if department in reject
                else {"decision": "approved"}
            )
            response = clerk.post(f"/clerk/items/{task['id']}/decision", data=decision)
            assert response.status_code == 303
    return clerks


def _completed_case(browser, reject=()):
    citizen, case_id = _submit(browser)
    clerks = _decide_all(browser, reject)
    assert 'data-status="completed"' in citizen.get(f"/cases/{case_id}").text
    return citizen, case_id, clerks


def _evaluate(citizen, case_id, **form):
    citizen.get(f"/cases/{case_id}/evaluation")
    return citizen.post(f"/cases/{case_id}/evaluation", data=form)


def test_citizen_rates_a_completed_case_once(browser, rt):
    citizen, case_id = _submit(browser)
    early = _evaluate(citizen, case_id, level="5")
    assert early.status_code == 409 and "办结后" in early.text
    _decide_all(browser)

    page = citizen.get(f"/cases/{case_id}/evaluation").text
    assert "<legend>" in page and 'id="level-1"' in page and 'for="reason-done_once"' in page
    refused = _evaluate(citizen, case_id, level="1", comment="")
    assert refused.status_code == 422 and "请至少选择一项不满意的原因" in refused.text
    assert 'id="reasons-error"' in refused.text and 'value="1" required checked' in refused.text
    mismatch = _evaluate(citizen, case_id, level="5", reasons=["slow"])
    assert mismatch.status_code == 422 and "所选原因与满意程度不符" in mismatch.text
    assert _evaluate(citizen, case_id, level="9").status_code == 422
    other = _evaluate(citizen, case_id, level="2", reasons=["other"])
    assert other.status_code == 422 and "选择“其他”时请说明具体情况" in other.text

    done = _evaluate(citizen, case_id, level="5", reasons=["done_once", "fewer_materials"])
    assert done.status_code == 303 and done.headers["location"].endswith("#evaluation")
    again = _evaluate(citizen, case_id, level="4")
    assert again.status_code == 409 and "只能评价一次" in again.text
    shown = citizen.get(f"/cases/{case_id}/evaluation").text
    assert 'id="evaluation-done" data-level="5"' in shown and "材料精简" in shown
    assert 'name="level"' not in shown
    with Session(rt.db) as session:
        evaluation = session.exec(select(Evaluation)).one()
        assert (evaluation.level, evaluation.reasons) == (5, ["done_once", "fewer_materials"])
        assert session.exec(select(FollowUp)).all() == []  # a good review opens nothing
        event = session.exec(select(CaseEvent).where(CaseEvent.kind == "evaluated")).one()
        assert event.message == "申请人评价：非常满意（一次办好、材料精简）"


def test_only_the_applicant_may_rate_the_case(browser):
    citizen, case_id, clerks = _completed_case(browser)
    assert _evaluate(browser(FATHER), case_id, level="5").status_code == 404
    assert _evaluate(clerks["police"], case_id, level="5").status_code == 403
    citizen.csrf = ""  # a form posted from another site
    assert citizen.post(f"/cases/{case_id}/evaluation", data={"level": "5"}).status_code == 403


def test_a_bad_review_is_followed_up_by_the_rejecting_department_and_the_citizen_told(browser, rt):
    citizen, case_id, clerks = _completed_case(browser, reject=("police",))
    response = _evaluate(
        citizen, case_id, level="1", reasons=["slow", "poor_attitude"], comment="窗口推诿"
    )
    assert response.status_code == 303
    with Session(rt.db) as session:
        follow_up = session.exec(select(FollowUp)).one()  # only the department that rejected
        evaluation = session.get(Evaluation, follow_up.evaluation_id)
        assert follow_up.department == "police" and follow_up.status == "open"
        assert follow_up.due_date == add_working_days(local_date(evaluation.created_at), 15)
        alerts = session.exec(select(Notification).where(Notification.kind == "follow_up_opened"))
        assert {n.user_id for n in alerts} == {
            u.id for u in evaluations.supervisors_of(session, department="police")
        }
        kinds = session.exec(select(CaseEvent.kind).where(CaseEvent.case_id == case_id)).all()
        assert "follow_up_opened" in kinds

    lead = browser("police-lead")
    assert "收到差评" in lead.get("/inbox").text
    listing = lead.get("/clerk/follow-ups").text
    assert f'data-follow-up="{follow_up.id}"' in listing and "服务态度差" in listing
    assert "窗口推诿" in listing and "13812345678" in listing  # to call the applicant back
    other_lead = browser("health-lead")
    assert f'data-follow-up="{follow_up.id}"' not in other_lead.get("/clerk/follow-ups").text
    url = f"/clerk/follow-ups/{follow_up.id}/resolve"
    resolved = {"resolution": "已约谈窗口人员并整改", "callback_done": "1"}
    assert other_lead.post(url, data=resolved).status_code == 404
    assert clerks["police"].get("/clerk/follow-ups").status_code == 403  # not a supervisor

    lead.get("/clerk/follow-ups")
    missing = lead.post(url, data={"callback_done": "1"})
    assert missing.status_code == 422 and "请填写核实整改情况" in missing.text
    no_call = lead.post(url, data={"resolution": "已约谈窗口人员并整改"})
    assert no_call.status_code == 422 and "请先回访申请人" in no_call.text
    assert "已约谈窗口人员并整改</textarea>" in no_call.text  # what was typed is kept
    assert lead.post(url, data=resolved).status_code == 303
    assert lead.post(url, data=resolved).status_code == 409
    assert "已约谈窗口人员并整改" in lead.get("/clerk/follow-ups?status=resolved").text

    texts = [m.text for m in default_sender().sent if m.to == NEWBORN_ANSWERS["applicant_phone"]]
    assert texts and "您对办件" in texts[-1] and "已约谈窗口人员并整改" in texts[-1]
    inbox = citizen.get("/inbox").text
    assert "您的评价已处理" in inbox
    message_id = int(re.search(r'data-id="(\d+)" data-kind="evaluation_handled"', inbox).group(1))
    assert browser(FATHER).post(f"/inbox/{message_id}/read").status_code == 404
    assert citizen.post(f"/inbox/{message_id}/read").status_code == 303
    handled = citizen.client.get("/api/v1/inbox").json()["items"][0]
    assert handled["title_en"] == "Your feedback was handled" and handled["read_at"] is not None
    citizen.get("/inbox")
    assert citizen.post("/inbox/read-all").status_code == 303
    assert citizen.client.get("/api/v1/inbox").json()["unread"] == 0
    with Session(rt.db) as session:
        done = session.get(FollowUp, follow_up.id)
        assert done.status == "resolved" and done.callback_done and done.resolved_by is not None


def test_a_bad_review_without_rejections_goes_to_every_department_of_the_case(browser, rt):
    _citizen, case_id, _clerks = _completed_case(browser)
    with Session(rt.db) as session:
        case = session.get(Case, case_id)
        applicant = session.get(User, case.applicant_user_id)
        # Rated the Monday before the National Day holiday: 15 working days skip it.
        before_holiday = datetime(2026, 9, 28, 2, 0, tzinfo=UTC)
        evaluations.evaluate(
            session,
            user=applicant,
            case=case,
            level=2,
            reasons=["complex_process"],
            now=before_holiday,
        )
        departments = session.exec(
            select(CaseItem.department).where(CaseItem.case_id == case_id).distinct()
        ).all()
        follow_ups = session.exec(select(FollowUp).order_by(col(FollowUp.department))).all()
    assert {f.department for f in follow_ups} == set(departments) >= set(NEWBORN_DEPARTMENTS)
    assert {f.due_date for f in follow_ups} == {date(2026, 10, 23)}
