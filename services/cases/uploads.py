"""Uploaded materials: what is accepted (an allow-list of file types, by content, and a size
limit), files that belong to the transaction storing them, and who may open them.

A file goes to the runtime's file store (services/storage.py: the database, or a directory
every host reaches) in its case's transaction, and is kept only if that transaction commits: a
refused or failed submission leaves no file behind, whatever part of it failed.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, select

from engine.clock import utcnow
from services.accounts.models import User
from services.cases.models import Case, DraftUpload, Upload
from services.errors import InvalidInput
from services.runtime import Runtime

# The accepted file types, recognised by their first bytes (never by name or declared type).
ACCEPTED_TYPES = {
    b"%PDF-": "application/pdf",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
}
FILENAME_LIMIT = 200
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")
DRAFT_HOURS = 24  # how long a kept file waits for its application


@dataclass(frozen=True)
class UploadedFile:
    """A file as the applicant sent it for one material."""

    material_code: str
    filename: str
    content: bytes
    draft: bool = False  # kept from an earlier, refused submission (`keep_drafts`)


@dataclass(frozen=True)
class CheckedFile:
    """A file that passed the allow-list: its type by content, its size, its digest."""

    material_code: str
    filename: str
    content: bytes
    content_type: str
    sha256: str


def megabytes(size: int) -> str:
    """A size in MB as people read it: 10, 2.5, 0.3."""
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0")


def check_file(rt: Runtime, upload: UploadedFile) -> CheckedFile:
    """The file, if it is of an accepted type and within the size limit; else InvalidInput
    naming the material's field."""
    field = f"material_{upload.material_code}"
    limit = rt.settings.upload_limit_bytes
    if not upload.content:
        raise InvalidInput(field, "上传的文件是空的", "The uploaded file is empty")
    if len(upload.content) > limit:
        size, most = megabytes(len(upload.content)), megabytes(limit)
        raise InvalidInput(
            field,
            f"文件不能超过{most}MB（此文件{size}MB）",
            f"Files are limited to {most} MB (this one has {size} MB)",
        )
    content_type = next(
        (kind for magic, kind in ACCEPTED_TYPES.items() if upload.content.startswith(magic)), None
    )
    if content_type is None:
        raise InvalidInput(
            field, "只接受PDF、JPG或PNG文件", "Only PDF, JPG or PNG files are accepted"
        )
    name = _UNSAFE_NAME.sub("_", upload.filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1])
    return CheckedFile(
        material_code=upload.material_code,
        filename=name[-FILENAME_LIMIT:] or "upload",
        content=upload.content,
        content_type=content_type,
        sha256=hashlib.sha256(upload.content).hexdigest(),
    )


def check_files(
    rt: Runtime, uploads: list[UploadedFile], fields: dict[str, tuple[str, str]]
) -> list[CheckedFile]:
    """The files that pass; each refusal is added to `fields` (field -> (zh, en))."""
    checked = []
    for upload in uploads:
        try:
            checked.append(check_file(rt, upload))
        except InvalidInput as exc:
            fields.update(exc.fields)
    return checked


def store_file(session: Session, rt: Runtime, *, case_id: int, file: CheckedFile) -> Upload:
    """Store the file and add its row to the session's transaction; neither is kept if that
    transaction does not commit."""
    stored_name = secrets.token_hex(16)
    rt.files.put(session, stored_name, file.content)
    row = Upload(
        case_id=case_id,
        material_code=file.material_code,
        filename=file.filename,
        stored_name=stored_name,
        content_type=file.content_type,
        size=len(file.content),
        sha256=file.sha256,
    )
    session.add(row)
    return row


def uploads_of(session: Session, *, case: Case, materials: set[str] | None = None) -> list[Upload]:
    """The case's uploads; with `materials`, only those of these material codes."""
    rows = session.exec(select(Upload).where(Upload.case_id == case.id)).all()
    return [row for row in rows if materials is None or row.material_code in materials]


def read_file(session: Session, rt: Runtime, upload: Upload) -> bytes:
    """The uploaded file's bytes; NotFound if the store has lost it."""
    return rt.files.get(session, upload.stored_name)


def keep_drafts(
    session: Session,
    rt: Runtime,
    *,
    owner: User,
    applicant: User,
    matter: str,
    uploads: list[UploadedFile],
    refused: set[str],
) -> None:
    """After a submission refused for other reasons, keep the files that passed the checks (not
    those named in `refused`, the form's refused fields) for their uploader, so the form shown
    again does not ask for them; a newer file for a material replaces the kept one. Commits."""
    _prune_drafts(session)
    for upload in uploads:
        if not upload.content or f"material_{upload.material_code}" in refused:
            continue
        try:
            file = check_file(rt, upload)
        except InvalidInput:
            continue
        _keep(session, owner=owner, applicant=applicant, matter=matter, file=file)
    session.commit()


def keep_draft(
    session: Session,
    rt: Runtime,
    *,
    owner: User,
    applicant: User,
    matter: str,
    upload: UploadedFile,
) -> DraftUpload:
    """Check one file (InvalidInput naming `material_<code>` if refused) and keep it for its
    uploader's application, replacing a file kept for the same material; a submission names it
    by its token (`with_drafts`). Commits."""
    file = check_file(rt, upload)
    _prune_drafts(session)
    row = _keep(session, owner=owner, applicant=applicant, matter=matter, file=file)
    session.commit()
    return row


def _prune_drafts(session: Session) -> None:
    session.execute(delete(DraftUpload).where(col(DraftUpload.expires_at) <= utcnow()))


def _keep(
    session: Session, *, owner: User, applicant: User, matter: str, file: CheckedFile
) -> DraftUpload:
    """Add the kept file to the session, in place of one kept for the same material."""
    session.execute(
        delete(DraftUpload).where(
            col(DraftUpload.owner_user_id) == owner.id,
            col(DraftUpload.applicant_user_id) == applicant.id,
            col(DraftUpload.matter) == matter,
            col(DraftUpload.material_code) == file.material_code,
        )
    )
    now = utcnow()
    row = DraftUpload(
        token=secrets.token_urlsafe(24),
        owner_user_id=owner.id,
        applicant_user_id=applicant.id,
        matter=matter,
        material_code=file.material_code,
        filename=file.filename,
        content_type=file.content_type,
        size=len(file.content),
        sha256=file.sha256,
        content=file.content,
        created_at=now,
        expires_at=now + timedelta(hours=DRAFT_HOURS),
    )
    session.add(row)
    return row


def drafts_of(
    session: Session, *, owner: User, applicant: User, matter: str
) -> dict[str, DraftUpload]:
    """The files kept for this uploader's application, by material code (unexpired only)."""
    rows = session.exec(
        select(DraftUpload).where(
            DraftUpload.owner_user_id == owner.id,
            DraftUpload.applicant_user_id == applicant.id,
            DraftUpload.matter == matter,
            col(DraftUpload.expires_at) > utcnow(),
        )
    ).all()
    return {row.material_code: row for row in rows}


def with_drafts(
    session: Session,
    *,
    owner: User,
    applicant: User,
    matter: str,
    uploads: list[UploadedFile],
    tokens: dict[str, str],
    strict: bool = False,
) -> list[UploadedFile]:
    """The files of a submission: those chosen now, and for each other material the kept file
    the form names (`tokens`: material code -> draft token) if it is this uploader's. A token
    that names no such file is passed over (the form then asks for the material), or with
    `strict` (an API client naming its uploads) refused: InvalidInput naming each material."""
    chosen = {u.material_code for u in uploads if u.content}
    kept = drafts_of(session, owner=owner, applicant=applicant, matter=matter) if tokens else {}
    files = list(uploads)
    unknown: dict[str, tuple[str, str]] = {}
    for code, token in tokens.items():
        draft = kept.get(code)
        if draft is None or not secrets.compare_digest(draft.token.encode(), token.encode()):
            unknown[f"material_{code}"[:80]] = _UNKNOWN_TOKEN
            continue
        if code not in chosen:
            files.append(UploadedFile(code, draft.filename, draft.content, draft=True))
    if strict and unknown:
        first = next(iter(unknown))
        raise InvalidInput(first, *unknown[first], fields=unknown)
    return files


_UNKNOWN_TOKEN = (
    "上传凭证无效或已过期（24小时），请重新上传该材料",
    "The upload token is unknown or expired (24 hours): upload the material again",
)


def discard_drafts(
    session: Session,
    *,
    owner: User,
    applicant: User,
    matter: str,
    materials: set[str] | None = None,
) -> None:
    """The application (or a correction) was submitted: its kept files go, those of `materials`
    only if given (in the caller's transaction)."""
    query = delete(DraftUpload).where(
        col(DraftUpload.owner_user_id) == owner.id,
        col(DraftUpload.applicant_user_id) == applicant.id,
        col(DraftUpload.matter) == matter,
    )
    if materials is not None:
        query = query.where(col(DraftUpload.material_code).in_(materials))
    session.execute(query)
