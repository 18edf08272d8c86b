"""Notifications: inbox rows in the caller's transaction, SMS only after commit, own messages only."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import Session, select

import services.notifications.models  # noqa: F401 - the table exists before `rt` creates the schema
from services.cases.models import Case
from services.errors import NotFound
from services.notifications import service as notifications
from services.notifications.case_notifications import on_case_event
from services.notifications.models import Notification
from services.notifications.senders import LoggingSender, mask_phone

MOTHER = "31010519940908028X"
FATHER = "310104199511020172"
PHONE = "13812345678"


class FailingSender:
    def send_sms(self, phone: str, text: str) -> None:
        raise ConnectionError("SMS gateway down")

    def send_email(self, address: str, subject: str, text: str) -> None:
        raise ConnectionError("SMTP relay down")


def _say(session: Session, user_id: int, title: str = "申请已提交", **kwargs) -> Notification:
    return notifications.notify(
        session, user_id=user_id, case_id=None, kind="submitted", title=title, body="正文", **kwargs
    )


def test_inbox_rows_are_written_in_the_callers_transaction(rt, user_of):
    mother = user_of(MOTHER)
    with Session(rt.db) as session:
        _say(session, mother.id, "被回滚")
        session.rollback()
        _say(session, mother.id, "第一条")
        _say(session, mother.id, "第二条")
        session.commit()
        rows = notifications.inbox(session, user=mother)
        assert [row.title for row in rows] == ["第二条", "第一条"]  # newest first
        assert notifications.unread_count(session, user=mother) == 2
        assert notifications.inbox(session, user=mother, limit=1, offset=1)[0].title == "第一条"
        assert notifications.inbox(session, user=user_of(FATHER)) == []


def test_sms_leaves_after_commit_and_never_after_rollback(rt, user_of):
    mother = user_of(MOTHER)
    sender = LoggingSender()
    with Session(rt.db) as session:
        _say(session, mother.id, "已回滚", phone=PHONE, sender=sender)
        session.rollback()
        _say(session, mother.id, "事项不予办理", phone=PHONE, sender=sender)
        _say(session, mother.id, "只进收件箱", sender=sender)  # no phone: no SMS
        assert not sender.sent
        session.commit()
    assert [(m.channel, m.to) for m in sender.sent] == [("sms", PHONE)]
    assert sender.sent[0].text == "【一件事一次办】事项不予办理：正文"


def test_a_failing_gateway_is_logged_and_never_undoes_the_change(rt, user_of, caplog):
    mother = user_of(MOTHER)
    with Session(rt.db) as session, caplog.at_level(logging.ERROR):
        _say(session, mother.id, phone=PHONE, email="wang@example.com", sender=FailingSender())
        session.commit()
        assert notifications.unread_count(session, user=mother) == 1
    assert "138****5678" in caplog.text and "w***@example.com" in caplog.text
    assert PHONE not in caplog.text


def test_logging_sender_masks_phones_and_keeps_the_last_messages(caplog):
    sender = LoggingSender(keep=2)
    with caplog.at_level(logging.INFO, logger="services.notifications.senders"):
        for n in range(3):
            sender.send_sms(PHONE, f"第{n}条")
        sender.send_email("wang@example.com", "主题", "正文")
    assert mask_phone(PHONE) == "138****5678"
    assert "SMS to 138****5678" in caplog.text and PHONE not in caplog.text
    assert "wang@example.com" not in caplog.text
    assert [m.text for m in sender.sent] == ["第2条", "正文"]


def test_users_mark_only_their_own_messages_read(rt, user_of):
    mother, father = user_of(MOTHER), user_of(FATHER)
    with Session(rt.db) as session:
        mine = _say(session, mother.id)
        _say(session, mother.id)
        theirs = _say(session, father.id)
        session.commit()
        with pytest.raises(NotFound):
            notifications.mark_read(session, user=mother, notification_id=theirs.id)
        with pytest.raises(NotFound):
            notifications.mark_read(session, user=mother, notification_id=10**9)
        read = notifications.mark_read(session, user=mother, notification_id=mine.id)
        assert read.read_at is not None
        assert notifications.mark_read(session, user=mother, notification_id=mine.id).read_at == (
            read.read_at
        )
        assert notifications.unread_count(session, user=mother) == 1
        assert notifications.mark_all_read(session, user=mother) == 1
        assert notifications.unread_count(session, user=mother) == 0
        assert notifications.unread_count(session, user=father) == 1


def _case(session: Session, applicant_user_id: int) -> Case:
    case = Case(
        number="YJS20261123000001",
        matter="newborn",
        applicant_user_id=applicant_user_id,
        applicant_id_number=MOTHER,
        applicant_name="王芳",
        data={"applicant_phone": PHONE},
    )
    session.add(case)
    session.flush()
    return case


def test_case_events_reach_the_applicant_and_important_ones_by_sms(rt, user_of):
    mother = user_of(MOTHER)
    sender = LoggingSender()
    with Session(rt.db) as session:
        case = _case(session, mother.id)
        events = [
            ("submitted", "提交《新生儿出生一件事》一表申请，办件编号YJS20261123000001"),
            ("degraded", "人口库暂不可用（相关信息由申请人填写或上传）"),
            ("routed", "已分送公安局：出生登记"),
            ("approved", "医保局自动核验通过，即时办结（秒批）：城乡居民医保参保登记"),
            ("approved", "卫健委办结：出生医学证明"),
            ("rejected", "公安局不予办理：出生登记（父母户籍地不在本市）"),
            ("correction", "卫健委退回补正：出生医学证明（请上传清晰的身份证）"),
            ("correction_requested", "请补正：出生医学证明"),  # the same request, from the process
            ("escalated", "公安局办理“出生登记”已超过法定时限，已提请科室负责人督办"),
            ("incident", "部门业务系统处理失败"),
            ("completed", "全部事项办结，统一出件"),
            ("delivery_shipped", "办理结果已寄出，快递单号SF1234567890"),
        ]
        for kind, message in events:
            on_case_event(session, case=case, kind=kind, message=message, sender=sender)
        session.commit()
        case_id = case.id
        rows = list(reversed(notifications.inbox(session, user=mother)))
    assert [(row.kind, row.title) for row in rows] == [
        ("submitted", "申请已提交"),
        ("routed", "已分送部门办理"),
        ("instant_approved", "事项即时办结（秒批）"),
        ("approved", "事项已办结"),
        ("rejected", "事项不予办理"),
        ("correction_requested", "请补正材料"),
        ("completed", "办件已全部办结"),
        ("delivery_shipped", "办理结果已寄出"),
    ]
    assert all(row.case_id == case_id for row in rows)
    assert rows[0].body == events[0][1]  # already names the case: not prefixed again
    assert rows[4].body == "办件YJS20261123000001：公安局不予办理：出生登记（父母户籍地不在本市）"
    assert "评价" in rows[6].body
    texts = [m.text for m in sender.sent]
    assert len(texts) == 5 and all(m.to == PHONE for m in sender.sent)
    assert (
        texts[1].startswith("【一件事一次办】事项不予办理：") and "父母户籍地不在本市" in texts[1]
    )
    assert not any("已分送" in text or "秒批" in text for text in texts)


def test_case_events_without_a_phone_go_to_the_inbox_only(rt, user_of):
    mother = user_of(MOTHER)
    sender = LoggingSender()
    with Session(rt.db) as session:
        case = _case(session, mother.id)
        case.data = {}
        on_case_event(session, case=case, kind="completed", message="全部事项办结", sender=sender)
        session.commit()
        assert session.exec(select(Notification)).one().kind == "completed"
    assert not sender.sent
