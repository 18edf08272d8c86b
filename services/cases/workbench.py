"""The window clerk's workbench (工作台): the department queue with filters, sorting, paging and
search, all in SQL, and claiming tasks (认领) so that two clerks never work the same one.

A claim is taken by a conditional UPDATE (only while nobody holds the task), so of two clerks
claiming at once exactly one wins, on SQLite and PostgreSQL alike; each claim, release and
reassignment is recorded in the case's history in the same commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, String, bindparam, func, literal_column, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm import object_session
from sqlmodel import Session, col, select

from engine.clock import utcnow
from forms.catalog import Item, Matter
from forms.values import mask_id
from services import rows
from services.accounts.models import User
from services.calendar import local_date
from services.cases import history, progress
from services.cases.access import (
    ClerkView,
    FactView,
    clerk_view,
    load_case_item,
    require_department,
)
from services.cases.corrections import AnsweredCorrection, answered_correction
from services.cases.models import Case, CaseEvent, CaseItem
from services.cases.path import PathStep, case_path
from services.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.runtime import Runtime

STATUSES = ("processing", "correction", "approved", "rejected")
SORTS = ("due", "received", "case")
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20

_CASE_NUMBER = re.compile(r"YJS\d*")
_FULL_ID = re.compile(r"(\d{6})\d{8}(\d{3}[\dX])")
_MASKED_ID = re.compile(r"(\d{6})\*+(\d{3}[\dX])")
_LAST4 = re.compile(r"\d{3}[\dX]")
# The characters of case numbers and citizen IDs, in the order C, ICU and glibc collations agree on.
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class QueueFilter:
    """What the clerk asked the queue for; every field narrows the department's items."""

    status: str | None = "processing"  # None: every status
    matter: str = ""
    item: str = ""
    due_before: date | None = None  # due on or before this day
    overdue: bool = False
    search: str = ""  # case number (prefix), masked citizen ID, or its last 4 characters
    mine: bool = False  # claimed by me
    unclaimed: bool = False
    sort: str = "due"  # due | received | case
    desc: bool = False
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    def params(self, **changes: Any) -> dict[str, str]:
        """The filter as query parameters (only what differs from the defaults), for links."""
        changed = replace(self, **changes)
        out = {}
        for f in fields(self):
            value = getattr(changed, f.name)
            if value == f.default:
                continue
            if f.name == "status" and value is None:
                out["status"] = "all"
            elif isinstance(value, bool):
                out[f.name] = "1"
            else:
                out[f.name] = str(value)
        return out


@dataclass(frozen=True)
class SearchTerm:
    """A parsed search: a case-number prefix, or a citizen ID's first six and/or last four."""

    case_prefix: str = ""
    id_prefix: str = ""
    id_last4: str = ""

    @property
    def text(self) -> str:
        """The search as shown back to the clerk: never a full citizen ID."""
        if self.case_prefix:
            return self.case_prefix
        if self.id_prefix:
            return f"{self.id_prefix}********{self.id_last4}"
        return self.id_last4


@dataclass(frozen=True)
class QueueRow:
    """One task of the queue with what the table shows."""

    item: CaseItem
    case: Case
    item_name: str
    item_name_en: str
    claimed_by_name: str | None
    overdue: bool

    @property
    def masked_id(self) -> str:
        return mask_id(self.case.applicant_id_number)

    @property
    def corrected(self) -> bool:
        """The task came back from a correction (已补正) and waits for a decision again."""
        return is_corrected(self.item)


def is_corrected(row: CaseItem) -> bool:
    """Whether a task resumed from the applicant's correction and is not decided again yet."""
    return row.status == "processing" and bool((row.correction or {}).get("answered"))


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    total: int
    filter: QueueFilter

    @property
    def page(self) -> int:
        return self.filter.page

    @property
    def per_page(self) -> int:
        return self.filter.per_page

    @property
    def capped(self) -> bool:
        """More tasks match than were counted (`COUNT_CAP`)."""
        return self.total > COUNT_CAP

    @property
    def pages(self) -> int:
        return max(1, -(-min(self.total, COUNT_CAP) // self.per_page))

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def parse_search(text: str) -> SearchTerm | None:
    """A case number or its beginning (YJS…), a masked citizen ID (310105********028X; a full
    ID is treated as its mask), or an ID's last four characters; nothing for an empty box."""
    text = re.sub(r"\s+", "", text or "").upper().replace("＊", "*")
    if not text:
        return None
    if _CASE_NUMBER.fullmatch(text):
        return SearchTerm(case_prefix=text)
    found = _MASKED_ID.fullmatch(text) or _FULL_ID.fullmatch(text)
    if found:
        return SearchTerm(id_prefix=found.group(1), id_last4=found.group(2))
    if _LAST4.fullmatch(text):
        return SearchTerm(id_last4=text)
    raise InvalidInput(
        "search",
        "请输入办件编号（YJS开头）、掩码证件号（如110101********1234）或证件号后4位",
        "Enter a case number (YJS…), a masked citizen ID (110101********1234) or its last 4",
    )


def normalize_filter(wanted: QueueFilter) -> QueueFilter:
    """The filter checked and tidied: known status and sort, page within bounds, the search
    in its shown form (so a full citizen ID typed in is kept only as its mask)."""
    if wanted.status is not None and wanted.status not in STATUSES:
        raise InvalidInput("status", "未知的办理状态", "Unknown status")
    if wanted.sort not in SORTS:
        raise InvalidInput("sort", "未知的排序方式", "Unknown sort")
    term = parse_search(wanted.search)
    return replace(
        wanted,
        matter=wanted.matter.strip(),
        item=wanted.item.strip(),
        search=term.text if term else "",
        page=max(wanted.page, 1),
        per_page=min(max(wanted.per_page, 1), MAX_PER_PAGE),
    )


def _upper_bound(prefix: str) -> str | None:
    """The least string above every string that starts with `prefix` (over _ALPHABET)."""
    chars = list(prefix)
    while chars:
        position = _ALPHABET.find(chars.pop())
        if 0 <= position < len(_ALPHABET) - 1:
            return "".join(chars) + _ALPHABET[position + 1]
    return None


def _starts_with(column: Any, prefix: str) -> list[ColumnElement[bool]]:
    """`column` starts with `prefix`, as a range an ordinary B-tree index serves on SQLite and
    PostgreSQL in any collation (LIKE 'x%' does not)."""
    conditions = [column >= _search_value(prefix)]
    upper = _upper_bound(prefix)
    if upper is not None:
        conditions.append(column < _search_value(upper))
    return conditions


def _search_value(value: str) -> ColumnElement[str]:
    """A search term written into the statement as a literal when it is sent (the statement's
    compiled form is still cached): the planner then sees how few rows it matches. As a
    parameter, PostgreSQL switches a statement run often to one generic plan for every value,
    which guesses the match large and walked the department's queue for a masked citizen ID
    (16 ms a statement at a million cases instead of 0.3 ms). Only the characters a search
    may hold reach here (parse_search's patterns: digits, capital letters)."""
    if not _SEARCH_CHARS.fullmatch(value):
        raise ValueError("a search term holds only digits and capital letters")
    return bindparam(None, value, type_=String, literal_execute=True)


_SEARCH_CHARS = re.compile(r"[0-9A-Z]+")


def _id_last4() -> ColumnElement[str]:
    """The last four characters of an 18-character citizen ID, with the numbers written inline
    so that the database matches it to an expression index on the same expression."""
    return func.substr(col(Case.applicant_id_number), literal_column("15"), literal_column("4"))


def _today() -> date:
    return local_date(utcnow())


def _conditions(wanted: QueueFilter, department: str, user: User) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [col(CaseItem.department) == department]
    if wanted.status is not None:
        conditions.append(col(CaseItem.status) == _status(wanted.status))
    if wanted.matter:
        conditions.append(col(Case.matter) == wanted.matter)
    if wanted.item:
        conditions.append(col(CaseItem.item_code) == wanted.item)
    if wanted.due_before is not None:
        conditions.append(col(CaseItem.due_date) <= wanted.due_before)
    if wanted.overdue:
        conditions += [col(CaseItem.status) == _OPEN, col(CaseItem.due_date) < _today()]
    if wanted.mine:
        conditions.append(col(CaseItem.claimed_by) == user.id)
    if wanted.unclaimed:
        conditions.append(col(CaseItem.claimed_by).is_(None))
    term = parse_search(wanted.search)
    if term is not None and term.case_prefix:
        conditions += _starts_with(col(Case.number), term.case_prefix)
    if term is not None and term.id_last4:
        conditions.append(_id_last4() == _search_value(term.id_last4))
    if term is not None and term.id_prefix:
        conditions += _starts_with(col(Case.applicant_id_number), term.id_prefix)
    return conditions


# A status is written into statements as it is (one of STATUSES), not as a parameter: a
# generic plan of PostgreSQL may then use the partial index of the open unclaimed tasks.
_STATUS_LITERALS = {status: literal_column(f"'{status}'") for status in STATUSES}
_OPEN = _STATUS_LITERALS["processing"]


def _status(status: str) -> ColumnElement[str]:
    return _STATUS_LITERALS[status]  # normalize_filter refused any other


_SORT_COLUMNS = {
    "due": CaseItem.due_date,
    "received": CaseItem.created_at,
    "case": CaseItem.case_id,  # case numbers are issued in the order of case ids
}


def _narrow(term: SearchTerm | None) -> bool:
    """The search names at most a day's cases (a case number down to its date), or one
    applicant (a citizen ID's mask or last four)."""
    if term is None:
        return False
    return bool(term.id_last4 or term.id_prefix or len(term.case_prefix or "") >= 11)


def search_queue(
    session: Session,
    rt: Runtime,
    *,
    user: User,
    filter: QueueFilter,
    offset: int | None = None,
    limit: int | None = None,
    count: bool = True,
) -> QueuePage:
    """One page of the clerk's own department's tasks matching `filter`; filtered, sorted,
    counted and paged in SQL. `offset` and `limit` page by rows instead of pages (the API's
    listing, up to MAX_LIMIT); without `count` the total is not counted (it is then -1)."""
    department = require_department(user)
    wanted = normalize_filter(filter)
    first = (wanted.page - 1) * wanted.per_page if offset is None else max(offset, 0)
    size = wanted.per_page if limit is None else min(max(limit, 1), MAX_LIMIT)
    if wanted == _OPEN_BY_DUE:  # the department's open tasks, oldest due first: the API's listing
        params = {"department": department, "offset": first, "limit": size}
        found = session.connection().execute(_OPEN_QUEUE, params).all()
        total = (
            _count(session, _conditions(wanted, department, user), joined=False) if count else -1
        )
        return QueuePage(rows=_rows(rt, found), total=total, filter=wanted)
    conditions = _conditions(wanted, department, user)
    joined = _reads_case(wanted)
    narrow = _narrow(parse_search(wanted.search))
    order = [col(_SORT_COLUMNS[wanted.sort]), col(CaseItem.id)]
    if narrow:
        # A few cases match: find them by the search's own index, then sort them. The sort is
        # written so that no index serves it, or the planner may walk the department's whole
        # queue in due order looking for them (seconds at a million cases).
        order = [func.coalesce(column, column) for column in order]
    ordering = [c.desc() if wanted.desc else c.asc() for c in order]
    # The page is picked from the task rows (joined to their cases only when the filter reads
    # them), then only its rows are read whole and joined to their cases and holders: a deep
    # page (page 50 skips 980 rows) or a day's search (a thousand matches sorted) no longer
    # reads and joins every skipped row before throwing it away.
    picked = select(CaseItem.id)
    if narrow and count:
        # Every match is found and sorted anyway: counted in the same pass (not twice).
        picked = picked.add_columns(func.count().over().label("matched"))
    if joined:
        picked = picked.join(Case, col(Case.id) == CaseItem.case_id)
    picked = picked.where(*conditions).order_by(*ordering).offset(first).limit(size).subquery()
    query = _queue_rows().join(picked, picked.c.id == CaseItem.id).order_by(*ordering)
    read = session.connection().execute
    if narrow and count:
        found = read(query.add_columns(picked.c.matched)).all()
        if found:
            total = min(found[0][-1], COUNT_CAP + 1)
        else:  # past the last page: nothing to count with
            total = _count(session, conditions, joined=joined)
        return QueuePage(rows=_rows(rt, found), total=total, filter=wanted)
    total = _count(session, conditions, joined=joined) if count else -1
    return QueuePage(rows=_rows(rt, read(query).all()), total=total, filter=wanted)


def _reads_case(wanted: QueueFilter) -> bool:
    """Whether the filter reads the case's own columns (its matter, number or applicant), so
    that counting and paging must join each task to its case."""
    return bool(wanted.matter or wanted.search)


MAX_LIMIT = 200  # rows of one API listing
_OPEN_BY_DUE = QueueFilter()  # the default filter: open tasks by due date


_ITEM_COLUMNS = rows.columns(CaseItem)
# The case columns the queue shows (never the application's data): the objects built from them
# hold only these, and reading any other attribute of one raises.
_CASE_SHOWN = ("id", "number", "matter", "applicant_id_number", "applicant_name")
_HOLDER = User.__table__.alias("holder")


def _queue_rows():
    """A queue row: the task, the case columns the queue shows, and the name of whoever holds
    the task. A Core statement: `_rows` builds the objects detached (services/rows.py)."""
    case = Case.__table__
    return (
        sa_select(*_ITEM_COLUMNS, *(case.c[name] for name in _CASE_SHOWN), _HOLDER.c.display_name)
        .select_from(CaseItem.__table__)
        .join(case, case.c.id == CaseItem.__table__.c.case_id)
        .outerjoin(_HOLDER, _HOLDER.c.id == CaseItem.__table__.c.claimed_by)
    )


# Built once: the API's listing runs it on every call, and building costs more than running it.
# The page is picked from the task rows alone, then joined (see search_queue).
_OPEN_PAGE = (
    select(CaseItem.id)
    .where(col(CaseItem.department) == bindparam("department"), col(CaseItem.status) == _OPEN)
    .order_by(col(CaseItem.due_date), col(CaseItem.id))
    .offset(bindparam("offset", type_=Integer))
    .limit(bindparam("limit", type_=Integer))
    .subquery()
)
_OPEN_QUEUE = (
    _queue_rows()
    .join(_OPEN_PAGE, _OPEN_PAGE.c.id == CaseItem.id)
    .order_by(col(CaseItem.due_date), col(CaseItem.id))
)


def _count(session: Session, conditions: list[ColumnElement[bool]], *, joined: bool = True) -> int:
    return int(session.exec(select(_capped(*conditions, joined=joined))).one())


def _rows(rt: Runtime, found) -> list[QueueRow]:
    """Queue rows from `_queue_rows`'s rows (any columns after them are left out)."""
    today = _today()
    queue = []
    cases = len(_ITEM_COLUMNS) + len(_CASE_SHOWN)
    for row in found:
        item = rows.detached(CaseItem, row[: len(_ITEM_COLUMNS)])
        case_ = rows.detached(Case, row[len(_ITEM_COLUMNS) : cases], _CASE_SHOWN)
        holder_name = row[cases]
        entry = rt.catalog.items.get(item.item_code)
        queue.append(
            QueueRow(
                item=item,
                case=case_,
                item_name=entry.name if entry else item.item_code,
                item_name_en=entry.name_en if entry else item.item_code,
                claimed_by_name=holder_name,
                overdue=item.status == "processing" and item.due_date < today,
            )
        )
    return queue


# Counts are taken up to this many: a count over a large department's whole queue on every page
# would cost more than the page (a million cases leave a department 10,000+ open tasks). More
# shows as "N+"; the filters narrow it.
COUNT_CAP = 1000


def _capped(*conditions: ColumnElement[bool], joined: bool = False):
    """How many tasks meet `conditions` (joined to their cases when they read the case's
    columns), counted up to `COUNT_CAP` + 1 ("N+" past the cap), as a scalar subquery."""
    matching = select(CaseItem.id)
    if joined:
        matching = matching.join(Case, col(Case.id) == CaseItem.case_id)
    capped = matching.where(*conditions).limit(COUNT_CAP + 1).subquery()
    return select(func.count()).select_from(capped).scalar_subquery()


def _status_counts_query():
    """Every figure of the queue's tabs in one statement (one round trip instead of seven),
    each its own capped count served by an index; built once, with the department, the
    clerk and today as parameters."""
    mine = col(CaseItem.department) == bindparam("department")
    open_ = col(CaseItem.status) == _OPEN
    counts = {status: _capped(mine, col(CaseItem.status) == _status(status)) for status in STATUSES}
    counts["overdue"] = _capped(mine, open_, col(CaseItem.due_date) < bindparam("today"))
    counts["mine"] = _capped(col(CaseItem.claimed_by) == bindparam("user_id"), open_, mine)
    counts["unclaimed"] = _capped(mine, open_, col(CaseItem.claimed_by).is_(None))
    return select(*[count.label(name) for name, count in counts.items()])


_STATUS_COUNTS = _status_counts_query()


def status_counts(session: Session, *, user: User) -> dict[str, int]:
    """Tasks of the clerk's department per status, and of the open ones: overdue, claimed by
    me, unclaimed; each counted up to `COUNT_CAP` + 1 (meaning "more than COUNT_CAP"), every
    count served by an index."""
    params = {"department": require_department(user), "today": _today(), "user_id": user.id}
    row = session.exec(_STATUS_COUNTS, params=params).one()
    return {name: int(value) for name, value in row._mapping.items()}


def queue_choices(rt: Runtime, *, department: str) -> tuple[list[Matter], list[Item]]:
    """The matters and items a department's queue can hold, for the filter's selects."""
    items = [item for item in rt.catalog.items.values() if item.department == department]
    codes = {item.code for item in items}
    matters = [m for m in rt.catalog.matters.values() if codes.intersection(m.items)]
    return matters, items


def department_clerks(session: Session, *, department: str) -> list[User]:
    """The active window clerks of a department: whom a supervisor may reassign tasks to."""
    return list(
        session.exec(
            select(User)
            .where(
                User.role == "clerk",
                User.department == department,
                col(User.active).is_(True),
            )
            .order_by(col(User.username))
        ).all()
    )


def holder_name(session: Session, row: CaseItem) -> str | None:
    """The display name of whoever holds the task, if anyone."""
    if row.claimed_by is None:
        return None
    holder = session.get(User, row.claimed_by)
    return holder.display_name if holder else str(row.claimed_by)


def _require_clerk(user: User) -> str:
    department = require_department(user)
    if user.role != "clerk":
        raise Forbidden("只有窗口人员可以认领待办", "Only a window clerk may claim tasks")
    return department


def _require_open(row: CaseItem) -> None:
    if row.status != "processing":
        raise Conflict("该事项不在办理中，无需认领", "This task is not open any more")


def _claimed_by_other(session: Session | None, row: CaseItem) -> Conflict:
    name = holder_name(session, row) if session is not None else None
    name = name or "其他窗口人员"
    return Conflict(
        f"该待办已由{name}认领，请选择其他待办，或请认领人释放、科长改派",
        f"This task is already claimed by {name}: pick another, or ask them to release it "
        "or a supervisor to reassign it",
    )


def _move_claim(
    session: Session, row: CaseItem, *, holder: int | None, to: int | None, now: datetime
) -> bool:
    """Give the open task to `to` if `holder` still holds it: one conditional UPDATE."""
    held = (
        col(CaseItem.claimed_by).is_(None) if holder is None else col(CaseItem.claimed_by) == holder
    )
    result = session.execute(
        update(CaseItem)
        .where(
            col(CaseItem.id) == row.id,
            col(CaseItem.department) == row.department,
            col(CaseItem.status) == "processing",
            held,
        )
        .values(claimed_by=to, claimed_at=now if to is not None else None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _as_it_is_now(session: Session, row: CaseItem) -> None:
    """After a conditional UPDATE that changed nothing: read the task as another clerk left it
    (PostgreSQL's UPDATE waited for their commit; SQLite's write began after it) and end the
    transaction. Not a rollback: that would also expire the signed-in user the error page shows."""
    session.refresh(row)
    session.commit()


def _committed(session: Session, row: CaseItem) -> CaseItem:
    session.commit()
    session.refresh(row)
    return row


def claim(session: Session, *, user: User, item_id: int) -> CaseItem:
    """The clerk takes an open task of their department. Of two clerks claiming at once exactly
    one wins; the other learns who holds it. Claiming one's own task again changes nothing."""
    _require_clerk(user)
    row = load_case_item(session, item_id=item_id, user=user)
    if row.claimed_by == user.id and row.status == "processing":
        return row
    _require_open(row)
    if row.claimed_by is not None:
        raise _claimed_by_other(session, row)
    if not _move_claim(session, row, holder=None, to=user.id, now=utcnow()):
        _as_it_is_now(session, row)
        if row.claimed_by == user.id and row.status == "processing":
            return row
        _require_open(row)
        raise _claimed_by_other(session, row)
    history.record(
        session,
        case_id=row.case_id,
        user=user,
        kind="claim",
        message=f"认领待办（{row.item_code}）",
    )
    return _committed(session, row)


def release(session: Session, *, user: User, item_id: int) -> CaseItem:
    """Give a claimed task back to the department's queue: its holder or a supervisor."""
    _require_clerk(user)
    row = load_case_item(session, item_id=item_id, user=user)
    _require_open(row)
    holder = row.claimed_by
    if holder is None:
        return row
    name = holder_name(session, row)
    if holder != user.id and not user.supervisor:
        raise Forbidden(
            f"该待办由{name}认领，只有认领人或科长可以释放",
            f"Claimed by {name}: only they or a supervisor may release it",
        )
    if not _move_claim(session, row, holder=holder, to=None, now=utcnow()):
        _as_it_is_now(session, row)
        raise Conflict("该待办的认领情况刚刚有变化，请刷新后重试", "The claim just changed: reload")
    note = "" if holder == user.id else f"（原认领人：{name}）"
    history.record(
        session,
        case_id=row.case_id,
        user=user,
        kind="release",
        message=f"释放待办（{row.item_code}）{note}",
    )
    return _committed(session, row)


def release_stranded_claims(session: Session, *, holder: User, actor: User) -> int:
    """Give back to their queues the open tasks `holder` can no longer work: all of them when
    the account was disabled or is no longer a clerk, those of other departments when it moved.
    Each release is recorded on its case; returns how many were released."""
    query = select(CaseItem).where(
        col(CaseItem.claimed_by) == holder.id, col(CaseItem.status) == "processing"
    )
    if holder.active and holder.role == "clerk":
        query = query.where(col(CaseItem.department) != holder.department)
    released = 0
    now = utcnow()
    for row in session.exec(query).all():
        if _move_claim(session, row, holder=holder.id, to=None, now=now):
            why = "账号已停用" if not holder.active else "已调离本部门"
            history.record(
                session,
                case_id=row.case_id,
                user=actor,
                kind="release",
                message=f"释放待办（{row.item_code}）：原认领人{holder.display_name}{why}",
            )
            released += 1
    session.commit()
    return released


def reassign(session: Session, *, user: User, item_id: int, to_user_id: int) -> CaseItem:
    """A supervisor gives an open task (claimed or not) to a clerk of the same department."""
    department = _require_clerk(user)
    if not user.supervisor:
        raise Forbidden("只有科长可以改派待办", "Only a supervisor may reassign tasks")
    row = load_case_item(session, item_id=item_id, user=user)
    _require_open(row)
    target = session.get(User, to_user_id)
    if (
        target is None
        or target.role != "clerk"
        or target.department != department
        or not target.active
    ):
        raise Forbidden(
            "只能改派给本部门的窗口人员", "Tasks can only go to a clerk of your department"
        )
    holder = row.claimed_by
    if holder == target.id:
        return row
    name = holder_name(session, row)
    if not _move_claim(session, row, holder=holder, to=target.id, now=utcnow()):
        _as_it_is_now(session, row)
        raise Conflict("该待办的认领情况刚刚有变化，请刷新后重试", "The claim just changed: reload")
    note = f"（原认领人：{name}）" if name else ""
    history.record(
        session,
        case_id=row.case_id,
        user=user,
        kind="reassign",
        message=f"将待办（{row.item_code}）改派给{target.display_name}{note}",
    )
    return _committed(session, row)


def check_can_decide(row: CaseItem, user: User) -> None:
    """Nobody decides a task another clerk holds; an unclaimed task may be decided by any clerk
    of the department (deciding claims it implicitly)."""
    if row.claimed_by is None or row.claimed_by == user.id:
        return
    raise _claimed_by_other(object_session(row), row)


@dataclass(frozen=True)
class OpenTask:
    """A task as its clerk works it: the case through the item (`view`, logged), every item's
    progress (other departments' statuses only) and the case's history."""

    view: ClerkView
    items: list[progress.ItemView]
    path: list[PathStep]  # every item of the matter: names, departments, states, rules only
    events: list[CaseEvent]
    holder_name: str | None  # who holds the task, if anyone
    # What the applicant changed, while the task waits for a decision after a correction
    correction: AnsweredCorrection | None = None

    def own(self, entry: progress.ItemView) -> bool:
        """Whether a progress entry is an item of the clerk's own department (whose comment and
        result the clerk may see)."""
        return entry.row is not None and entry.row.department == self.view.row.department

    def fact(self, key: str) -> FactView:
        """One fact of the view (a number revealed in full, say); the application may lack it."""
        found = next((f for f in self.view.facts if f.key == key), None)
        if found is None:
            raise NotFound("申请中没有填写该信息", "The application has no value for this fact")
        return found


def open_task(
    session: Session,
    rt: Runtime,
    *,
    user: User,
    item_id: int,
    reveal: str | None = None,
    reason: str = "",
) -> OpenTask:
    """The clerk's task page and its API twin: the need-to-know view of the case through the
    item (logged for the applicant; with `reveal` and a `reason`, that one number in full, the
    reason logged), the items' progress and the history."""
    view = clerk_view(session, rt, user=user, item_id=item_id, reveal=reveal, reason=reason)
    items = progress.item_views(session, rt, view.case)
    return OpenTask(
        view=view,
        items=items,
        path=case_path(
            session,
            rt,
            case=view.case,
            for_applicant=False,
            rows=[entry.row for entry in items if entry.row is not None],
        ),
        events=progress.events_of(session, case=view.case),
        holder_name=holder_name(session, view.row),
        correction=answered_correction(rt, view.row, reveal=reveal),
    )
