"""Certificates over the API: anyone holding one can check it is genuine."""

from __future__ import annotations

from web.api.routing import api_router
from web.deps import Code, RuntimeDep, SessionDep
from web.routes.verify import _verify

router = api_router(tags=["api: certificates"])


@router.get("/certificates/{public_id}/verification")
def verify_api(public_id: Code, session: SessionDep, rt: RuntimeDep) -> dict:
    """The same check as JSON (masked facts only)."""
    result = _verify(session, rt, public_id, None)
    return {
        "valid": result.valid,
        "genuine": result.genuine,
        "revoked": result.revoked,
        "number": result.number,
        "item": result.item_name,
        "holder": result.holder_name,
        "holder_id_number": result.holder_id_number,
        "issuer": result.issuer_name,
        "issued_on": result.issued_on.isoformat(),
        "key_id": result.key_id,
    }
