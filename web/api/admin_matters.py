"""Matter settings over the API: publication on and off, the items each matter routes and when
each applies, with the record of changes (the pages: web/routes/admin_matters.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from services.cases.schemas import NO_NUL
from services.configuration import matters as config
from services.runtime import Runtime
from web.api.admin import ChangePublic, changes_public, too_large
from web.api.routing import api_router
from web.deps import AdminUser, Code, CsrfChecked, RuntimeDep, SessionDep

router = api_router(prefix="/admin/config/matters", tags=["api: admin"])


class MatterRowPublic(BaseModel):
    """A matter on the settings list."""

    code: str
    name: str
    name_en: str
    published: bool = Field(description="Offered to applicants now (online and front desk)")
    items: int = Field(description="Items it routes now")
    added: int = Field(description="Of those, items a deployed process version added")
    conditions: int = Field(description="Items whose condition an administrator set")
    process_version: int | None = Field(
        description="The newest deployed process version (null: the built-in file)"
    )


class ItemSettingPublic(BaseModel):
    """An item of the matter and when it applies."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    name_en: str
    department: str
    in_catalog: bool = Field(
        description="One of the catalog's items (false: added by a deployed process version)"
    )
    catalog_condition: str | None = Field(
        description="The catalog's condition (null: always applies)"
    )
    condition: str | None = Field(
        description="The condition that applies now: a Python expression over the data "
        "dictionary's facts (null: always applies)",
        examples=["mother_maternity_insurance == True"],
    )
    overridden: bool = Field(description="An administrator set the condition")


class MatterChangePublic(ChangePublic):
    what: str = Field(description='"published", or "condition:<item code>"')


class MatterSettingsPublic(BaseModel):
    code: str
    name: str
    name_en: str
    published: bool = Field(description="Offered to applicants now")
    catalog_published: bool = Field(
        description="The catalog publishes it (false: it cannot be switched on)"
    )
    process_version: int | None = Field(
        description="The newest deployed process version (null: the built-in file)"
    )
    items: list[ItemSettingPublic]
    history: list[MatterChangePublic] = Field(description="Changes, newest first")


class PublicationIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"published": False}]})

    published: bool = Field(
        description="Offer the matter to applicants (true) or pause it (false); running cases "
        "are not affected"
    )


class ConditionIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"condition": "mother_maternity_insurance == True"},
                {"condition": ""},
                {"condition": None},
            ]
        }
    )

    condition: str | None = Field(
        max_length=2000,
        pattern=NO_NUL,
        description="When the item applies: a Python expression over the data dictionary's "
        'facts, checked in the sandbox (at most 500 characters); "" always; null restores '
        "the catalog's condition. A refused condition is answered 422 with the message at "
        "`condition_<item code>`",
    )


def _settings(session: Session, rt: Runtime, code: str) -> MatterSettingsPublic:
    found = config.matter_settings(session, rt, code)
    matter = found.matter
    return MatterSettingsPublic(
        code=matter.code,
        name=matter.name,
        name_en=matter.name_en,
        published=matter.published,
        catalog_published=found.catalog_published,
        process_version=found.version.version if found.version else None,
        items=[ItemSettingPublic.model_validate(row) for row in found.items],
        history=changes_public(session, found.history, MatterChangePublic),
    )


@router.get("", response_model=list[MatterRowPublic])
def matter_list(user: AdminUser, session: SessionDep, rt: RuntimeDep):
    """Every catalog matter as offered now."""
    return [
        MatterRowPublic(
            code=row.matter.code,
            name=row.matter.name,
            name_en=row.matter.name_en,
            published=row.matter.published,
            items=len(row.matter.items),
            added=row.added,
            conditions=row.conditions,
            process_version=row.version.version if row.version else None,
        )
        for row in config.matter_rows(session, rt)
    ]


@router.get("/{code}", response_model=MatterSettingsPublic)
def matter_settings(code: Code, user: AdminUser, session: SessionDep, rt: RuntimeDep):
    """A matter's publication, its items with their conditions, and the record of changes."""
    return _settings(session, rt, code)


@router.post(
    "/{code}/publication",
    response_model=MatterSettingsPublic,
    dependencies=[CsrfChecked],
    responses=too_large(),
)
def publication(
    body: PublicationIn, code: Code, user: AdminUser, session: SessionDep, rt: RuntimeDep
):
    """Offer the matter to applicants or pause it (recorded); a matter the catalog does not
    publish cannot be switched on (422)."""
    config.set_published(session, rt, user=user, code=code, published=body.published)
    return _settings(session, rt, code)


@router.post(
    "/{code}/items/{item_code}/condition",
    response_model=MatterSettingsPublic,
    dependencies=[CsrfChecked],
    responses=too_large(),
)
def condition(
    body: ConditionIn,
    code: Code,
    item_code: Code,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """Set when the item applies, or restore the catalog's condition (recorded). New
    applications follow it; running cases are not affected."""
    config.set_condition(
        session, rt, user=user, code=code, item_code=item_code, condition=body.condition
    )
    return _settings(session, rt, code)
