"""The service catalog over the API: facts, items and matters, their versions, diff and
rollback, and the export as TOML files (the pages: web/routes/catalog.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from services.accounts.models import User
from services.accounts.service import actor_names
from services.configuration import catalog as editing
from services.runtime import Runtime
from web.api.admin import too_large
from web.api.admin_replay import ReplayPublic, replay_public
from web.api.routing import api_router
from web.deps import AdminUser, Code, CsrfChecked, RuntimeDep, SessionDep
from web.limits import body_limit
from web.openapi import answers

router = api_router(prefix="/admin/catalog", tags=["api: admin"])

Kind = Literal["fact", "item", "matter"]
VersionNumber = Annotated[int, Path(ge=0, le=1_000_000, description="0: the catalog as shipped")]
ENTRY_LIMIT = 200_000  # the largest entry a save carries (an item with many materials is ~10 KB)


class CatalogEntryRow(BaseModel):
    """One fact, item or matter on the catalog's list."""

    kind: Kind
    code: str
    name: str
    name_en: str
    detail: str = Field(description="A fact's type, an item's department, a matter's item count")


class CatalogPublic(BaseModel):
    """The catalog as applications see it now."""

    version: int = Field(description="The current version (0: as shipped)")
    facts: list[CatalogEntryRow]
    items: list[CatalogEntryRow]
    matters: list[CatalogEntryRow]


class EntryPublic(BaseModel):
    """One entry as saved: the fields of a FactDraft, ItemDraft or MatterDraft."""

    kind: Kind
    code: str
    version: int = Field(description="The version read; send it back as `base` when saving")
    data: dict[str, Any]


class EntryIn(BaseModel):
    """A new or changed entry: `data` holds the fields of a FactDraft, ItemDraft or MatterDraft
    (see the catalog files in forms/catalog/ for their meaning); unknown fields are refused."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "data": {
                        "subject": "applicant",
                        "label": "犬只品种",
                        "label_en": "Dog breed",
                        "type": "text",
                    },
                    "comment": "养犬登记要问品种",
                    "base": 3,
                }
            ]
        },
    )

    data: dict[str, Any]
    comment: str = Field(default="", max_length=500)
    base: int | None = Field(
        default=None, description="The version edited; a save on top of a newer one is refused"
    )


class NewEntryIn(EntryIn):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "code": "dog_breed",
                    "data": {"subject": "applicant", "label": "犬只品种", "type": "text"},
                    "comment": "养犬登记要问品种",
                }
            ]
        },
    )

    code: str = Field(pattern=editing.CODE_PATTERN, examples=["pet_licence"])


class CatalogSavedPublic(BaseModel):
    version: int = Field(description="The new current version")
    kind: Literal["fact", "item", "matter", "rollback"]
    code: str = Field(description="The entry saved, or the version restored")


class CatalogVersionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    what: str = Field(description="item:<code>, fact:<code>, matter:<code> or rollback:<n>")
    author_user_id: int
    author: str | None = None
    comment: str
    created_at: datetime


class CatalogFieldChangePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    field: str
    old: str
    new: str


class CatalogEntryChangePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: Kind
    code: str
    change: Literal["added", "removed", "changed"]
    fields: list[CatalogFieldChangePublic]


class CatalogDiffPublic(BaseModel):
    old: int
    new: int
    changes: list[CatalogEntryChangePublic]


class CatalogRollbackIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"comment": "撤销误改"}]}
    )

    comment: str = Field(default="", max_length=500)


class CatalogReplayIn(BaseModel):
    """An unsaved change of one entry (as for saving it) and how many of each reached
    matter's newest cases to replay it on."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "item",
                    "code": "market_business_licence",
                    "data": {"name": "经营主体设立登记（营业执照）", "time_limit_days": 5},
                    "limit": 20,
                }
            ]
        },
    )

    kind: Kind
    code: str = Field(pattern=editing.CODE_PATTERN)
    data: dict[str, Any]
    new: bool = Field(default=False, description="The entry does not exist yet")
    limit: int = Field(default=20, ge=1, le=200, description="Cases per matter, newest first")


def catalog_public(session: Session, rt: Runtime) -> CatalogPublic:
    catalog = rt.catalog
    departments = catalog.departments
    return CatalogPublic(
        version=editing.current_number(session),
        facts=[
            CatalogEntryRow(
                kind="fact", code=f.key, name=f.label, name_en=f.label_en, detail=f.type
            )
            for f in catalog.facts.values()
        ],
        items=[
            CatalogEntryRow(
                kind="item",
                code=i.code,
                name=i.name,
                name_en=i.name_en,
                detail=departments[i.department].name if i.department in departments else "",
            )
            for i in catalog.items.values()
        ],
        matters=[
            CatalogEntryRow(
                kind="matter",
                code=m.code,
                name=m.name,
                name_en=m.name_en,
                detail=str(len(m.items)),
            )
            for m in catalog.matters.values()
        ],
    )


def versions_public(session: Session, limit: int = 100) -> list[CatalogVersionPublic]:
    rows = editing.versions(session, limit=limit)
    names = actor_names(session, rows, column="author_user_id")
    return [
        CatalogVersionPublic.model_validate(row).model_copy(
            update={"author": names.get(row.author_user_id)}
        )
        for row in rows
    ]


def diff_public(session: Session, number: int, against: int | None = None) -> CatalogDiffPublic:
    """What version `number` changed against `against` (default: the version before it)."""
    old = number - 1 if against is None else against
    if number < 0 or old < 0:
        old = 0
    changes = editing.diff(editing.document_at(session, old), editing.document_at(session, number))
    return CatalogDiffPublic(
        old=old,
        new=number,
        changes=[CatalogEntryChangePublic.model_validate(c) for c in changes],
    )


@router.get("", response_model=CatalogPublic)
def catalog(user: AdminUser, session: SessionDep, rt: RuntimeDep):
    """Every fact, item and matter as applications see them now."""
    return catalog_public(session, rt)


@router.get("/versions", response_model=list[CatalogVersionPublic])
def catalog_versions(user: AdminUser, session: SessionDep):
    """The saved versions, newest first (version 0, as shipped, is not listed)."""
    return versions_public(session)


@router.get("/versions/{number}", response_model=CatalogDiffPublic)
def catalog_version(
    number: VersionNumber,
    user: AdminUser,
    session: SessionDep,
    against: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
):
    """What a version changed, entry by entry and field by field, against the one before it
    (or `against`)."""
    return diff_public(session, number, against)


@router.post(
    "/versions/{number}/rollback",
    response_model=CatalogSavedPublic,
    dependencies=[CsrfChecked],
    responses=too_large(),
)
def catalog_rollback(
    number: VersionNumber,
    body: CatalogRollbackIn,
    user: AdminUser,
    session: SessionDep,
    rt: RuntimeDep,
):
    """Make version `number` (0: as shipped) current again, as a new version; matters made
    since stay (cases may name them). New applications follow it."""
    saved = editing.rollback(session, rt, user=user, number=number, comment=body.comment)
    return CatalogSavedPublic(version=saved.number, kind="rollback", code=str(number))


@router.get(
    "/export",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "The catalog files"}},
)
@answers(404)
def catalog_export(
    user: AdminUser,
    session: SessionDep,
    version: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
):
    """The catalog of `version` (default: the current one) as the TOML files it is seeded from
    (dictionary.toml, items/*.toml, matters/*.toml), zipped."""
    return export_response(session, version)


def export_response(session: Session, version: int | None = None) -> Response:
    """The catalog files of `version` (None: the current one), zipped, as a download."""
    number = editing.current_number(session) if version is None else version
    content = editing.export_zip(editing.document_at(session, number), number)
    return Response(
        content,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="catalog-v{number}.zip"'},
    )


@router.post(
    "/replay",
    response_model=list[ReplayPublic],
    dependencies=[CsrfChecked],
    responses=too_large(ENTRY_LIMIT),
)
@body_limit(ENTRY_LIMIT)
@answers(404)
def catalog_replay(body: CatalogReplayIn, user: AdminUser, session: SessionDep, rt: RuntimeDep):
    """Replay an unsaved change on the newest cases of every matter it reaches (the matter
    itself, the matters combining an item, those whose items ask a fact): which cases would
    route differently, which items appear or vanish, how deadlines move. Nothing is saved;
    each case read is logged for its applicant to see."""
    return replay_all(session, rt, user, body.kind, body.code, body.data, body.new, body.limit)


def replay_all(
    session: Session,
    rt: Runtime,
    user: User,
    kind: str,
    code: str,
    data: dict,
    new: bool,
    limit: int,
) -> list[ReplayPublic]:
    results = editing.preview(
        session, rt, user=user, kind=kind, code=code, data=data, new=new, limit=limit
    )
    return [replay_public(rt, result) for result in results]


@router.get("/{kind}/{code}", response_model=EntryPublic)
def catalog_entry(kind: Kind, code: Code, user: AdminUser, session: SessionDep):
    """One fact, item or matter as saved in the current version."""
    return entry_public(session, kind, code)


def entry_public(session: Session, kind: str, code: str) -> EntryPublic:
    number = editing.current_number(session)
    data = editing.entry(session, kind, code, number)
    return EntryPublic(kind=kind, code=code, version=number, data=data)


def save(
    session: Session,
    rt: Runtime,
    user: User,
    kind: str,
    code: str,
    body: EntryIn,
    *,
    new: bool,
) -> CatalogSavedPublic:
    saved = editing.save(
        session,
        rt,
        user=user,
        kind=kind,
        code=code,
        data=body.data,
        comment=body.comment,
        new=new,
        base=body.base,
    )
    return CatalogSavedPublic(version=saved.number, kind=kind, code=code)


@router.post(
    "/{kind}",
    response_model=CatalogSavedPublic,
    status_code=201,
    dependencies=[CsrfChecked],
    responses=too_large(ENTRY_LIMIT),
)
@body_limit(ENTRY_LIMIT)
def catalog_create(
    kind: Kind, body: NewEntryIn, user: AdminUser, session: SessionDep, rt: RuntimeDep
):
    """Add a fact, item or matter: checked field by field and against the whole catalog, saved
    as a new version; new applications see it (a new matter starts unpublished)."""
    return save(session, rt, user, kind, body.code, body, new=True)


@router.put(
    "/{kind}/{code}",
    response_model=CatalogSavedPublic,
    dependencies=[CsrfChecked],
    responses=too_large(ENTRY_LIMIT),
)
@body_limit(ENTRY_LIMIT)
@answers(409)
def catalog_update(
    kind: Kind, code: Code, body: EntryIn, user: AdminUser, session: SessionDep, rt: RuntimeDep
):
    """Change a fact, item or matter, as a new version (409 when `base` is not the current
    version any more). Running cases keep what they were submitted with."""
    return save(session, rt, user, kind, code, body, new=False)
