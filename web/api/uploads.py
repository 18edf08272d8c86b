"""Materials over the API: a file is uploaded on its own (multipart) and kept for its uploader
under a token, which an application or a correction then names; an uploaded material is read
back with its media type."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import File, Form, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from services.cases import access, submission
from services.cases.models import DraftUpload, Upload
from services.cases.schemas import CODE_PATTERN, ErrorPublic, InvalidInputPublic, UploadPublic
from services.cases.uploads import ACCEPTED_TYPES, DRAFT_HOURS, megabytes
from services.config import Settings
from web.api.routing import RowId, api_router
from web.deps import CitizenUser, CsrfChecked, CurrentUser, RuntimeDep, SessionDep
from web.limits import FORM_SLACK, body_limit
from web.openapi import answers

router = api_router(tags=["api: uploads"])
_DEFAULT_LIMIT = Settings.model_fields["upload_limit_bytes"].default
_TYPES = sorted(set(ACCEPTED_TYPES.values()))
_BINARY = {"schema": {"type": "string", "format": "binary"}}


ONE_FILE_TOO_LARGE = {
    413: {
        "model": ErrorPublic,
        "description": "The request is larger than one file at the upload limit and 256 KB",
    }
}


# A scan or material refused (the front desk's and an agent's uploads for someone else)
MATERIAL_REFUSED = {
    422: {
        "model": InvalidInputPublic,
        "description": "The file is empty, too large or not of an accepted type (by "
        "content): named `material_<code>`; or the matter has no such material",
    }
}


def one_material(runtime) -> int:
    """The body limit of an upload: one file at the upload limit, and the form around it."""
    return runtime.settings.upload_limit_bytes + FORM_SLACK


@router.post(
    "/uploads",
    response_model=UploadPublic,
    status_code=201,
    dependencies=[CsrfChecked],
    responses={
        **ONE_FILE_TOO_LARGE,
        422: {
            "model": InvalidInputPublic,
            "description": "The file is empty, larger than the upload limit or not of an "
            "accepted type (by content): named `material_<code>`; or the matter has no such "
            "material (`material`)",
        },
    },
    description=f"""Upload one material's file for an application (or a correction) not yet
sent, as `multipart/form-data` with the fields `matter`, `material` and `file`. The file is
checked and kept for its uploader for {DRAFT_HOURS} hours under the `token` returned; name it
in `materials` when submitting (`POST /api/v1/cases`, or a correction). A newer upload for the
same material replaces the one kept.

Accepted: {", ".join(_TYPES)}, recognised by the file's content (never its name or declared
type); at most the server's upload limit per file (`ONETHING_UPLOAD_LIMIT_BYTES`,
{megabytes(_DEFAULT_LIMIT)} MB by default: `upload.max_bytes` in the form). Any other content
type than multipart is refused (415).""",
)
@body_limit(one_material)
@answers(404)
async def upload(
    matter: Annotated[
        str,
        Form(
            max_length=64,
            pattern=CODE_PATTERN,
            description="The matter's code",
            examples=["employment"],
        ),
    ],
    material: Annotated[
        str,
        Form(
            max_length=64,
            pattern=CODE_PATTERN,
            description="The material's code (the form's checklist)",
            examples=["labor_contract"],
        ),
    ],
    file: Annotated[UploadFile, File(description="The file: PDF, JPEG or PNG")],
    user: CitizenUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    content = await file.read(rt.settings.upload_limit_bytes + 1)  # one byte over: refused
    draft = await run_in_threadpool(
        submission.upload_material,
        session,
        rt,
        user=user,
        matter_code=matter,
        material_code=material,
        filename=file.filename or "upload",
        content=content,
    )
    return upload_public(draft)


def upload_public(draft: DraftUpload) -> UploadPublic:
    """A kept file as the API answers an upload (for the applicant's and the front desk's)."""
    return UploadPublic(
        token=draft.token,
        matter=draft.matter,
        material=draft.material_code,
        filename=draft.filename,
        size=draft.size,
        content_type=draft.content_type,
        expires_at=draft.expires_at,
    )


@router.get(
    "/uploads/{upload_id}",
    response_class=Response,
    responses={
        200: {
            "description": "The file, with the media type recognised when it was uploaded",
            "content": {kind: _BINARY for kind in _TYPES},
        }
    },
)
def read_upload(upload_id: RowId, user: CurrentUser, session: SessionDep, rt: RuntimeDep):
    """An uploaded material of a case: for its applicant, and for the clerks and systems whose
    item needs it (their look is logged, and the applicant sees it)."""
    return upload_response(*access.open_upload(session, rt, user=user, upload_id=upload_id))


def upload_response(upload: Upload, content: bytes) -> Response:
    """An uploaded material, to be shown in a browser: inline with its own media type, in a
    sandbox that runs nothing, never cached."""
    return Response(
        content,
        media_type=upload.content_type,
        headers={
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(upload.filename)}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'",
            "Cache-Control": "private, no-store",
        },
    )
