"""Notifications: write a message to a user's inbox, text them, list and mark what they read.

`notify` writes the inbox row in the caller's transaction and does not commit. An SMS or
e-mail leaves only once that transaction commits (and never if it rolls back), so a retried
or failed change does not text the citizen twice or about something that did not happen; a
failing gateway is logged and never undoes the change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from functools import partial

from sqlalchemy import event, update
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, func, select

from engine.clock import utcnow
from services import journal
from services.accounts.models import User
from services.errors import NotFound
from services.notifications.models import Notification
from services.notifications.senders import Sender, mask_address, mask_phone

log = logging.getLogger(__name__)

# Titles by notification kind, (中文, English); the stored title is the Chinese one.
KINDS = {
    "submitted": ("申请已提交", "Application submitted"),
    "accepted": ("申请已受理", "Application accepted"),
    "routed": ("已分送部门办理", "Sent to a department"),
    "approved": ("事项已办结", "Item approved"),
    "instant_approved": ("事项即时办结（秒批）", "Item approved at once"),
    "rejected": ("事项不予办理", "Item rejected"),
    "correction_requested": ("请补正材料", "Please correct your application"),
    "completed": ("办件已全部办结", "Case completed"),
    "delivery_shipped": ("办理结果已寄出", "Results posted"),
    "follow_up_opened": ("收到差评，请核实整改并回访", "Bad review: follow up and call back"),
    "evaluation_handled": ("您的评价已处理", "Your feedback was handled"),
    "escalated": ("待办已超过法定时限，请督办", "A task is past its statutory limit"),
    "repaired": ("办件已由工作人员调整", "Your case was adjusted by staff"),
    "offered": ("为您准备了一件事，可一步确认办理", "A service is ready for you to confirm"),
}
SMS_SIGNATURE = "【一件事一次办】"
_PENDING = "onething.notifications.pending"


def notify(
    session: Session,
    *,
    user_id: int,
    case_id: int | None,
    kind: str,
    title: str,
    body: str,
    sms_body: str | None = None,
    phone: str | None = None,
    email: str | None = None,
    sender: Sender | None = None,
    batched: bool = False,
) -> Notification | None:
    """Add a message to the user's inbox (no commit); with a sender, also text (or e-mail) it
    once the caller's transaction commits (`sms_body`, if given, instead of `body`: the inbox
    may say more than a text message should). `batched`: the row is journalled with the
    transaction's other case-step rows and written with them at commit (no row is returned)."""
    values = {
        "user_id": user_id,
        "case_id": case_id,
        "kind": kind[:32],
        "title": title[:100],
        "body": body[:500],
    }
    row = None
    if batched:
        journal.append(session, Notification, **values)
    else:
        row = Notification(**values)
        session.add(row)
    if sender is not None and phone:
        text = f"{SMS_SIGNATURE}{values['title']}：{sms_body or values['body']}"[:500]
        _after_commit(session, partial(_send_sms, sender, phone, text))
    if sender is not None and email:
        send = partial(_send_email, sender, email, values["title"], values["body"])
        _after_commit(session, send)
    return row


def _after_commit(session: Session, send: Callable[[], None]) -> None:
    """Call `send` once the session's transaction commits (dropped if it rolls back)."""
    session.info.setdefault(_PENDING, []).append(send)


# Listeners on every session, not on each session that sends (a listener added to one session
# gives it a dispatcher of its own, which costs more than this check on every commit).
@event.listens_for(OrmSession, "after_commit")
def _send_pending(session: Session) -> None:
    pending = session.info.get(_PENDING)
    while pending:
        pending.pop(0)()


@event.listens_for(OrmSession, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction) -> None:
    if not previous_transaction.nested:
        session.info.pop(_PENDING, None)


def _send_sms(sender: Sender, phone: str, text: str) -> None:
    try:
        sender.send_sms(phone, text)
    except Exception:
        log.exception("SMS to %s failed", mask_phone(phone))


def _send_email(sender: Sender, address: str, subject: str, text: str) -> None:
    try:
        sender.send_email(address, subject, text)
    except Exception:
        log.exception("E-mail to %s failed", mask_address(address))


def inbox(session: Session, *, user: User, limit: int = 50, offset: int = 0) -> list[Notification]:
    """The user's messages, newest first; paged in SQL."""
    query = (
        select(Notification)
        .where(Notification.user_id == user.id)
        .order_by(col(Notification.id).desc())
        .offset(max(offset, 0))
        .limit(min(max(limit, 1), 200))
    )
    return list(session.exec(query).all())


def unread_count(session: Session, *, user: User) -> int:
    query = select(func.count()).where(
        Notification.user_id == user.id, col(Notification.read_at).is_(None)
    )
    return session.exec(query).one()


def mark_read(session: Session, *, user: User, notification_id: int) -> Notification:
    """Mark one of the user's own messages read; other users' messages do not exist for them."""
    row = session.get(Notification, notification_id)
    if row is None or row.user_id != user.id:
        raise NotFound("消息不存在", "No such message")
    if row.read_at is None:
        row.read_at = utcnow()
        session.add(row)
        session.commit()
    return row


def mark_all_read(session: Session, *, user: User, only: Collection[int] | None = None) -> int:
    """Mark every unread message of the user read (`only`: those of these ids, e.g. the ones an
    opened inbox page shows); returns how many were unread."""
    query = update(Notification).where(
        Notification.user_id == user.id, col(Notification.read_at).is_(None)
    )
    if only is not None:
        query = query.where(col(Notification.id).in_(list(only)))
    result = session.execute(
        query.values(read_at=utcnow()).execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount
