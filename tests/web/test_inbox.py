"""The inbox: one message per event the applicant needs to hear about, an unread count in the
page header, and messages read once the inbox is opened."""

from __future__ import annotations

import re

from sqlmodel import Session, col, select

from services.cases.models import CaseItem
from services.notifications.models import Notification
from services.notifications.senders import default_sender
from tests.services.test_case_path import approve_open, submit
from tests.web.conftest import MOTHER, NEWBORN_ANSWERS
from tests.web.test_newborn import submit_newborn

HEADER_COUNT = re.compile(r'<span class="unread-count" data-unread="(\d+)">')


def _messages(rt, case_id: int) -> list[Notification]:
    with Session(rt.db) as session:
        query = select(Notification).where(Notification.case_id == case_id)
        return list(session.exec(query.order_by(col(Notification.id))).all())


def test_one_submission_is_one_message_naming_every_item_and_its_department(browser, rt):
    phone = NEWBORN_ANSWERS["applicant_phone"]
    default_sender().sent.clear()  # (it keeps only the last messages: a long run fills it)
    _citizen, case_id = submit_newborn(browser)
    messages = _messages(rt, case_id)
    assert [m.kind for m in messages] == ["submitted"]
    body = messages[0].body
    with Session(rt.db) as session:
        items = session.exec(select(CaseItem).where(CaseItem.case_id == case_id)).all()
    assert len(items) == 6
    for item in items:
        assert rt.catalog.items[item.item_code].name in body
        assert rt.catalog.departments[item.department].name in body
    assert "已分送：" in body and "即时办结（秒批）：" in body
    texts = [m.text for m in default_sender().sent if m.to == phone]
    assert len(texts) == 1 and "办件编号" in texts[0]
    assert "已分送" not in texts[0]  # the text message stays short: the inbox has the list


def test_a_decision_is_one_more_message(browser, rt):
    _citizen, case_id = submit_newborn(browser)
    with Session(rt.db) as session:
        task = session.exec(
            select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.department == "police")
        ).one()
    police = browser("police01")
    police.get(f"/clerk/items/{task.id}")
    decided = police.post(f"/clerk/items/{task.id}/decision", data={"decision": "approved"})
    assert decided.status_code == 303, decided.text[:300]
    assert [m.kind for m in _messages(rt, case_id)] == ["submitted", "approved"]


def test_the_header_counts_unread_messages_until_the_inbox_is_opened(browser):
    citizen, case_id = submit_newborn(browser)
    page = citizen.get(f"/cases/{case_id}").text
    assert HEADER_COUNT.search(page).group(1) == "1"
    assert 'id="inbox-link">消息 <span class="unread-count"' in page
    assert citizen.client.get("/api/v1/inbox").json()["unread"] == 1
    inbox = citizen.get("/inbox").text
    assert "新消息" in inbox and 'data-kind="submitted"' in inbox  # shown as new, once
    assert not HEADER_COUNT.search(inbox)
    assert citizen.client.get("/api/v1/inbox").json()["unread"] == 0
    assert not HEADER_COUNT.search(citizen.get(f"/cases/{case_id}").text)
    assert "新消息" not in citizen.get("/inbox").text


def test_only_citizens_pages_count_messages(browser):
    submit_newborn(browser)
    police = browser("police01")
    page = police.get("/clerk").text
    assert 'id="inbox-link"' in page and not HEADER_COUNT.search(page)
    assert HEADER_COUNT.search(browser(MOTHER).get("/cases").text)  # the mother's own count


def test_a_decision_that_lets_later_items_go_on_is_one_message_naming_them(rt, user_of):
    """Retirement: approving the pension claim routes the items waiting for it; the applicant
    hears of both in the decision's one message."""
    case_id = submit(rt, user_of, "retirement", "applicant")
    approve_open(rt, user_of, case_id)
    messages = _messages(rt, case_id)
    assert [m.kind for m in messages] == ["submitted", "approved"]
    with Session(rt.db) as session:
        routed = session.exec(
            select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.status == "processing")
        ).all()
    assert routed  # the items that waited for the pension claim
    assert "办结：" in messages[1].body and "已分送：" in messages[1].body
    for row in routed:
        assert rt.catalog.items[row.item_code].name in messages[1].body
