"""The signed-in user's inbox over the API."""

from __future__ import annotations

from services.notifications import service as notifications
from services.notifications.schemas import InboxPublic, NotificationPublic
from web.api.routing import Offset, api_router
from web.deps import CurrentUser, SessionDep

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
        items=[
            NotificationPublic(
                **row.model_dump(include=set(NotificationPublic.model_fields)),
                title_en=notifications.KINDS.get(row.kind, ("", row.title))[1],
            )
            for row in rows
        ],
    )
