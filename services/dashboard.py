"""Dashboard figures (运行监测): per matter and per department, aggregated in SQL (GROUP BY), so
the cost depends on the number of matters and items in the catalog, never on the number of cases."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, extract
from sqlalchemy import case as sql_case
from sqlmodel import Session, col, func, select

from engine.clock import utcnow
from forms.burden import Burden, averages, burden_report
from services.calendar import local_date
from services.cases.burden_measured import MeasuredBurden, measured_burden
from services.cases.models import Case, CaseItem
from services.evaluations.models import Evaluation
from services.evaluations.service import BAD_LEVEL
from services.runtime import Runtime

OPEN = ("processing", "correction")
DECIDED = ("approved", "rejected")
WORKED = ("processing", "correction", "approved", "rejected")  # not_applicable is never worked


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _count_if(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(sql_case((condition, 1), else_=0)), 0)


def _days(session: Session, start: Any, end: Any) -> Any:
    """Calendar days between two timestamps, in the database's own date arithmetic."""
    if session.get_bind().dialect.name == "sqlite":
        return func.julianday(end) - func.julianday(start)
    return extract("epoch", end - start) / 86400.0


def case_counts(session: Session) -> dict[str, dict[str, int]]:
    """The number of cases per matter and status (one GROUP BY)."""
    counts: dict[str, dict[str, int]] = {}
    for matter, status, count in session.exec(
        select(Case.matter, Case.status, func.count()).group_by(Case.matter, Case.status)
    ).all():
        counts.setdefault(matter, {})[status] = count
    return counts


@dataclass(frozen=True)
class BurdenFigures:
    """The burden figures of every catalog matter (what applying costs a citizen, alone and
    combined), their averages per matter, and the cases per matter and status."""

    rows: list[Burden]
    averages: dict[str, float]
    counts: dict[str, dict[str, int]]


def burden_figures(session: Session, rt: Runtime) -> BurdenFigures:
    rows = burden_report(rt.catalog)
    return BurdenFigures(rows=rows, averages=averages(rows), counts=case_counts(session))


@dataclass(frozen=True)
class MatterFigures:
    matter: str
    name: str
    name_en: str
    burden: Burden
    by_status: dict[str, int] = field(default_factory=dict)
    avg_days: float | None = None  # created → completed, calendar days, completed cases only
    max_days: float | None = None
    items: int = 0  # items worked (not_applicable left out)
    decided: int = 0
    auto: int = 0  # decided by an automatic check (秒批)
    corrected: int = 0  # items sent back for correction at least once
    evaluations: int = 0
    avg_level: float | None = None
    bad_reviews: int = 0
    # The burden its cases measured in use, last twelve months (services/cases/burden_measured.py)
    measured: MeasuredBurden = field(default_factory=lambda: MeasuredBurden(matter=""))

    @property
    def cases(self) -> int:
        return sum(self.by_status.values())

    @property
    def completed(self) -> int:
        return self.by_status.get("completed", 0)

    @property
    def instant_rate(self) -> float | None:
        return _rate(self.auto, self.decided)

    @property
    def correction_rate(self) -> float | None:
        return _rate(self.corrected, self.items)


@dataclass(frozen=True)
class DepartmentFigures:
    department: str
    name: str
    name_en: str
    items: int = 0
    open: int = 0
    overdue: int = 0  # open items past their statutory due date (China's calendar date)
    decided: int = 0
    auto: int = 0
    corrected: int = 0
    rejected: int = 0
    avg_days: float | None = None  # created → decided, calendar days, decided items only
    avg_limit: float | None = None  # statutory limit (working days) of the same decided items

    @property
    def instant_rate(self) -> float | None:
        return _rate(self.auto, self.decided)

    @property
    def correction_rate(self) -> float | None:
        return _rate(self.corrected, self.items)

    @property
    def rejection_rate(self) -> float | None:
        return _rate(self.rejected, self.decided)


def matter_figures(session: Session, rt: Runtime) -> list[MatterFigures]:
    """One row per catalog matter: cases, elapsed time, item rates, evaluations, burden."""
    completed = Case.status == "completed"
    elapsed = sql_case(
        (
            completed & col(Case.completed_at).is_not(None),
            _days(session, Case.created_at, Case.completed_at),
        ),
        else_=None,
    )
    cases: dict[str, dict[str, Any]] = {}
    for matter, status, count, avg_days, max_days in session.exec(
        select(
            Case.matter, Case.status, func.count(), func.avg(elapsed), func.max(elapsed)
        ).group_by(Case.matter, Case.status)
    ).all():
        row = cases.setdefault(matter, {"by_status": {}})
        row["by_status"][status] = count
        if status == "completed":
            row["avg_days"] = float(avg_days) if avg_days is not None else None
            row["max_days"] = float(max_days) if max_days is not None else None

    decided = col(CaseItem.status).in_(DECIDED)
    for matter, items, n_decided, auto, corrected in session.exec(
        select(
            Case.matter,
            func.count(),
            _count_if(decided),
            _count_if(decided & (CaseItem.auto == True)),  # noqa: E712 - SQL expression
            _count_if(CaseItem.corrections > 0),
        )
        .join(Case, col(Case.id) == CaseItem.case_id)
        .where(col(CaseItem.status).in_(WORKED))
        .group_by(Case.matter)
    ).all():
        cases.setdefault(matter, {"by_status": {}}).update(
            items=items, decided=int(n_decided), auto=int(auto), corrected=int(corrected)
        )

    for matter, count, avg_level, bad in session.exec(
        select(
            Case.matter,
            func.count(),
            func.avg(Evaluation.level),
            _count_if(Evaluation.level <= BAD_LEVEL),
        )
        .join(Case, col(Case.id) == Evaluation.case_id)
        .group_by(Case.matter)
    ).all():
        cases.setdefault(matter, {"by_status": {}}).update(
            evaluations=count,
            avg_level=float(avg_level) if avg_level is not None else None,
            bad_reviews=int(bad),
        )

    measured = measured_burden(session)
    return [
        MatterFigures(
            matter=b.matter,
            name=b.name,
            name_en=rt.catalog.matters[b.matter].name_en,
            burden=b,
            measured=measured.get(b.matter, MeasuredBurden(matter=b.matter)),
            **cases.get(b.matter, {}),
        )
        for b in burden_report(rt.catalog)
    ]


def department_figures(session: Session, rt: Runtime) -> list[DepartmentFigures]:
    """One row per department with items: workload, overdue, speed against the statutory limit,
    and the instant-approval, correction and rejection rates."""
    today = local_date(utcnow())
    status = col(CaseItem.status)
    decided = status.in_(DECIDED) & col(CaseItem.decided_at).is_not(None)
    is_open = status.in_(OPEN)
    days = sql_case((decided, _days(session, CaseItem.created_at, CaseItem.decided_at)), else_=None)
    # Grouped by item too, so each decided item's statutory limit comes from the catalog; the
    # number of groups is bounded by the catalog, and they fold into departments below.
    totals: dict[str, dict[str, float]] = {}
    for department, item_code, *counts, day_sum in session.exec(
        select(
            CaseItem.department,
            CaseItem.item_code,
            func.count(),
            _count_if(is_open),
            _count_if(is_open & (CaseItem.due_date < today)),
            _count_if(decided),
            _count_if(decided & (CaseItem.auto == True)),  # noqa: E712 - SQL expression
            _count_if(CaseItem.corrections > 0),
            _count_if(status == "rejected"),
            func.sum(days),
        )
        .where(status.in_(WORKED))
        .group_by(CaseItem.department, CaseItem.item_code)
    ).all():
        row = totals.setdefault(department, dict.fromkeys(_SUMMED + ("days", "limit"), 0.0))
        for key, value in zip(_SUMMED, counts, strict=True):
            row[key] += int(value)
        item = rt.catalog.items.get(item_code)
        row["days"] += float(day_sum or 0)
        row["limit"] += int(counts[3]) * (item.time_limit_days if item else 0)

    codes = sorted({i.department for i in rt.catalog.items.values()} | set(totals))
    figures = []
    for code in codes:
        known = rt.catalog.departments.get(code)
        row = totals.get(code)
        sums = {key: int(row[key]) for key in _SUMMED} if row else {}
        n_decided = sums.get("decided", 0)
        figures.append(
            DepartmentFigures(
                department=code,
                name=known.name if known else code,
                name_en=(known.name_en or known.name) if known else code,
                avg_days=row["days"] / n_decided if row and n_decided else None,
                avg_limit=row["limit"] / n_decided if row and n_decided else None,
                **sums,
            )
        )
    return figures


_SUMMED = ("items", "open", "overdue", "decided", "auto", "corrected", "rejected")


def _number(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}"


CsvColumn = tuple[str, Callable[[Any], Any]]


def _measured_columns(label: str, key: str) -> list[CsvColumn]:
    """A measured figure's median and quartiles (the last twelve months' cases)."""

    def cell(part: str) -> Callable[[Any], Any]:
        return lambda r: _number(getattr(getattr(r.measured, key), part))

    return [
        (f"{label}（中位数）", cell("median")),
        (f"{label}（P25）", cell("p25")),
        (f"{label}（P75）", cell("p75")),
        (f"{label}（最大）", cell("maximum")),
    ]


MATTER_COLUMNS: list[CsvColumn] = [
    ("事项代码", lambda r: r.matter),
    ("一件事", lambda r: r.name),
    ("办件总数", lambda r: r.cases),
    ("办理中", lambda r: r.by_status.get("processing", 0)),
    ("待补正", lambda r: r.by_status.get("correction", 0)),
    ("已办结", lambda r: r.completed),
    ("平均办结天数", lambda r: _number(r.avg_days)),
    ("最长办结天数", lambda r: _number(r.max_days)),
    ("承诺时限（工作日）", lambda r: r.burden.time_limit_combined),
    ("已决定事项", lambda r: r.decided),
    ("秒批事项", lambda r: r.auto),
    ("秒批率（%）", lambda r: _percent(r.instant_rate)),
    ("补正率（%）", lambda r: _percent(r.correction_rate)),
    ("评价数", lambda r: r.evaluations),
    ("平均评价等级", lambda r: _number(r.avg_level, 2)),
    ("差评数", lambda r: r.bad_reviews),
    ("填报数据项（分别）", lambda r: r.burden.facts_separately),
    ("需填写数据项（一表）", lambda r: r.burden.facts_to_type),
    ("材料（分别）", lambda r: r.burden.materials_separately),
    ("需上传材料（一套）", lambda r: r.burden.materials_to_upload),
    ("办事环节（分别）", lambda r: r.burden.steps_separately),
    ("办事环节（一件事）", lambda r: r.burden.steps_combined),
    ("跑动次数（分别）", lambda r: r.burden.trips_separately),
    ("跑动次数（一件事）", lambda r: r.burden.trips_combined),
    *(
        column
        for label, key in (
            ("实测填写数据项", "fields_typed"),
            ("实测上传材料", "materials_uploaded"),
            ("实测跑动次数", "trips"),
            ("实测办结工作日", "working_days"),
        )
        for column in _measured_columns(label, key)
    ),
    ("实测办件数", lambda r: r.measured.cases),
    ("主动服务发起占比（%）", lambda r: _percent(r.measured.offer_share)),
]

DEPARTMENT_COLUMNS: list[CsvColumn] = [
    ("部门代码", lambda r: r.department),
    ("部门", lambda r: r.name),
    ("事项总数", lambda r: r.items),
    ("在办事项", lambda r: r.open),
    ("逾期在办", lambda r: r.overdue),
    ("已决定事项", lambda r: r.decided),
    ("平均办理天数", lambda r: _number(r.avg_days)),
    ("平均法定时限（工作日）", lambda r: _number(r.avg_limit)),
    ("秒批率（%）", lambda r: _percent(r.instant_rate)),
    ("补正率（%）", lambda r: _percent(r.correction_rate)),
    ("不予办理率（%）", lambda r: _percent(r.rejection_rate)),
]


CSV_TABLES = {"matters": MATTER_COLUMNS, "departments": DEPARTMENT_COLUMNS}

# A cell a spreadsheet would run as a formula (CSV injection: `=HYPERLINK(...)` in a department's
# name an administrator typed), unless it is a plain number.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def csv_cell(value: Any) -> Any:
    """`value` as a spreadsheet shows it, never runs it: text beginning like a formula is
    prefixed with an apostrophe, which makes it text."""
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_START)
        and not PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def figures_csv(rows: list[MatterFigures] | list[DepartmentFigures], table: str) -> str:
    """The figures as CSV with Chinese headers, led by a BOM so Excel reads it as UTF-8;
    `table` is "matters" or "departments"."""
    columns = CSV_TABLES[table]
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([header for header, _ in columns])
    for row in rows:
        writer.writerow([csv_cell(value(row)) for _, value in columns])
    return out.getvalue()
