"""The signed-in user's inbox over the API: messages, newest first, and marking them read."""

from __future__ import annotations

from services.notifications import service as notifications
from services.notifications.models import Notification
from services.notifications.schemas import InboxPublic, NotificationPublic, ReadAllPublic
from web.api.routing import Offset, RowId, api_router
from web.deps import CsrfChecked, CurrentUser, SessionDep

router = api_router(tags=["api: inbox"])


@router.get("/inbox", response_model=InboxPublic)
def inbox_api(
    user: CurrentUser,
    session: SessionDep,
    limit: int = 50,
    offset: Offset = 0,
):
    """The signed-in user's messages, newest first, with the unread count."""
    rows = notifications.inbox(session, user=user, limit=limit, offset=offset)
    return InboxPublic(
        unread=notifications.unread_count(session, user=user),
        items=[notification_public(row) for row in rows],
    )


@router.post("/inbox/read-all", response_model=ReadAllPublic, dependencies=[CsrfChecked])
def read_all(user: CurrentUser, session: SessionDep):
    """Mark every unread message read."""
    marked = notifications.mark_all_read(session, user=user)
    return ReadAllPublic(marked=marked, unread=notifications.unread_count(session, user=user))


@router.post(
    "/inbox/{notification_id}/read", response_model=NotificationPublic, dependencies=[CsrfChecked]
)
def read(notification_id: RowId, user: CurrentUser, session: SessionDep):
    """Mark one of the user's messages read (other users' messages do not exist for them)."""
    row = notifications.mark_read(session, user=user, notification_id=notification_id)
    return notification_public(row)


def notification_public(row: Notification) -> NotificationPublic:
    return NotificationPublic(
        **row.model_dump(include=set(NotificationPublic.model_fields)),
        title_en=notifications.KINDS.get(row.kind, ("", row.title))[1],
    )
