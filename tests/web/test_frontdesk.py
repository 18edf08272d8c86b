"""The front desk (综合窗口): a walk-in applicant's matter accepted at one window, with a
printed acceptance receipt."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from services.accounts.models import User
from services.cases.models import Case, CaseEvent
from services.registries.models import DataAccess
from tests.web.conftest import NEWBORN_ANSWERS

WALK_IN = "310104199205160353"  # 张伟: in the registry, never signed in online
SCAN = ("scan.pdf", b"%PDF-1.4 scanned at the window", "application/pdf")


def test_front_desk_accepts_a_walk_in_and_prints_the_receipt(browser, rt):
    desk = browser("center01")
    desk.get("/frontdesk")
    bad = desk.post(
        "/frontdesk", data={"id_number": "310104199205160354", "matter": "newborn", "present": "1"}
    )
    assert bad.status_code == 422 and "校验位" in bad.text
    opened = desk.post(
        "/frontdesk",
        data={"id_number": WALK_IN, "matter": "newborn", "consent": "1", "present": "1"},
    )
    assert opened.status_code == 303
    form = desk.get(opened.headers["location"])
    assert form.status_code == 200 and "张伟" in form.text
    assert 'data-fact="mother_name"' in form.text  # the same prefill as online
    action = re.search(
        r'<form method="post" enctype="multipart/form-data" action="([^"]+)"', form.text
    )
    accepted = desk.post(
        action.group(1),
        data={**NEWBORN_ANSWERS, "household_parent": "father"},
        files=[("material_marriage_certificate", SCAN)],
    )
    assert accepted.status_code == 303, accepted.text[:1000]
    page = desk.get(accepted.headers["location"])
    assert page.status_code == 200, page.text[-3000:]
    receipt = page.text
    number = re.search(r'id="receipt-number">(YJS\d+)<', receipt).group(1)
    assert "<svg" in receipt and "受理回执" in receipt
    assert "出生登记（新生儿落户）" in receipt and "个工作日" in receipt
    assert "scan.pdf" in receipt and "310104********0353" in receipt
    with Session(rt.db) as session:
        case = session.exec(select(Case).where(Case.number == number)).one()
        applicant = session.exec(select(User).where(User.username == WALK_IN)).one()
        clerk = session.exec(select(User).where(User.username == "center01")).one()
        events = session.exec(select(CaseEvent).where(CaseEvent.case_id == case.id)).all()
        reads = session.exec(select(DataAccess).where(DataAccess.case_id == case.id)).all()
    assert case.channel == "window" and case.applicant_user_id == applicant.id
    assert any("综合窗口受理" in e.message and e.actor_user_id == clerk.id for e in events)
    assert reads and all(r.actor_user_id == clerk.id for r in reads)


def test_only_the_front_desk_accepts_walk_ins(browser):
    police = browser("police01")
    assert police.get("/frontdesk").status_code == 403
    desk = browser("center01")
    desk.get("/frontdesk")
    unknown = desk.post(
        "/frontdesk", data={"id_number": "110101199003070038", "matter": "newborn", "present": "1"}
    )
    assert unknown.status_code == 422 and "人口库中没有" in unknown.text
