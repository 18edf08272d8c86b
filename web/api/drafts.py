"""Drafts over the API (保存草稿): the signed-in citizen's unfinished application for a matter,
saved, read back from any later sign-in, and discarded; the same service calls as the form
page's 保存草稿, 继续填写草稿 and 放弃草稿. A draft expires `ONETHING_DRAFT_DAYS` after its
last save and is deleted when the application is submitted; only its owner reads it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from services.cases import drafts
from services.cases.schemas import FactKey
from services.errors import NotFound
from web.api.routing import api_router
from web.deps import CitizenUser, Code, CsrfChecked, RuntimeDep, SessionDep

router = api_router(tags=["api: drafts"])


class DraftSave(BaseModel):
    """The answers given so far (blank ones are not kept)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"answers": {"business_form": "llc"}, "manual": False}]}
    )

    answers: dict[FactKey, Any] = Field(
        default_factory=dict,
        description="Fact key -> value as typed so far; a key that is not a fact of the matter "
        "is refused (422). Each text value at most 500 characters.",
    )
    manual: bool = Field(
        default=False, description="Filled in without the registries' lookups (resume so)"
    )


class DraftFile(BaseModel):
    material: str = Field(description="The material's code")
    filename: str
    size: int
    token: str = Field(description="Name it in the submission's `materials` to use the file")
    expires_at: datetime


class DraftPublic(BaseModel):
    matter: str
    answers: dict[str, Any]
    manual: bool
    saved_at: datetime
    expires_at: datetime = Field(description="When the draft and its files are deleted")
    files: list[DraftFile] = Field(
        description="Files uploaded for this application (`POST /api/v1/uploads`), kept with "
        "the draft"
    )


def draft_public(draft: drafts.Draft) -> DraftPublic:
    row = draft.row
    return DraftPublic(
        matter=row.matter,
        answers=row.answers,
        manual=row.manual,
        saved_at=row.saved_at,
        expires_at=row.expires_at,
        files=[
            DraftFile(
                material=code,
                filename=f.filename,
                size=f.size,
                token=f.token,
                expires_at=f.expires_at,
            )
            for code, f in sorted(draft.files.items())
        ],
    )


_NO_DRAFT = {404: {"description": "No draft of this matter (or it expired)"}}


@router.get("/matters/{code}/draft", response_model=DraftPublic, responses=_NO_DRAFT)
def get_draft(code: Code, user: CitizenUser, session: SessionDep, rt: RuntimeDep):
    """The signed-in citizen's saved draft of the matter's application, with the files kept
    for it; 404 when there is none (never saved, expired, discarded or submitted)."""
    found = drafts.draft_of(session, rt, user=user, matter_code=code)
    if found is None:
        raise NotFound("没有保存的草稿", "No saved draft")
    return draft_public(found)


@router.put("/matters/{code}/draft", response_model=DraftPublic, dependencies=[CsrfChecked])
def save_draft(code: Code, body: DraftSave, user: CitizenUser, session: SessionDep, rt: RuntimeDep):
    """Save the application unfinished, in place of an earlier draft: kept (with the files
    uploaded for it) for `ONETHING_DRAFT_DAYS` from now, for the citizen alone."""
    saved = drafts.save_draft(
        session, rt, user=user, matter_code=code, answers=body.answers, manual=body.manual
    )
    return draft_public(saved)


@router.delete(
    "/matters/{code}/draft",
    status_code=204,
    response_class=Response,
    dependencies=[CsrfChecked],
    responses=_NO_DRAFT,
)
def discard_draft(code: Code, user: CitizenUser, session: SessionDep, rt: RuntimeDep):
    """Discard the draft and the files kept for it; 404 when there was none."""
    if not drafts.discard_draft(session, rt, user=user, matter_code=code):
        raise NotFound("没有保存的草稿", "No saved draft")
    return Response(status_code=204)
