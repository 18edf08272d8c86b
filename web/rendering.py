"""Render Jinja2 templates with what every page needs: the user, CSRF token, language."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.templating import Jinja2Templates

from forms.sources import registry_name
from forms.values import mask_id
from services.cases.progress import CASE_STATUS, ITEM_STATUS
from services.cases.results import DELIVERY_STATUS
from services.cases.workbench import COUNT_CAP
from services.evaluations.service import LEVELS
from web.i18n import language, translator

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


def render(request: Request, name: str, status_code: int = 200, **context: Any):
    login = getattr(request.state, "login", None)
    lang = language(request)
    runtime = request.app.state.runtime
    context.update(
        user=login[0] if login else None,
        csrf_token=login[1].csrf_token if login else "",
        lang=lang,
        t=translator(lang),
        catalog=runtime.catalog,
        registry_label=lambda code: registry_name(code, lang),
    )
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    if request.query_params.get("lang") in ("zh", "en"):
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    return response
