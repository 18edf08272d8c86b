"""The signed-in citizen's own records over the API: who read their data."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from forms.sources import registry_name
from services.accounts.service import actor_names
from services.cases.schemas import DataAccessPublic
from services.registries.service import accesses_to
from web.api.routing import api_router
from web.deps import CitizenUser, SessionDep, read_only

router = api_router(tags=["api: me"])


@router.get("/me/data-access", response_model=list[DataAccessPublic])
@read_only
def data_access(
    user: CitizenUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 200,
):
    """Every read of the citizen's records, newest first: registry lookups (with the case they
    were for) and staff opening their cases (with the reason)."""
    accesses = accesses_to(session, id_number=user.id_number, limit=limit)
    names = actor_names(session, accesses)
    return [
        DataAccessPublic(
            at=access.at,
            registry=access.source_registry,
            registry_name=registry_name(access.source_registry),
            registry_name_en=registry_name(access.source_registry, "en"),
            actor=names.get(access.actor_user_id, "系统"),
            record_id=access.record_id,
            purpose=access.purpose,
            case_number=access.case_number,
        )
        for access in accesses
    ]
