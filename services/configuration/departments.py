"""What administrators configure of a department over the catalog: its display names, its public
service information (address, phone, opening hours) and its supervisors' notification e-mail.

Department codes are fixed by the catalog: the BPMN lanes of the departments' tasks are bound to
them (a lane's `department` property). The settings are applied to the catalog's departments
(`rt.catalog.departments`) at startup and after every change; other server processes pick them up
at their periodic refresh (a cheap check every REFRESH_INTERVAL seconds). Every change is kept with who, when, which field,
the old and the new value.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, func, select

from engine.clock import utcnow
from forms.catalog import Catalog, Department, Item
from services.accounts.models import User
from services.background import refresh_periodically
from services.cases.models import CaseItem
from services.errors import Conflict, InvalidInput, NotFound

# field -> (label, English label, most characters)
FIELDS: dict[str, tuple[str, str, int]] = {
    "name": ("中文名称", "Chinese name", 64),
    "name_en": ("英文名称", "English name", 120),
    "address": ("办公地址", "Address", 200),
    "phone": ("咨询电话", "Phone", 40),
    "opening_hours": ("办公时间", "Opening hours", 200),
    "supervisor_email": ("负责人通知邮箱", "Supervisors' notification e-mail", 254),
}
OPEN_STATUS = "processing"  # a case item the department is working on (待办)
_PHONE = re.compile(r"[0-9+()（）\-\s,，、/转]+")
_EMAIL = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+")


class DepartmentSetting(SQLModel, table=True):
    """What an administrator set of a department; no row: the catalog's definition."""

    __tablename__ = "department_setting"
    code: str = Field(primary_key=True, max_length=32)
    name: str | None = Field(default=None, max_length=64)  # None: the catalog's
    name_en: str | None = Field(default=None, max_length=120)  # None: the catalog's
    address: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=40)
    opening_hours: str = Field(default="", max_length=200)
    supervisor_email: str = Field(default="", max_length=254)
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by_user_id: int | None = Field(default=None, foreign_key="user_account.id")


class DepartmentChange(SQLModel, table=True):
    """One change of a department's settings: who, when, which field, old and new value."""

    __tablename__ = "department_change"
    id: int | None = Field(default=None, primary_key=True)
    department: str = Field(max_length=32, index=True)
    user_id: int = Field(foreign_key="user_account.id")
    at: datetime = Field(default_factory=utcnow)
    what: str = Field(max_length=32)  # a key of FIELDS
    old: str = Field(default="", max_length=300)
    new: str = Field(default="", max_length=300)


# ---------------------------------------------------------------- applying to the catalog

# id(catalog) -> (the catalog, its departments as its files define them); the catalog is kept
# so that its id is never reused while remembered
_catalog_entries: dict[int, tuple[Catalog, dict[str, Department]]] = {}
_load_lock = threading.Lock()
_loaded: tuple[int | None, int] | None = None  # the fingerprint of what is applied


def catalog_departments(catalog: Catalog) -> dict[str, Department]:
    """The catalog's departments as its files define them, before any setting."""
    entry = _catalog_entries.get(id(catalog))
    if entry is None:
        entry = _catalog_entries[id(catalog)] = (catalog, dict(catalog.departments))
    return entry[1]


def _configured(department: Department, setting: DepartmentSetting) -> Department:
    return replace(
        department,
        name=setting.name or department.name,
        name_en=setting.name_en or department.name_en,
        address=setting.address,
        phone=setting.phone,
        opening_hours=setting.opening_hours,
        supervisor_email=setting.supervisor_email,
    )


def apply_settings(catalog: Catalog, settings: Iterable[DepartmentSetting]) -> None:
    """Make `catalog.departments` the catalog's definitions with `settings` over them (settings
    of codes the catalog no longer has are ignored)."""
    by_code = {setting.code: setting for setting in settings}
    for code, department in catalog_departments(catalog).items():
        setting = by_code.get(code)
        catalog.departments[code] = (
            department if setting is None else _configured(department, setting)
        )


def _fingerprint(session: Session) -> tuple[int | None, int]:
    last = session.exec(select(func.max(DepartmentChange.id))).one()
    count = session.exec(select(func.count()).select_from(DepartmentSetting)).one()
    return last, count


def _load(session: Session, catalog: Catalog) -> None:
    global _loaded
    fingerprint = _fingerprint(session)  # read first: a change in between reloads again later
    apply_settings(catalog, session.exec(select(DepartmentSetting)).all())
    _loaded = fingerprint


def load_department_overrides(db: Engine, catalog: Catalog, *, keep_fresh: bool = False) -> Catalog:
    """Apply the stored settings to `catalog`'s departments and return the catalog.
    `keep_fresh`: from now on, apply them again in this process whenever another one changed
    them."""
    with Session(db) as session, _load_lock:
        _load(session, catalog)
    if keep_fresh:
        refresh_periodically(
            "departments", db, lambda current: refresh_department_overrides(current, catalog)
        )
    return catalog


def refresh_department_overrides(db: Engine, catalog: Catalog) -> bool:
    """Apply the settings again if they changed since the last time (two small queries when
    they did not); True when applied."""
    with Session(db) as session, _load_lock:
        if _fingerprint(session) == _loaded:
            return False
        _load(session, catalog)
        return True


# ---------------------------------------------------------------- the pages


@dataclass(frozen=True)
class DepartmentRow:
    department: Department  # as configured now
    catalog: Department  # as the catalog defines it
    clerks: int  # active clerks who are not supervisors
    supervisors: int  # active supervisors
    items: list[Item]  # the catalog items the department handles
    open_tasks: int  # case items in progress in its queue


def _department(catalog: Catalog, code: str) -> Department:
    department = catalog.departments.get(code)
    if department is None:
        raise NotFound(f"没有部门 {code}", f"no department {code}")
    return department


def department_rows(
    session: Session, catalog: Catalog, *, code: str | None = None
) -> list[DepartmentRow]:
    """Every department (or the one `code`) in catalog order, with its staff, items and open
    tasks counted in SQL."""
    if code is not None:
        _department(catalog, code)
    staff_query = select(User.department, User.supervisor, func.count()).where(
        User.role == "clerk", col(User.active).is_(True)
    )
    tasks_query = select(CaseItem.department, func.count()).where(CaseItem.status == OPEN_STATUS)
    if code is not None:
        staff_query = staff_query.where(User.department == code)
        tasks_query = tasks_query.where(CaseItem.department == code)
    staff: dict[tuple[str | None, bool], int] = {
        (department, bool(supervisor)): count
        for department, supervisor, count in session.exec(
            staff_query.group_by(User.department, User.supervisor)
        ).all()
    }
    tasks = dict(session.exec(tasks_query.group_by(CaseItem.department)).all())
    originals = catalog_departments(catalog)
    return [
        DepartmentRow(
            department=department,
            catalog=originals.get(department.code, department),
            clerks=staff.get((department.code, False), 0),
            supervisors=staff.get((department.code, True), 0),
            items=[item for item in catalog.items.values() if item.department == department.code],
            open_tasks=tasks.get(department.code, 0),
        )
        for department in catalog.departments.values()
        if code is None or department.code == code
    ]


def changes(
    session: Session, *, code: str | None = None, limit: int = 50
) -> list[DepartmentChange]:
    """Changes of one department's settings (or of all), newest first."""
    query = select(DepartmentChange).order_by(col(DepartmentChange.id).desc()).limit(limit)
    if code is not None:
        query = query.where(DepartmentChange.department == code)
    return list(session.exec(query).all())


# ---------------------------------------------------------------- changes


def _phone_ok(phone: str) -> bool:
    return bool(_PHONE.fullmatch(phone)) and sum(c.isdigit() for c in phone) >= 3


def _checked(values: dict[str, str]) -> dict[str, str]:
    """The values on one line each, checked; InvalidInput names every bad field."""
    cleaned = {key: " ".join(values.get(key, "").split()) for key in FIELDS}
    problems: dict[str, tuple[str, str]] = {}
    for key, (label, label_en, limit) in FIELDS.items():
        if len(cleaned[key]) > limit:
            problems[key] = (
                f"{label}最多 {limit} 个字符",
                f"the {label_en} may have at most {limit} characters",
            )
    phone = cleaned["phone"]
    if phone and "phone" not in problems and not _phone_ok(phone):
        problems["phone"] = (
            "电话只能包含数字、空格、+、-、括号，多个号码用逗号或顿号分开，如 021-12345678",
            "a phone number has digits, spaces, +, - and brackets; separate several with "
            "commas, e.g. 021-12345678",
        )
    email = cleaned["supervisor_email"]
    if email and "supervisor_email" not in problems and not _EMAIL.fullmatch(email):
        problems["supervisor_email"] = (
            "请填写一个有效的电子邮箱地址，如 lead@example.gov.cn",
            "enter one valid e-mail address, e.g. lead@example.gov.cn",
        )
    if problems:
        field = next(iter(problems))
        zh, en = problems[field]
        raise InvalidInput(field, zh, en, fields=problems)
    return cleaned


def update_department(
    session: Session,
    catalog: Catalog,
    *,
    user: User,
    code: str,
    values: Mapping[str, str | None],
) -> int:
    """Set a department's fields (keys of FIELDS): its names (blank: the catalog's), service
    information and supervisors' e-mail; a field not given (or None) keeps its value. All or
    nothing; returns how many fields changed."""
    _department(catalog, code)
    original = catalog_departments(catalog)[code]
    setting = session.get(DepartmentSetting, code) or DepartmentSetting(code=code)
    before = _configured(original, setting)
    new = _checked(
        {key: getattr(before, key) if values.get(key) is None else values[key] for key in FIELDS}
    )
    after = _configured(original, DepartmentSetting(code=code, **new))
    changed = [key for key in FIELDS if getattr(before, key) != getattr(after, key)]
    if not changed:
        return 0
    for key in changed:
        session.add(
            DepartmentChange(
                department=code,
                user_id=user.id,
                what=key,
                old=getattr(before, key)[:300],
                new=getattr(after, key)[:300],
            )
        )
    setting.name = None if after.name == original.name else after.name
    setting.name_en = None if after.name_en == original.name_en else after.name_en
    setting.address, setting.phone = after.address, after.phone
    setting.opening_hours, setting.supervisor_email = after.opening_hours, after.supervisor_email
    setting.updated_at, setting.updated_by_user_id = utcnow(), user.id
    session.add(setting)
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(
            "另一位管理员同时修改了该部门，请刷新页面后重试",
            "another administrator changed this department at the same time: reload and try again",
        ) from exc
    with _load_lock:
        _load(session, catalog)
    return len(changed)
