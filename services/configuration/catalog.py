"""The service catalog as data administrators edit: data-dictionary facts, service items and
matters, saved as numbered versions (who, when, why, what changed), diffed, rolled back and
exported as the TOML files the catalog is seeded from.

Version 0 is the catalog shipped in forms/catalog/ (the seed); every save stores the whole
catalog document anew (a few hundred kilobytes at most), so any version can be read, compared
and restored on its own. A save is checked by the same loader that checks the files
(`forms.catalog.build_catalog`), after the edit's own fields were checked here by allow-list
(`FactDraft`, `ItemDraft`, `MatterDraft`: unknown fields are refused). What is saved takes
effect for new applications only: a case keeps the items, facts, materials and time limits it
was submitted with (they are stored with it at submission), and running processes keep their
version.

Facts and items are never deleted (old cases name them); an item leaves a matter by being
taken out of the matter's items. An item's department and code, a fact's key and type, and a
matter's code are fixed once saved: processes, stored answers and result data refer to them.
"""

from __future__ import annotations

import copy
import io
import json
import re
import threading
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic import Field as Bounds
from sqlalchemy import JSON, Column, UniqueConstraint, event, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from engine.clock import utcnow
from engine.sandbox import check_expression
from forms.catalog import (
    FACT_TYPES,
    Catalog,
    CatalogError,
    build_catalog,
    read_document,
)
from forms.sources import REGISTRIES
from services.accounts.models import User
from services.background import refresh_periodically
from services.errors import Conflict, Forbidden, InvalidInput, NotFound

if TYPE_CHECKING:
    from services.runtime import Runtime

KINDS = ("fact", "item", "matter")
SECTION = {"fact": "facts", "item": "items", "matter": "matters"}
KIND_NAMES = {"fact": ("数据项", "fact"), "item": ("事项", "item"), "matter": ("一件事", "matter")}
CODE_PATTERN = r"^[a-z][a-z0-9_]{1,63}$"  # a key the BPMN and the sandbox can name as a variable
MAX_DOCUMENT_BYTES = 2_000_000


class CatalogVersion(SQLModel, table=True):
    """One saved state of the whole catalog, numbered 1, 2, … (0 is the shipped seed); never
    changed after."""

    __tablename__ = "catalog_version"
    __table_args__ = (UniqueConstraint("number", name="uq_catalog_version_number"),)
    id: int | None = Field(default=None, primary_key=True)
    number: int
    document: dict = Field(sa_column=Column(JSON, nullable=False))
    what: str = Field(max_length=200)  # "item:police_birth_registration", "rollback:3"…
    author_user_id: int = Field(foreign_key="user_account.id")
    comment: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)


@event.listens_for(CatalogVersion, "before_update")
@event.listens_for(CatalogVersion, "before_delete")
def _refuse_change(_mapper, _connection, target: CatalogVersion) -> None:
    raise ValueError(f"catalog version {target.number} is immutable")


# ---------------------------------------------------------------- what an edit may say

Code = Annotated[str, StringConstraints(pattern=CODE_PATTERN)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Long = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Expression = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class _Draft(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OptionDraft(_Draft):
    value: Short
    label: Short
    label_en: Label = ""


class FactDraft(_Draft):
    """A data-dictionary fact: whom it is about (a form section), its labels and help, its type
    (which decides how it is checked), the registry that supplies it and when it is required."""

    subject: Code
    label: Short
    label_en: Label = ""
    type: str
    source: str = ""
    options: list[OptionDraft] = []
    help: Long = ""
    help_en: Long = ""
    required_if: Expression = ""
    optional: bool = False

    @model_validator(mode="after")
    def _check(self) -> FactDraft:
        if self.type not in FACT_TYPES:
            raise ValueError(f"type: one of {', '.join(sorted(FACT_TYPES))}")
        if self.source and self.source not in REGISTRIES:
            raise ValueError(f"source: one of {', '.join(REGISTRIES)} or empty")
        if self.type == "enum" and not self.options:
            raise ValueError("options: a choice needs its options")
        if self.type != "enum" and self.options:
            raise ValueError("options: only a choice (enum) has options")
        return self


class MaterialDraft(_Draft):
    code: Code
    name: Short
    name_en: Label = ""
    source: str = ""  # a registry whose e-certificate stands for the upload; empty: uploaded
    evidence: list[Code] = []  # the facts that identify the certificate in that registry
    when: Expression = ""


class ConditionalFactsDraft(_Draft):
    when: Expression
    facts: list[Code]


class ResultDraft(_Draft):
    key: Code
    label: Short
    label_en: Label = ""
    type: str = "text"
    required: bool = False
    max_length: int | None = None  # none: 18 for an ID or credit code, else 100
    born: str = ""


class HolderDraft(_Draft):
    label: Short
    label_en: Label = ""
    name: Code
    id: list[Code]
    id_label: list[Short]
    id_label_en: list[Label] = []

    @field_validator("id", "id_label", "id_label_en", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value  # the files allow a single one


class ItemDraft(_Draft):
    """A service item (事项): who handles it, under which law, in how many working days, what
    it asks and accepts, why it may be refused and what document it issues."""

    name: Short
    name_en: Label = ""
    department: Code
    legal_basis: Long
    legal_basis_en: Long
    time_limit_days: Annotated[int, Bounds(ge=0, le=365)]
    fee: Short = "免费"
    steps: list[Short] = []
    facts: list[Code]
    facts_if: list[ConditionalFactsDraft] = []
    materials: list[MaterialDraft] = []
    when: Expression = ""
    in_person: bool = False
    reject_reasons: list[Short] = []
    document: Label = ""
    document_en: Label = ""
    holder: HolderDraft | None = None
    results: list[ResultDraft] = []


class MatterDraft(_Draft):
    """A matter (一件事): its names and summary, the items it combines and the facts that say
    what an application is about (one open case per subject)."""

    name: Short
    name_en: Label = ""
    summary: Long = ""
    summary_en: Long = ""
    items: list[Code]
    subjects: list[Code] = ["applicant"]
    subject_key: list[Code] = []
    published: bool = False


DRAFTS: dict[str, type[_Draft]] = {"fact": FactDraft, "item": ItemDraft, "matter": MatterDraft}


def _raw(draft: _Draft) -> dict[str, Any]:
    """A draft as the catalog files spell it: empty optional values left out."""
    data = draft.model_dump()

    def prune(value: Any) -> Any:
        if isinstance(value, dict):  # `published` defaults to true in the files: kept
            return {
                k: prune(v)
                for k, v in value.items()
                if not (v in ("", None, []) or (v is False and k != "published"))
            }
        if isinstance(value, list):
            return [prune(v) for v in value]
        return value

    return prune(data)


# ---------------------------------------------------------------- versions


@cache
def _seed() -> dict:
    return read_document()


def seed_document() -> dict:
    """The shipped catalog (version 0), a copy the caller may change."""
    return copy.deepcopy(_seed())


def current(session: Session) -> CatalogVersion | None:
    """The newest saved version; None: the seed applies."""
    query = select(CatalogVersion).order_by(col(CatalogVersion.number).desc()).limit(1)
    return session.exec(query).first()


def current_number(session: Session) -> int:
    return session.exec(select(func.max(CatalogVersion.number))).one() or 0


def document_at(session: Session, number: int) -> dict:
    """The catalog document of version `number` (0: the seed), a copy."""
    if number == 0:
        return seed_document()
    row = session.exec(select(CatalogVersion).where(CatalogVersion.number == number)).first()
    if row is None:
        raise NotFound(f"没有目录版本 {number}", f"no catalog version {number}")
    return copy.deepcopy(row.document)


def versions(session: Session, *, limit: int = 100) -> list[CatalogVersion]:
    query = select(CatalogVersion).order_by(col(CatalogVersion.number).desc()).limit(limit)
    return list(session.exec(query).all())


# ---------------------------------------------------------------- checking

_WHERE = re.compile(r"^[^:]+: (?:item|fact|result|matter) [^:]+: ")


def _problems_of(error: CatalogError, kind: str, code: str) -> list[str]:
    """The loader's problems about the entry being saved first, the rest after."""
    own = [p for p in error.problems if f"{kind} {code}" in p or f"{SECTION[kind]}/{code}" in p]
    return own + [p for p in error.problems if p not in own]


def check_document(rt: Runtime, document: dict) -> Catalog:
    """Build the catalog `document` describes against the departments as configured now;
    InvalidInput naming the first problem when it does not hold together."""
    try:
        return build_catalog(document, rt.catalog.departments)
    except CatalogError as error:
        raise _invalid("catalog", error.problems) from None


def _invalid(field_name: str, problems: list[str]) -> InvalidInput:
    first = _WHERE.sub("", problems[0])
    more = f"（另有 {len(problems) - 1} 处问题）" if len(problems) > 1 else ""
    more_en = f" ({len(problems) - 1} more)" if len(problems) > 1 else ""
    return InvalidInput(field_name, f"目录检查未通过：{first}{more}", f"{first}{more_en}")


def _field_of(error: ValidationError) -> tuple[str, str]:
    """The first problem of a draft: its field path (materials.0.code) and what is wrong."""
    first = error.errors()[0]
    path = ".".join(str(part) for part in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    if ":" in message and not path:  # a model validator names its field itself
        path, message = (s.strip() for s in message.split(":", 1))
    return path or "catalog", message


# What an entry keeps from the files whatever an edit sends, and is not shown for editing: its
# file, its process's file and id, and a matter's offers (免申即享, forms/catalog.py)
KEPT = ("file", "bpmn", "process_id", "offer")


def parse_draft(kind: str, data: dict) -> _Draft:
    """`data` as a draft of `kind`, by allow-list; InvalidInput naming the field otherwise."""
    try:
        return DRAFTS[kind].model_validate(data)
    except ValidationError as error:
        path, message = _field_of(error)
        raise InvalidInput(path, f"{path}：{_zh(message)}", f"{path}: {message}") from None


_ZH = (
    ("Field required", "必填"),
    ("String should match pattern", "只能用小写字母、数字和下划线，以字母开头（2–64 个字符）"),
    ("String should have at most", "过长：最多"),
    ("String should have at least 1 character", "不能为空"),
    ("Extra inputs are not permitted", "不是可填写的字段"),
    ("Input should be a valid integer", "应为整数"),
    ("Input should be greater than or equal to", "应不小于"),
    ("Input should be less than or equal to", "应不大于"),
    ("a choice needs its options", "选择题需要选项"),
    ("only a choice (enum) has options", "只有选择题（enum）有选项"),
    ("one of", "应为以下之一："),
)


def _zh(message: str) -> str:
    for english, chinese in _ZH:
        if english in message:
            return message.replace(english, chinese)
    return message


def _check_expressions(rt: Runtime, kind: str, raw: dict, facts: set[str]) -> None:
    """Every condition of the entry is an allowed expression over dictionary facts."""
    found: list[tuple[str, str]] = []
    if kind == "fact":
        found.append(("required_if", raw.get("required_if", "")))
    if kind == "item":
        found.append(("when", raw.get("when", "")))
        found += [(f"facts_if.{i}.when", g["when"]) for i, g in enumerate(raw.get("facts_if", []))]
        found += [
            (f"materials.{i}.when", m.get("when", ""))
            for i, m in enumerate(raw.get("materials", []))
        ]
    for where, expression in found:
        if not expression:
            continue
        problems = check_expression(expression)
        if problems:
            raise InvalidInput(
                where,
                f"{where}：条件不是允许的表达式：{problems[0]}",
                f"{where}: the condition is not an allowed expression: {problems[0]}",
            )
        unknown = sorted(n for n in _names(expression) if n not in facts)
        if unknown:
            raise InvalidInput(
                where,
                f"{where}：条件引用了数据字典中没有的数据项：{'、'.join(unknown)}",
                f"{where}: the condition names facts the dictionary lacks: {', '.join(unknown)}",
            )


def _names(expression: str) -> set[str]:
    import ast

    tree = ast.parse(expression, mode="eval")
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} - {"True", "False", "None"}


def _check_fixed(kind: str, code: str, old: dict | None, raw: dict, rt: Runtime) -> None:
    """What may not change once saved, and what a new entry must not clash with."""
    if kind == "item" and old is not None and old.get("department") != raw.get("department"):
        raise InvalidInput(
            "department",
            "事项的办理部门保存后不能更改（流程泳道和已有办件以它为准）；请新建事项",
            "an item's department is fixed once saved (lanes and cases refer to it); "
            "create a new item instead",
        )
    if kind == "fact" and old is not None and old.get("type") != raw.get("type"):
        raise InvalidInput(
            "type",
            "数据项的类型保存后不能更改（已有申请按原类型保存）；请新建数据项",
            "a fact's type is fixed once saved (stored answers use it); create a new fact",
        )
    if kind == "matter":
        from services.registries.prefill import RESOLVERS

        unknown = [s for s in raw.get("subjects", []) if s not in RESOLVERS]
        if unknown:
            raise InvalidInput(
                "subjects",
                f"subjects：没有这些预填对象：{'、'.join(unknown)}（可选：{'、'.join(RESOLVERS)}）",
                f"subjects: unknown prefill subjects {', '.join(unknown)} "
                f"(known: {', '.join(RESOLVERS)})",
            )
    if kind == "item" and raw.get("department") not in rt.catalog.departments:
        raise InvalidInput(
            "department",
            f"department：没有部门 {raw.get('department')}",
            f"department: no department {raw.get('department')}",
        )


def _check_publishable(session: Session, rt: Runtime, code: str, bpmn: str) -> None:
    """A matter made in the browser is offered only once an administrator checked and deployed
    its process (the plain one drawn from its items is a starting point, not a decision)."""
    from services.processes import current_version

    if (rt.settings.bpmn_dir / bpmn).is_file() or current_version(session, matter_code=code):
        return
    raise InvalidInput(
        "published",
        "请先在流程编排中检查并发布此一件事的流程，再对外办理",
        "check and deploy the matter's process in the process editor before publishing it",
    )


# ---------------------------------------------------------------- saving


def _require_admin(user: User) -> None:
    if user.role != "admin":
        raise Forbidden("只有管理员可以编辑事项目录", "Only administrators edit the catalog")


@dataclass(frozen=True)
class Saved:
    number: int  # the new version
    kind: str
    code: str


def save(
    session: Session,
    rt: Runtime,
    *,
    user: User,
    kind: str,
    code: str,
    data: dict,
    comment: str = "",
    new: bool = False,
    base: int | None = None,
) -> Saved:
    """Save one fact, item or matter as a new catalog version. `new`: the code must not exist
    yet; otherwise it must. `base`: the version the editor started from (Conflict when another
    save came in between). Everything is checked before anything is stored."""
    _require_admin(user)
    if len(comment) > 500:
        raise InvalidInput(
            "comment", "说明过长（最多 500 个字符）", "the comment is too long (500)"
        )
    document, built, number, changed = _prepare(
        session, rt, kind=kind, code=code, data=data, new=new, base=base
    )
    if not changed:
        raise InvalidInput("catalog", "没有修改任何内容", "nothing changed")
    return _store(session, rt, user, document, built, f"{kind}:{code}", comment, number)


def _prepare(
    session: Session,
    rt: Runtime,
    *,
    kind: str,
    code: str,
    data: dict,
    new: bool,
    base: int | None,
) -> tuple[dict, Catalog, int, bool]:
    """The catalog document with the entry put in, checked: (document, the catalog it builds,
    the version it is based on, whether the entry changed)."""
    if kind not in KINDS:
        raise NotFound(f"没有这类目录条目 {kind}", f"no catalog entries of kind {kind}")
    if not re.match(CODE_PATTERN, code):
        raise InvalidInput(
            "code",
            "编码只能用小写字母、数字和下划线，以字母开头（2–64 个字符）",
            "the code takes lower-case letters, digits and underscores, starting with a letter "
            "(2-64 characters)",
        )
    draft = parse_draft(kind, data)
    raw = _raw(draft)
    number = current_number(session)
    if base is not None and base != number:
        raise Conflict(
            f"事项目录已被他人修改（您编辑的是第 {base} 版，现在是第 {number} 版）；请重新打开后再改",
            f"the catalog changed meanwhile (you edited version {base}, it is now {number}); "
            "reopen and edit again",
        )
    document = document_at(session, number)
    section = document[SECTION[kind]]
    old = section.get(code)
    if new and old is not None:
        name, name_en = KIND_NAMES[kind]
        raise InvalidInput("code", f"已有编码为 {code} 的{name}", f"a {name_en} {code} exists")
    if not new and old is None:
        name, name_en = KIND_NAMES[kind]
        raise NotFound(f"没有编码为 {code} 的{name}", f"no {name_en} {code}")
    _check_fixed(kind, code, old, raw, rt)
    _check_expressions(
        rt, kind, raw, set(document["facts"]) | ({code} if kind == "fact" else set())
    )
    if kind == "item":
        raw = {
            "code": code,
            **raw,
            "file": (old or {}).get("file") or f"items/{raw['department']}.toml",
        }
    elif kind == "matter":
        kept = {k: old[k] for k in KEPT if old and k in old}
        raw = {"code": code, **raw, **kept}
        raw.setdefault("file", f"matters/{code}.toml")
        raw.setdefault("process_id", code)
        raw.setdefault("bpmn", f"{code}.bpmn")  # the name its process is filed under
        if raw.get("published") and not (old or {}).get("published", False):
            _check_publishable(session, rt, code, raw["bpmn"])
    section[code] = raw
    return document, check_document(rt, document), number, old != raw


MAX_PREVIEW_MATTERS = 10  # a fact used everywhere is replayed on this many matters at most


def affected_matters(catalog: Catalog, kind: str, code: str) -> list[str]:
    """The matters an entry's change reaches: the matter itself, the matters combining an item,
    the matters whose items ask a fact."""
    if kind == "matter":
        return [code] if code in catalog.matters else []
    if kind == "item":
        return [m.code for m in catalog.matters.values() if code in m.items]
    return [
        m.code
        for m in catalog.matters.values()
        if any(code in catalog.items[i].fact_keys for i in m.items if i in catalog.items)
    ]


def preview(
    session: Session,
    rt: Runtime,
    *,
    user: User,
    kind: str,
    code: str,
    data: dict,
    new: bool = False,
    limit: int = 20,
) -> list:
    """Replay an unsaved change on the newest `limit` cases of every matter it reaches (see
    services/replay.py): which cases would route differently, which items appear or vanish,
    how deadlines move. Nothing is saved; the case reads are logged."""
    from services.replay import check_limit, replay

    _require_admin(user)
    check_limit(limit)
    _document, built, _number, _changed = _prepare(
        session, rt, kind=kind, code=code, data=data, new=new, base=None
    )
    matters = affected_matters(built, kind, code)[:MAX_PREVIEW_MATTERS]
    return [
        replay(session, rt, user=user, matter_code=m, catalog=built, limit=limit)
        for m in matters
        if m in rt.catalog.matters
    ]


def _store(
    session: Session,
    rt: Runtime,
    user: User,
    document: dict,
    built: Catalog,
    what: str,
    comment: str,
    number: int,
) -> Saved:
    if len(json.dumps(document, ensure_ascii=False).encode()) > MAX_DOCUMENT_BYTES:
        raise InvalidInput(
            "catalog",
            "事项目录过大（最多 2 MB），请精简说明文字",
            "the catalog is too large (2 MB at most); shorten its texts",
        )
    session.add(
        CatalogVersion(
            number=number + 1,
            document=document,
            what=what,
            author_user_id=user.id,
            comment=comment.strip(),
        )
    )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(
            "事项目录刚被他人修改；请重新打开后再改",
            "the catalog was changed by someone else just now; reopen and edit again",
        ) from None
    _apply(rt.catalog, built, number + 1)
    kind, _, code = what.partition(":")
    return Saved(number + 1, kind, code)


def rollback(session: Session, rt: Runtime, *, user: User, number: int, comment: str = "") -> Saved:
    """Make version `number` (0: the seed) current again, as a new version; facts, items and
    matters made after it stay as they are now."""
    _require_admin(user)
    now = current_number(session)
    if number == now:
        raise InvalidInput("version", "这已是当前版本", "this is the current version already")
    document = document_at(session, number)
    # entries made since then stay as they are now: cases may name them (nothing is deleted)
    present = document_at(session, now)
    for section in SECTION.values():
        for code, data in present[section].items():
            document[section].setdefault(code, data)
    built = check_document(rt, document)
    return _store(session, rt, user, document, built, f"rollback:{number}", comment, now)


# ---------------------------------------------------------------- applying to a runtime

_apply_lock = threading.Lock()
_applied: dict[int, int] = {}  # id(catalog) -> the version number it holds


def _apply(catalog: Catalog, built: Catalog, number: int) -> None:
    """Make `catalog` (a runtime's own copy) hold `built`'s entries: each mapping is replaced
    whole, so a reader holds either the old or the new one."""
    with _apply_lock:
        if _applied.get(id(catalog), -1) > number:
            return  # a newer version is applied already
        catalog.subjects = built.subjects
        catalog.facts = built.facts
        catalog.items = built.items
        catalog.matters = built.matters
        _applied[id(catalog)] = number


def apply_current(db, catalog: Catalog, *, keep_fresh: bool = False) -> Catalog:
    """Apply the newest saved version to `catalog` (a runtime's own copy) and return it;
    `keep_fresh`: from now on, apply a newer one whenever another process saved it."""
    _refresh(db, catalog)
    if keep_fresh:
        refresh_periodically("catalog", db, lambda current: _refresh(current, catalog))
    return catalog


def _refresh(db, catalog: Catalog) -> bool:
    with Session(db) as session:
        number = current_number(session)
        if number == _applied.get(id(catalog), 0):
            return False
        row = current(session)
        document = row.document if row is not None else seed_document()
    try:
        built = build_catalog(document, catalog.departments)
    except CatalogError:  # a stored version always held together when saved
        return False
    _apply(catalog, built, number)
    return True


# ---------------------------------------------------------------- comparing and exporting


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: str
    new: str


@dataclass(frozen=True)
class EntryChange:
    kind: str  # fact, item, matter
    code: str
    change: Literal["added", "removed", "changed"]
    fields: list[FieldChange] = field(default_factory=list)


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return (
        tomli_w.dumps({"v": value}).removeprefix("v = ").strip()
        if not isinstance(value, dict)
        else tomli_w.dumps(value).strip()
    )


def diff(old: dict, new: dict) -> list[EntryChange]:
    """What differs between two catalog documents, entry by entry and field by field."""
    changes: list[EntryChange] = []
    for kind in KINDS:
        a, b = old[SECTION[kind]], new[SECTION[kind]]
        for code in sorted(set(a) | set(b)):
            if code not in a:
                changes.append(EntryChange(kind, code, "added"))
            elif code not in b:
                changes.append(EntryChange(kind, code, "removed"))
            elif a[code] != b[code]:
                names = sorted((set(a[code]) | set(b[code])) - {"file"})
                fields = [
                    FieldChange(n, _shown(a[code].get(n)), _shown(b[code].get(n)))
                    for n in names
                    if a[code].get(n) != b[code].get(n)
                ]
                changes.append(EntryChange(kind, code, "changed", fields))
    return changes


def export_files(document: dict) -> dict[str, str]:
    """The document as catalog files (dictionary.toml, items/*.toml, matters/*.toml): what
    forms/catalog/ would hold to seed this catalog."""
    files: dict[str, str] = {
        "dictionary.toml": tomli_w.dumps(
            {"subjects": document["subjects"], "facts": document["facts"]}, multiline_strings=True
        )
    }
    by_file: dict[str, list[dict]] = {}
    for item in document["items"].values():
        name = item.get("file") or f"items/{item['department']}.toml"
        by_file.setdefault(name, []).append({k: v for k, v in item.items() if k != "file"})
    for name, items in sorted(by_file.items()):
        files[name] = tomli_w.dumps({"item": items})
    for code, matter in document["matters"].items():
        name = matter.get("file") or f"matters/{code}.toml"
        files[name] = tomli_w.dumps({k: v for k, v in matter.items() if k != "file"})
    return files


def export_zip(document: dict, number: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in sorted(export_files(document).items()):
            info = zipfile.ZipInfo(f"catalog-v{number}/{name}", date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text)
    return buffer.getvalue()


def entry(session: Session, kind: str, code: str, number: int | None = None) -> dict:
    """One entry as saved in version `number` (None: the current one)."""
    if kind not in KINDS:
        raise NotFound(f"没有这类目录条目 {kind}", f"no catalog entries of kind {kind}")
    document = document_at(session, current_number(session) if number is None else number)
    found = document[SECTION[kind]].get(code)
    if found is None:
        name, name_en = KIND_NAMES[kind]
        raise NotFound(f"没有编码为 {code} 的{name}", f"no {name_en} {code}")
    return {k: v for k, v in found.items() if k not in ("code", *KEPT)}
