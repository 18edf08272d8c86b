"""Certificates over the API: anyone holding one can check it is genuine, by its public id or
by the file itself (no sign-in)."""

from __future__ import annotations

from typing import Annotated

from fastapi import File, Form, UploadFile
from starlette.concurrency import run_in_threadpool

from services.cases.schemas import CertificateCheck, ErrorPublic, FileVerification
from services.certificates.service import (
    Verification,
    check_certificate_file,
    verification_url,
    verify_certificate,
)
from services.runtime import Runtime
from web.api.routing import api_router
from web.deps import Code, RuntimeDep, SessionDep
from web.limits import FORM_SLACK, body_limit
from web.openapi import answers

router = api_router(tags=["api: certificates"])
MAX_PDF = 5 * 1024 * 1024  # a certificate file checked (ours are a few KB)


@router.get("/certificates/{public_id}/verification", response_model=CertificateCheck)
def verify_api(public_id: Code, session: SessionDep, rt: RuntimeDep):
    """The certificate's public check (what its QR code opens), as JSON: masked facts only."""
    found = verify_certificate(session, public_id=public_id, pdf=None, keys=rt.keys)
    return certificate_check(rt, found)


@router.post(
    "/verify",
    response_model=FileVerification,
    responses={413: {"model": ErrorPublic, "description": "The request is over 5 MB and 256 KB"}},
)
@body_limit(MAX_PDF + FORM_SLACK)
@answers(404)
async def verify_file(
    file: Annotated[UploadFile, File(description="The certificate PDF someone was given")],
    session: SessionDep,
    rt: RuntimeDep,
    public_id: Annotated[
        str | None,
        Form(
            max_length=64,
            pattern=r"^[A-Za-z0-9_.-]+$",
            description="The certificate's public id, if known (from its QR code); without it "
            "the file is matched by its content and the number it carries",
            examples=["Jx3v9QeLk2mZp7RtYw4aBg"],
        ),
    ] = None,
):
    """Check a certificate file (multipart: `file`, optional `public_id`, at most 5 MB): is
    it `genuine` (the very file issued, our signature valid), `altered` (it names one of our
    certificates but is not that file) or `unknown` (it names none)? With what the certificate
    certifies, masked facts only. A `public_id` that names no certificate: 404."""
    pdf = await file.read(MAX_PDF + 1)
    return await run_in_threadpool(_check_file, session, rt, pdf[:MAX_PDF], public_id)


def _check_file(session, rt: Runtime, pdf: bytes, public_id: str | None) -> FileVerification:
    found = check_certificate_file(session, pdf=pdf, public_id=public_id, keys=rt.keys)
    return FileVerification(
        verdict=found.verdict,
        certificate=certificate_check(rt, found.verification) if found.verification else None,
    )


def certificate_check(rt: Runtime, found: Verification) -> CertificateCheck:
    return CertificateCheck(
        valid=found.valid,
        genuine=found.genuine,
        revoked=found.revoked,
        number=found.number,
        item=found.item_name,
        holder=found.holder_name,
        holder_id_number=found.holder_id_number,
        issuer=found.issuer_name,
        issued_on=found.issued_on,
        key_id=found.key_id,
        verify_url=verification_url(rt.settings.public_base_url, found.public_id),
    )
