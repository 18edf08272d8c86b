"""The combined form posted from a page: the citizen's own and the front desk's for a walk-in
applicant. The multipart body is read on the event loop (it is I/O); everything else (registry
facts, validation, the case's process, files, rendering) runs in a worker thread. Files that
passed the checks survive a refusal for other reasons (`keep_drafts`): the form shown again
lists them instead of asking for them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session
from starlette.datastructures import UploadFile

from services.accounts.models import User
from services.cases import drafts, submission
from services.cases.models import Case
from services.cases.uploads import UploadedFile, drafts_of, keep_drafts, with_drafts
from services.errors import InvalidInput
from services.runtime import Runtime
from web.rendering import render

_NOT_ANSWERS = ("csrf_token", "refresh", "manual", "save_draft")


@dataclass(frozen=True)
class Posted:
    """What the form sent."""

    answers: dict[str, str]
    uploads: list[UploadedFile]
    drafts: dict[str, str]  # material code -> token of a file kept from before
    manual: bool
    refresh: bool  # "update the form": show it again for the answers, submit nothing
    save_draft: bool = False  # 保存草稿: keep the answers and files for later, submit nothing


async def read_posted(request: Request, rt: Runtime) -> Posted:
    """The form's fields and files (each file read up to one byte over the limit, so a file
    too large is refused by the check, never read whole)."""
    submitted = await request.form()
    uploads = []
    for key, value in submitted.multi_items():
        if key.startswith("material_") and isinstance(value, UploadFile) and value.filename:
            content = await value.read(rt.settings.upload_limit_bytes + 1)
            uploads.append(UploadedFile(key.removeprefix("material_"), value.filename, content))
    texts = {k: v for k, v in submitted.items() if isinstance(v, str)}
    return Posted(
        answers={
            k: v for k, v in texts.items() if k not in _NOT_ANSWERS and not k.startswith("draft_")
        },
        uploads=uploads,
        drafts={k.removeprefix("draft_"): v for k, v in texts.items() if k.startswith("draft_")},
        manual=texts.get("manual") == "1",
        refresh=bool(texts.get("refresh")),
        save_draft=bool(texts.get("save_draft")),
    )


def submit(
    request: Request,
    session: Session,
    rt: Runtime,
    *,
    applicant: User,
    actor: User | None,
    matter: str,
    posted: Posted,
    consented: bool,
    done: Callable[[Case], Response],
    basis: str | None = None,
    then: Callable[[Session, Case], None] | None = None,
    **page: Any,
) -> Response:
    """Submit the posted form (or show it again for a refresh or a refusal, with the files kept
    so far; or, for 保存草稿, save it as the citizen's draft and show it again as saved); on
    success, answer `done(case)` (a redirect: PRG). `page`: what the form's template needs besides.
    `basis`: `actor` is an agent acting for the applicant under that authorization (代办);
    `then`: the caller's rows about the new case, in the submission's transaction."""
    owner = actor or applicant
    uploads = with_drafts(
        session,
        owner=owner,
        applicant=applicant,
        matter=matter,
        uploads=posted.uploads,
        tokens=posted.drafts,
    )
    if posted.save_draft and actor is None:  # the citizen's own form only
        drafts.save_draft(
            session,
            rt,
            user=applicant,
            matter_code=matter,
            answers=posted.answers,
            manual=posted.manual,
            uploads=uploads,
        )
        manual = "&manual=1" if posted.manual else ""
        return RedirectResponse(f"/matters/{matter}/apply?draft=saved{manual}", status_code=303)
    options = dict(
        user=applicant, matter_code=matter, consented=consented, actor=actor, basis=basis
    )
    errors: dict[str, tuple[str, str]] = {}
    if not (posted.refresh or posted.save_draft):
        try:
            case = submission.submit_application(
                session,
                rt,
                answers=posted.answers,
                uploads=uploads,
                channel="window" if actor is not None and not basis else "online",
                then=then,
                **options,
            )
            return done(case)
        except InvalidInput as exc:
            errors = exc.fields
    fresh = [u for u in uploads if not u.draft]
    if fresh:
        keep_drafts(
            session,
            rt,
            owner=owner,
            applicant=applicant,
            matter=matter,
            uploads=fresh,
            refused=set(errors),
        )
    form = _form(session, rt, applicant, actor, matter, posted, consented, basis)
    return render(
        request,
        "citizen/apply.html",
        status_code=422 if errors else 200,
        form=form,
        errors=errors,
        manual=posted.manual,
        drafts=drafts_of(session, owner=owner, applicant=applicant, matter=matter),
        applicant=applicant if actor is not None else None,  # the front desk's walk-in
        **page,
    )


def preview(
    request: Request,
    session: Session,
    rt: Runtime,
    *,
    applicant: User,
    actor: User | None,
    matter: str,
    posted: Posted,
    consented: bool,
    basis: str | None = None,
) -> Response:
    """The parts of the form that depend on the answers (the items, the sections and their
    fields, the materials), for the answers so far: what the page's live update (static/form.js)
    merges in as the applicant answers. Nothing is kept and no file is read; the server's
    conditions decide, as for the button that shows the whole form again."""
    owner = actor or applicant
    form = _form(session, rt, applicant, actor, matter, posted, consented, basis)
    return render(
        request,
        "citizen/apply_parts.html",
        form=form,
        drafts=drafts_of(session, owner=owner, applicant=applicant, matter=matter),
    )


def _form(
    session,
    rt,
    applicant: User,
    actor: User | None,
    matter: str,
    posted,
    consented: bool,
    basis: str | None = None,
):
    """The form for the posted answers (conditions applied; nothing submitted)."""
    return submission.prepare_form(
        session,
        rt,
        user=applicant,
        matter_code=matter,
        answers=posted.answers,
        consented=consented,
        actor=actor,
        basis=basis,
    )
