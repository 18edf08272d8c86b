"""Public verification of electronic certificates: anyone holding one can check it is genuine."""

from __future__ import annotations

from fastapi import APIRouter, Request, UploadFile
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from services.certificates.service import check_certificate_file, verify_certificate
from web.api.certificates import MAX_PDF
from web.api.routing import twin
from web.deps import Code, RuntimeDep, SessionDep
from web.limits import FORM_SLACK, body_limit
from web.openapi import answers
from web.rendering import render

router = APIRouter(tags=["verification"], default_response_class=HTMLResponse)


@router.get("/verify/{public_id}")
@twin("GET /api/v1/certificates/{public_id}/verification")
def verify_page(request: Request, public_id: Code, session: SessionDep, rt: RuntimeDep):
    """What the QR code opens: is this certificate genuine, and what does it certify?"""
    result = verify_certificate(session, public_id=public_id, pdf=None, keys=rt.keys)
    return render(request, "verify.html", result=result, public_id=public_id)


@router.post("/verify/{public_id}")
@twin("POST /api/v1/verify")
@body_limit(MAX_PDF + FORM_SLACK)
@answers(200)
async def verify_upload(
    request: Request, public_id: Code, file: UploadFile, session: SessionDep, rt: RuntimeDep
):
    """Check that a PDF someone was given is this certificate, unaltered."""
    pdf = await file.read(MAX_PDF + 1)
    found = await run_in_threadpool(
        check_certificate_file,
        session,
        pdf=pdf[:MAX_PDF],
        public_id=public_id,
        keys=rt.keys,
    )
    return render(
        request, "verify.html", result=found.verification, public_id=public_id, checked=True
    )
