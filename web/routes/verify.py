"""Public verification of electronic certificates: anyone holding one can check it is genuine."""

from __future__ import annotations

from fastapi import APIRouter, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from services.certificates.service import verify_certificate
from web.deps import Code, RuntimeDep, SessionDep
from web.limits import FORM_SLACK, body_limit
from web.rendering import render

router = APIRouter(tags=["verification"])
MAX_PDF = 5 * 1024 * 1024


def _verify(session, rt, public_id: str, pdf: bytes | None):
    return verify_certificate(
        session, public_id=public_id, pdf=pdf, public_key=rt.signing_key.public_key()
    )


@router.get("/verify/{public_id}")
def verify_page(request: Request, public_id: Code, session: SessionDep, rt: RuntimeDep):
    """What the QR code opens: is this certificate genuine, and what does it certify?"""
    result = _verify(session, rt, public_id, None)
    return render(request, "verify.html", result=result, public_id=public_id)


@router.post("/verify/{public_id}")
@body_limit(MAX_PDF + FORM_SLACK)
async def verify_upload(
    request: Request, public_id: Code, file: UploadFile, session: SessionDep, rt: RuntimeDep
):
    """Check that a PDF someone was given is this certificate, unaltered."""
    pdf = await file.read(MAX_PDF + 1)
    result = await run_in_threadpool(_verify, session, rt, public_id, pdf[:MAX_PDF])
    return render(request, "verify.html", result=result, public_id=public_id, checked=True)
