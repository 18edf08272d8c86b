"""A matter as it is offered now: the catalog's definition, the items its newest deployed process
routes, and what administrators configured (publication, item conditions).

The catalog (forms/catalog) fixes a matter's minimum items; a deployed process version may add a
department's item (the editor's "add an item" change), and then the combined form asks that
item's facts and materials too. Administrators switch a matter's publication on and off and may
set, per item, the condition under which it applies (a sandboxed expression over the data
dictionary's facts), or restore the catalog's condition. Every change is kept with who and when.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, Session, SQLModel, col, select

from engine.clock import utcnow
from engine.sandbox import check_expression
from forms.catalog import Catalog, Matter
from services.accounts.models import User
from services.errors import Forbidden, InvalidInput, NotFound
from services.processes import current_version
from services.processes_models import ProcessVersion

if TYPE_CHECKING:
    from engine.specs import ProcessSpec
    from services.runtime import Runtime

CORRECTION = "correction"


class MatterSetting(SQLModel, table=True):
    """What an administrator changed of a matter; no row: the catalog's definition."""

    __tablename__ = "matter_setting"
    matter: str = Field(primary_key=True, max_length=64)
    published: bool = True
    # item code -> condition ("" = always applies); items not named keep the catalog's
    conditions: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by_user_id: int | None = Field(default=None, foreign_key="user_account.id")


class MatterChange(SQLModel, table=True):
    """One change of a matter's configuration: who, when, what, old and new value."""

    __tablename__ = "matter_change"
    id: int | None = Field(default=None, primary_key=True)
    matter: str = Field(max_length=64, index=True)
    user_id: int = Field(foreign_key="user_account.id")
    at: datetime = Field(default_factory=utcnow)
    what: str = Field(max_length=80)  # "published" or "condition:<item code>"
    old: str = Field(default="", max_length=1000)
    new: str = Field(default="", max_length=1000)


def _catalog_matter(rt: Runtime, code: str) -> Matter:
    matter = rt.catalog.matters.get(code)
    if matter is None:
        raise NotFound("没有这项“一件事”服务", f"No matter {code!r}")
    return matter


def _process_items(catalog: Catalog, matter: Matter, spec: ProcessSpec) -> tuple[str, ...]:
    """The items `spec` routes to departments, the catalog's items first."""
    routed = [
        info.item
        for info in spec.user_tasks.values()
        if info.item and info.kind != CORRECTION and info.item in catalog.items
    ]
    extra = [code for code in dict.fromkeys(routed) if code not in matter.items]
    return (*matter.items, *extra)


def configured_matter(
    catalog: Catalog,
    matter: Matter,
    spec: ProcessSpec,
    *,
    conditions: dict[str, str] | None,
    published: bool = True,
) -> Matter:
    """`matter` of `catalog` as applications would see it with process `spec` and the
    administrator's item `conditions` (None: none set): the items `spec` routes added, the
    conditions of those items. Also what a replay of a candidate change builds (services/replay)."""
    items = _process_items(catalog, matter, spec)
    if conditions is None:
        return replace(matter, items=items) if items != matter.items else matter
    return replace(
        matter,
        items=items,
        published=matter.published and published,
        conditions=tuple((k, v) for k, v in sorted(conditions.items()) if k in items),
    )


def offered(session: Session, rt: Runtime, code: str) -> tuple[Matter, ProcessSpec]:
    """The matter `code` as applications see it now, with the process version it was read
    from (the one a new case starts on). NotFound when the catalog has no such matter; an
    unpublished matter is returned with `published=False`."""
    matter = _catalog_matter(rt, code)
    spec = rt.spec_for(matter, session)
    setting = session.get(MatterSetting, code)
    if setting is None:
        return configured_matter(rt.catalog, matter, spec, conditions=None), spec
    effective = configured_matter(
        rt.catalog, matter, spec, conditions=setting.conditions, published=setting.published
    )
    return effective, spec


def matter_conditions(session: Session, code: str) -> dict[str, str] | None:
    """The item conditions an administrator set for matter `code` (None: none set)."""
    setting = session.get(MatterSetting, code)
    return None if setting is None else dict(setting.conditions)


def effective_matter(session: Session, rt: Runtime, code: str) -> Matter:
    """The matter `code` as applications see it now (see `offered`)."""
    return offered(session, rt, code)[0]


def published_matters(session: Session, rt: Runtime) -> list[Matter]:
    """The matters citizens and the front desk may apply for now, in catalog order."""
    settings = {s.matter: s for s in session.exec(select(MatterSetting)).all()}
    return [
        m
        for m in rt.catalog.matters.values()
        if m.published and (m.code not in settings or settings[m.code].published)
    ]


@dataclass(frozen=True)
class MatterRow:
    """A matter on the settings list: as offered now, with what differs from the catalog."""

    matter: Matter  # as applications see it now (see `offered`)
    added: int  # items a deployed process version added to the catalog's
    conditions: int  # items whose condition an administrator set
    version: ProcessVersion | None  # the newest deployed process; None: the file in bpmn/


def matter_rows(session: Session, rt: Runtime) -> list[MatterRow]:
    """Every catalog matter as offered now, in catalog order."""
    rows = []
    for code, catalog_matter in rt.catalog.matters.items():
        matter = effective_matter(session, rt, code)
        rows.append(
            MatterRow(
                matter=matter,
                added=len(matter.items) - len(catalog_matter.items),
                conditions=len(matter.conditions),
                version=current_version(session, matter_code=code),
            )
        )
    return rows


@dataclass(frozen=True)
class ItemRow:
    """An item of a matter on the configuration page."""

    code: str
    name: str
    name_en: str
    department: str
    in_catalog: bool  # the catalog's minimum; False: added by a deployed process version
    catalog_condition: str | None
    condition: str | None  # what applies now
    overridden: bool


def item_rows(session: Session, rt: Runtime, code: str) -> list[ItemRow]:
    matter = effective_matter(session, rt, code)
    overrides = dict(matter.conditions)
    rows = []
    for item_code in matter.items:
        item = rt.catalog.items[item_code]
        rows.append(
            ItemRow(
                code=item.code,
                name=item.name,
                name_en=item.name_en,
                department=item.department,
                in_catalog=item.code in rt.catalog.matters[code].items,
                catalog_condition=item.when,
                condition=matter.condition_of(item),
                overridden=item.code in overrides,
            )
        )
    return rows


def changes(session: Session, *, matter_code: str, limit: int = 50) -> list[MatterChange]:
    query = (
        select(MatterChange)
        .where(MatterChange.matter == matter_code)
        .order_by(col(MatterChange.id).desc())
        .limit(limit)
    )
    return list(session.exec(query).all())


@dataclass(frozen=True)
class MatterSettings:
    """A matter's settings page: the matter as offered now, its items with their conditions,
    the record of changes and the process version it routes by."""

    matter: Matter
    catalog_published: bool  # False: the catalog withholds it, it cannot be switched on
    items: list[ItemRow]
    history: list[MatterChange]  # newest first
    version: ProcessVersion | None  # None: the file in bpmn/


def matter_settings(session: Session, rt: Runtime, code: str) -> MatterSettings:
    """The settings of the matter `code`; NotFound when the catalog has no such matter."""
    return MatterSettings(
        matter=effective_matter(session, rt, code),
        catalog_published=_catalog_matter(rt, code).published,
        items=item_rows(session, rt, code),
        history=changes(session, matter_code=code),
        version=current_version(session, matter_code=code),
    )


def _require_admin(user: User) -> None:
    if user.role != "admin":
        raise Forbidden("只有管理员可以配置“一件事”", "Only administrators configure matters")


def _setting(session: Session, code: str) -> MatterSetting:
    return session.get(MatterSetting, code) or MatterSetting(matter=code)


def _record(session: Session, user: User, setting: MatterSetting, what: str, old: Any, new: Any):
    setting.updated_at = utcnow()
    setting.updated_by_user_id = user.id
    session.add(setting)
    session.add(
        MatterChange(
            matter=setting.matter,
            user_id=user.id,
            what=what,
            old="" if old is None else str(old)[:1000],
            new="" if new is None else str(new)[:1000],
        )
    )


def set_published(session: Session, rt: Runtime, *, user: User, code: str, published: bool):
    """Offer the matter to applicants or withdraw it; running cases are not affected."""
    _require_admin(user)
    matter = _catalog_matter(rt, code)
    if published and not matter.published:
        raise InvalidInput(
            "published",
            "事项目录中该“一件事”尚未发布，不能在此开启",
            "the catalog does not publish this matter; it cannot be switched on here",
        )
    setting = _setting(session, code)
    if setting.published != published:
        _record(session, user, setting, "published", setting.published, published)
        setting.published = published
    session.commit()


def check_condition(rt: Runtime, item_code: str, expression: str) -> None:
    """InvalidInput (field `condition_<item code>`) unless `expression` is a sandbox expression
    of at most 500 characters over the data dictionary's facts."""
    field = f"condition_{item_code}"
    if len(expression) > 500:
        raise InvalidInput(field, "条件过长（最多 500 个字符）", "the condition is too long (500)")
    problems = check_expression(expression)
    if problems:
        raise InvalidInput(
            field,
            f"条件不是允许的表达式：{problems[0]}",
            f"the condition is not an allowed expression: {problems[0]}",
        )
    names = {n.id for n in ast.walk(ast.parse(expression, mode="eval")) if isinstance(n, ast.Name)}
    unknown = sorted(n for n in names if n not in rt.catalog.facts and n not in ("True", "False"))
    if unknown:
        raise InvalidInput(
            field,
            f"条件引用了数据字典中没有的数据项：{'、'.join(unknown)}",
            f"the condition uses names the data dictionary does not have: {', '.join(unknown)}",
        )


def set_condition(
    session: Session, rt: Runtime, *, user: User, code: str, item_code: str, condition: str | None
):
    """Set when `item_code` applies to this matter: an expression, "" (always), or None to
    restore the catalog's condition."""
    _require_admin(user)
    matter = effective_matter(session, rt, code)
    if item_code not in matter.items:
        raise NotFound(f"该“一件事”没有事项 {item_code}", f"the matter has no item {item_code}")
    if condition is not None:
        condition = condition.strip()
        if condition:
            check_condition(rt, item_code, condition)
    setting = _setting(session, code)
    conditions = dict(setting.conditions)
    old = conditions.get(item_code, rt.catalog.items[item_code].when)
    if condition is None:
        conditions.pop(item_code, None)
        new = rt.catalog.items[item_code].when
    else:
        conditions[item_code] = condition
        new = condition
    if conditions != setting.conditions:
        _record(session, user, setting, f"condition:{item_code}", old or "", new or "")
        setting.conditions = conditions  # a new dict: the JSON column sees the change
    session.commit()
