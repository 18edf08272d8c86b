"""Drafts (保存草稿): a citizen's combined form saved unfinished, for one matter, and resumed
from any later sign-in until it expires (`Settings.draft_days` after the last save) or the
application is submitted (`submission.submit_application` deletes it in its transaction).

The answers are kept as typed; the files chosen are the uploader's kept files (`DraftUpload`,
services/cases/uploads.py), whose expiry follows the draft's. A draft is personal data: only
its owner reads, replaces or discards it (every query is by the owner's account), and nothing
of its content is ever logged. Expired drafts are never shown; the daily maintenance run
deletes them (services/maintenance/retention.py), as does every save.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from engine.clock import utcnow
from forms.catalog import Matter
from services.accounts.models import User
from services.cases.access import require_citizen
from services.cases.models import ApplicationDraft, DraftUpload
from services.cases.submission import answerable_facts, refuse_unknown_answers
from services.cases.uploads import UploadedFile, drafts_of, keep_drafts
from services.configuration.matters import offered
from services.errors import InvalidInput, NotFound
from services.runtime import Runtime

VALUE_LIMIT = 500  # characters of one answer kept (the longest fact, an address, takes 200)
_NOT_A_FACT = ("不是本事项表单中的数据项", "Not a fact of this matter's form")


@dataclass(frozen=True)
class Draft:
    """A saved draft with the files kept for it (by material code)."""

    row: ApplicationDraft
    files: dict[str, DraftUpload]


def _matter(session: Session, rt: Runtime, code: str) -> Matter:
    matter, _ = offered(session, rt, code)
    if not matter.published:
        raise NotFound("没有这项“一件事”服务", f"No matter {code!r}")
    return matter


def _of(user: User, matter: str):
    return (col(ApplicationDraft.user_id) == user.id) & (col(ApplicationDraft.matter) == matter)


def _files_of(user: User, matter: str):
    return (
        (col(DraftUpload.owner_user_id) == user.id)
        & (col(DraftUpload.applicant_user_id) == user.id)
        & (col(DraftUpload.matter) == matter)
    )


def kept_answers(rt: Runtime, matter: Matter, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers worth keeping: those given (not blank), each within VALUE_LIMIT; a key that
    is not a fact of the matter is refused (InvalidInput naming it)."""
    refuse_unknown_answers(answers, allowed=answerable_facts(rt, matter), message=_NOT_A_FACT)
    kept: dict[str, Any] = {}
    for key, value in answers.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if isinstance(value, str) and len(value) > VALUE_LIMIT:
            raise InvalidInput(
                key, f"内容过长（最多{VALUE_LIMIT}字）", f"Too long (at most {VALUE_LIMIT})"
            )
        kept[key] = value
    return kept


def save_draft(
    session: Session,
    rt: Runtime,
    *,
    user: User,
    matter_code: str,
    answers: Mapping[str, Any],
    manual: bool = False,
    uploads: list[UploadedFile] = (),
) -> Draft:
    """Save the citizen's unfinished application for the matter, in place of an earlier draft:
    the answers given so far and, of `uploads` (files chosen with it), those that pass the
    checks (others are left out, as an unsaved choice). The draft and every file kept for
    this application expire `draft_days` from now. Commits."""
    offered_matter = _matter(session, rt, matter_code)
    require_citizen(user)
    kept = kept_answers(rt, offered_matter, answers)
    matter = offered_matter.code
    fresh = [u for u in uploads if u.content and not u.draft]
    if fresh:  # commits the files kept
        keep_drafts(
            session, rt, owner=user, applicant=user, matter=matter, uploads=fresh, refused=set()
        )
    now = utcnow()
    expires = now + timedelta(days=rt.settings.draft_days)
    session.execute(delete(ApplicationDraft).where(col(ApplicationDraft.expires_at) <= now))
    row = session.exec(select(ApplicationDraft).where(_of(user, matter))).first()
    if row is None:
        row = ApplicationDraft(user_id=user.id, matter=matter, expires_at=expires)
    row.answers, row.manual, row.saved_at, row.expires_at = kept, manual, now, expires
    session.add(row)
    session.execute(
        update(DraftUpload)
        .where(_files_of(user, matter), col(DraftUpload.expires_at) > now)
        .values(expires_at=expires)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    session.refresh(row)
    return Draft(row, drafts_of(session, owner=user, applicant=user, matter=matter))


def draft_of(session: Session, rt: Runtime, *, user: User, matter_code: str) -> Draft | None:
    """The citizen's own unexpired draft for the matter, with its kept files; None if none."""
    matter = _matter(session, rt, matter_code).code
    require_citizen(user)
    row = session.exec(
        select(ApplicationDraft).where(
            _of(user, matter), col(ApplicationDraft.expires_at) > utcnow()
        )
    ).first()
    if row is None:
        return None
    return Draft(row, drafts_of(session, owner=user, applicant=user, matter=matter))


def resumed_answers(session: Session, rt: Runtime, draft: Draft) -> dict[str, Any]:
    """The draft's answers that the matter's form still asks (the matter may have changed since
    it was saved: an answer for a fact it no longer has is left out rather than refused)."""
    allowed = answerable_facts(rt, _matter(session, rt, draft.row.matter))
    return {key: value for key, value in draft.row.answers.items() if key in allowed}


def discard_draft(session: Session, rt: Runtime, *, user: User, matter_code: str) -> bool:
    """Discard the citizen's draft for the matter and the files kept for it; whether there was
    one. Commits."""
    matter = _matter(session, rt, matter_code).code
    require_citizen(user)
    removed = session.execute(delete(ApplicationDraft).where(_of(user, matter))).rowcount
    session.execute(delete(DraftUpload).where(_files_of(user, matter)))
    session.commit()
    return bool(removed)
