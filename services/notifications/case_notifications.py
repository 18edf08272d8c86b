"""Which steps of a case the applicant hears about, with what title, and which are worth an SMS.

The case service calls `on_case_event` with every history event it writes, in the same
transaction; events the applicant need not hear about (a degraded registry, an incident a
department's system reported, deadline warnings and escalations) are ignored.
"""

from __future__ import annotations

from sqlmodel import Session

from services.cases.models import Case
from services.notifications.models import Notification
from services.notifications.senders import Sender
from services.notifications.service import KINDS, notify

# Case event kind -> notification kind, for the events the applicant hears about. A clerk's
# "correction" decision carries the department and what to correct; the process's own
# "correction_requested" event in the same transaction would only repeat it, so it is not here.
NOTIFIED = {
    "submitted": "submitted",
    "accepted": "accepted",
    "routed": "routed",
    "approved": "approved",
    "rejected": "rejected",
    "correction": "correction_requested",
    "completed": "completed",
    "delivery_shipped": "delivery_shipped",
    "repair": "repaired",  # an operator repaired the case (services/cases/repair.py)
}
# These also reach the applicant's phone: they must act (correct, collect, evaluate) or
# something ended.
SMS_KINDS = frozenset(
    {
        "submitted",
        "accepted",
        "rejected",
        "correction_requested",
        "completed",
        "delivery_shipped",
        "repaired",
    }
)
INSTANT = "秒批"  # the case service's mark of an automatic approval in the event message


def on_case_event(
    session: Session,
    *,
    case: Case,
    kind: str,
    message: str,
    details: str = "",
    sender: Sender | None = None,
) -> Notification | None:
    """Tell the applicant about an event of their case (inbox row in the caller's transaction;
    an SMS to the application's mobile number after commit for the important ones). `details`
    (what went to which department…) are added in the inbox only: the SMS stays short."""
    notification_kind = NOTIFIED.get(kind)
    if notification_kind is None:
        return None
    if notification_kind == "approved" and INSTANT in message:
        notification_kind = "instant_approved"
    known = not case.number or case.number in message
    body = message if known else f"办件{case.number}：{message}"
    if kind == "completed":
        body += "。欢迎对本次服务进行评价。"
    phone = case.data.get("applicant_phone") if notification_kind in SMS_KINDS else None
    return notify(
        session,
        user_id=case.applicant_user_id,
        case_id=case.id,
        kind=notification_kind,
        title=KINDS[notification_kind][0],
        body=f"{body}。{details}" if details else body,
        sms_body=body,
        phone=phone,
        sender=sender,
        batched=True,
    )
