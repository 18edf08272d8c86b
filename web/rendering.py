"""Render Jinja2 templates with what every page needs: the user, CSRF token, language."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import SQLAlchemyError

from forms.sources import registry_name
from forms.values import mask_id
from services.accounts.models import User
from services.cases.progress import CASE_STATUS, ITEM_STATUS
from services.cases.result_data import result_rows
from services.cases.results import DELIVERY_STATUS
from services.cases.workbench import COUNT_CAP
from services.evaluations.service import LEVELS
from services.notifications.service import unread_count
from web.i18n import (
    elderly_mode,
    event_message,
    language,
    localized,
    notification_text,
    option_label,
    translator,
)

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
LOCAL_TIME = ZoneInfo("Asia/Shanghai")


def local_time(value: datetime | None, pattern: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time shown in China Standard Time."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo("UTC"))
    return value.astimezone(LOCAL_TIME).strftime(pattern)


templates.env.filters["mask"] = mask_id
templates.env.filters["local"] = local_time
templates.env.globals["ITEM_STATUS"] = ITEM_STATUS
templates.env.globals["COUNT_CAP"] = COUNT_CAP
templates.env.globals["CASE_STATUS"] = CASE_STATUS
templates.env.globals["DELIVERY_STATUS"] = DELIVERY_STATUS
templates.env.globals["EVALUATION_LEVELS"] = LEVELS
templates.env.globals["result_rows"] = result_rows  # macros/result_data.html


def unread_messages(request: Request, user: User | None) -> Callable[[], int | None]:
    """The signed-in citizen's unread message count for the page's header, read only when the
    page shows it (one COUNT on the unread index, in the request's own session); None for
    other users, when the request has no session, or when the database cannot answer."""

    def count() -> int | None:
        session = getattr(request.state, "db_session", None)
        if user is None or user.role != "citizen" or session is None:
            return None
        try:
            with session.no_autoflush:  # a refused step's pending rows stay unwritten
                return unread_count(session, user=user)
        except SQLAlchemyError:
            return None

    return count


# A page a form may bring the visitor back to: our own paths and plain queries, short.
_RETURNABLE = re.compile(r"/[A-Za-z0-9/_.~-]{0,150}(\?[A-Za-z0-9=&_.~%+-]{1,200})?")


def this_page(request: Request, status_code: int = 200) -> str:
    """The page's own path and query, for a form that brings the visitor back to it; the home
    page for an error answer (which never repeats its input) or an address outside the
    allow-list of plain paths and queries."""
    query = request.url.query
    page = request.url.path + (f"?{query}" if query else "")
    if status_code >= 400 or not _RETURNABLE.fullmatch(page):
        return "/"
    return page


def render(request: Request, name: str, status_code: int = 200, **context: Any):
    login = getattr(request.state, "login", None)
    lang = language(request)
    runtime = request.app.state.runtime
    user = login[0] if login else None
    context.setdefault("inbox_unread", unread_messages(request, user))
    context.update(
        user=user,
        csrf_token=login[1].csrf_token if login else "",
        lang=lang,
        t=translator(lang),
        elderly=elderly_mode(request),
        localized=lambda thing: localized(thing, lang),
        option_label=lambda fact, value: option_label(fact, value, lang),
        this_page=this_page(request, status_code),
        event_text=lambda message: event_message(message, runtime.catalog, lang),
        notification_text=lambda body: notification_text(body, runtime.catalog, lang),
        catalog=runtime.catalog,
        registry_label=lambda code: registry_name(code, lang),
    )
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    if request.query_params.get("lang") in ("zh", "en"):
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    return response
