"""The inbox of any signed-in user: messages about their cases (or their department's follow-ups)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services.notifications import service as notifications
from web.api.routing import twin
from web.deps import CsrfChecked, CurrentUser, Id, Page, SessionDep
from web.rendering import render

router = APIRouter(tags=["inbox"], default_response_class=HTMLResponse)
PAGE = 50


@router.get("/inbox")
@twin("GET /api/v1/inbox")
def inbox_page(request: Request, user: CurrentUser, session: SessionDep, page: Page = 1):
    """The user's messages, newest first. Opening the page reads the messages it shows: they
    are marked read (and shown once more as new), so the header's unread count drops."""
    page = max(page, 1)
    rows = notifications.inbox(session, user=user, limit=PAGE, offset=(page - 1) * PAGE)
    new = [row.id for row in rows if row.read_at is None and row.id is not None]
    if new:  # (the rows keep read_at None in this page: they are shown as new)
        notifications.mark_all_read(session, user=user, only=new)
    return render(
        request,
        "inbox.html",
        rows=rows,
        unread=notifications.unread_count(session, user=user),
        kinds=notifications.KINDS,
        page=page,
        page_size=PAGE,
    )


@router.post("/inbox/read-all", dependencies=[CsrfChecked])
@twin("POST /api/v1/inbox/read-all")
def read_all(user: CurrentUser, session: SessionDep):
    notifications.mark_all_read(session, user=user)
    return RedirectResponse("/inbox", status_code=303)


@router.post("/inbox/{notification_id}/read", dependencies=[CsrfChecked])
@twin("POST /api/v1/inbox/{notification_id}/read")
def read(notification_id: Id, user: CurrentUser, session: SessionDep):
    notifications.mark_read(session, user=user, notification_id=notification_id)
    return RedirectResponse("/inbox", status_code=303)
