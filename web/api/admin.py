"""The administrators' figures and logs over the API: the burden figures with case counts, the
dashboard (and its CSV), the data-access log and the process incidents. The pages in
web/routes/admin.py show the same, from the same service calls."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar

from fastapi import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from forms.sources import REGISTRIES, registry_name
from forms.values import mask_id
from services.accounts.service import actor_names
from services.cases import incidents
from services.cases.models import Incident
from services.cases.schemas import ErrorPublic
from services.dashboard import burden_figures, department_figures, figures_csv, matter_figures
from services.registries.models import DataAccess
from services.registries.service import all_accesses
from services.runtime import Runtime
from web.api.routing import api_router
from web.deps import AdminUser, Page, RuntimeDep, SearchText, SessionDep, read_only
from web.limits import DEFAULT_BODY_LIMIT, size_text

router = api_router(prefix="/admin", tags=["api: admin"])

ACCESSES_PER_PAGE = 100  # rows of the data-access log per page (the page shows as many)
INCIDENTS_PER_PAGE = 100


# ---------------------------------------------------------------- shapes


class ChangePublic(BaseModel):
    """One recorded change of the configuration: who, when, the old and the new value."""

    model_config = ConfigDict(from_attributes=True)

    at: datetime
    user_id: int = Field(description="The administrator who made it")
    user: str | None = Field(default=None, description="Their display name")
    old: str = Field(description="The value before (empty: none)")
    new: str = Field(description="The value after (empty: none)")


Change = TypeVar("Change", bound=ChangePublic)


def changes_public(session: Session, rows: Sequence[Any], shape: type[Change]) -> list[Change]:
    """Recorded changes (rows with `user_id`, `at`, `old`, `new`…) with their authors' names."""
    names = actor_names(session, rows, column="user_id")
    return [
        shape.model_validate(row).model_copy(update={"user": names.get(row.user_id)})
        for row in rows
    ]


class BurdenPublic(BaseModel):
    """What applying costs a citizen: each item alone against the one combined application,
    computed from the catalog (every item counted, conditional ones included)."""

    model_config = ConfigDict(from_attributes=True)

    matter: str = Field(description="The matter's code")
    name: str = Field(description="The matter's name, in Chinese")
    departments: int = Field(description="Departments its items go to")
    items: int = Field(description="Items (事项) of the matter")
    facts_separately: int = Field(description="Facts asked, summed over the items one by one")
    facts_combined: int = Field(description="Distinct facts the one combined form asks")
    facts_autofilled: int = Field(description="Of those, facts filled from the registries")
    facts_to_type: int = Field(description="Facts the applicant types in the combined form")
    materials_separately: int = Field(description="Materials, summed over the items")
    materials_combined: int = Field(description="Distinct materials of the combined application")
    materials_exempt: int = Field(description="Of those, materials fetched (exempt)")
    materials_to_upload: int = Field(description="Materials the applicant uploads")
    trips_separately: int = Field(description="Trips to offices, the items one by one")
    trips_combined: int = Field(description="Trips for the combined application")
    steps_separately: int = Field(description="The applicant's steps, the items one by one")
    steps_combined: int = Field(description="The applicant's steps for the combined application")
    time_limit_separately: int = Field(description="Statutory time limits summed, working days")
    time_limit_combined: int = Field(
        description="The combined time limit (the longest item: departments work in parallel)"
    )


class MatterBurdenPublic(BurdenPublic):
    cases: dict[str, int] = Field(
        description="Cases of the matter by status (processing, correction, completed, …); a "
        "status without cases is left out",
        examples=[{"processing": 3, "completed": 12}],
    )


class BurdenAveragesPublic(BaseModel):
    """Per-matter averages of the combined figures, as city reports state them."""

    materials: float = Field(default=0.0, description="Materials to upload")
    steps: float = Field(default=0.0, description="The applicant's steps")
    trips: float = Field(default=0.0, description="Trips")
    facts: float = Field(default=0.0, description="Facts to type")


class BurdenReportPublic(BaseModel):
    matters: list[MatterBurdenPublic] = Field(description="Every catalog matter, catalog order")
    averages: BurdenAveragesPublic


class DistributionPublic(BaseModel):
    """How a measured figure spread over a matter's cases (nulls: no case measured)."""

    model_config = ConfigDict(from_attributes=True)

    count: int = Field(description="Cases measured")
    minimum: float | None
    p25: float | None = Field(description="The first quartile")
    median: float | None
    p75: float | None = Field(description="The third quartile")
    maximum: float | None
    mean: float | None


class MeasuredBurdenPublic(BaseModel):
    """A matter's burden measured in its cases submitted in the last twelve months, to set
    beside the catalog's expected figures (`burden`)."""

    model_config = ConfigDict(from_attributes=True)

    cases: int = Field(description="Cases measured")
    fields_typed: DistributionPublic = Field(
        description="Answers the applicant typed (not filled from registries), corrections added"
    )
    fields_prefilled: DistributionPublic = Field(description="Facts filled from the registries")
    materials_uploaded: DistributionPublic = Field(
        description="Materials the applicant uploaded, corrections added (fetched ones not)"
    )
    trips: DistributionPublic = Field(
        description="Trips: the window a case was accepted at (or an item needing the applicant "
        "present) and collecting the results at a window; online with post or download is 0"
    )
    working_days: DistributionPublic = Field(
        description="Working days from submission to completion, completed cases only"
    )
    corrections: DistributionPublic = Field(description="Corrections the applicant sent")
    from_offer: int = Field(description="Cases started from an offer (主动服务)")
    offer_share: float | None = Field(
        description="from_offer / cases, 0–1 (null: no case measured)"
    )


class MatterFiguresPublic(BaseModel):
    """A matter's cases, speed, item rates, evaluations and burden, counted in the database."""

    model_config = ConfigDict(from_attributes=True)

    matter: str
    name: str
    name_en: str
    burden: BurdenPublic
    by_status: dict[str, int] = Field(description="Cases by status")
    cases: int = Field(description="All cases of the matter")
    completed: int = Field(description="Completed cases")
    avg_days: float | None = Field(
        description="Calendar days from application to completion, completed cases (null: none)"
    )
    max_days: float | None = Field(description="The longest of those")
    items: int = Field(description="Items worked (not-applicable items left out)")
    decided: int = Field(description="Items approved or rejected")
    auto: int = Field(description="Of those, decided by an automatic check (秒批)")
    corrected: int = Field(description="Items sent back for correction at least once")
    instant_rate: float | None = Field(description="auto / decided, 0–1 (null: none decided)")
    correction_rate: float | None = Field(description="corrected / items, 0–1 (null: no items)")
    evaluations: int = Field(description="Evaluations (好差评) received")
    avg_level: float | None = Field(description="Their average level, 1–5 (null: none)")
    bad_reviews: int = Field(description="Evaluations at a bad level")
    measured: MeasuredBurdenPublic = Field(
        description="The burden measured in use (last twelve months), beside `burden`"
    )


class DepartmentFiguresPublic(BaseModel):
    """A department's workload, overdue items, speed against the statutory limit and rates."""

    model_config = ConfigDict(from_attributes=True)

    department: str
    name: str
    name_en: str
    items: int = Field(description="Items worked (not-applicable items left out)")
    open: int = Field(description="Items in progress or waiting for a correction")
    overdue: int = Field(description="Open items past their statutory due date")
    decided: int = Field(description="Items approved or rejected")
    auto: int = Field(description="Of those, decided by an automatic check (秒批)")
    corrected: int = Field(description="Items sent back for correction at least once")
    rejected: int = Field(description="Items rejected")
    avg_days: float | None = Field(
        description="Calendar days from routing to decision, decided items (null: none)"
    )
    avg_limit: float | None = Field(
        description="The statutory limit of the same items, working days (null: none)"
    )
    instant_rate: float | None = Field(description="auto / decided, 0–1")
    correction_rate: float | None = Field(description="corrected / items, 0–1")
    rejection_rate: float | None = Field(description="rejected / decided, 0–1")


class DashboardPublic(BaseModel):
    matters: list[MatterFiguresPublic] = Field(description="Every catalog matter")
    departments: list[DepartmentFiguresPublic] = Field(description="Every department with items")


class DataAccessPublic(BaseModel):
    """One registry lookup or case view, as the administrators' log shows it."""

    id: int
    at: datetime
    actor_user_id: int | None = Field(description="Who looked (null: the system itself)")
    actor: str | None = Field(description="Their display name (null: the system itself)")
    subject: str = Field(
        description="Whose data, the ID number masked", examples=["310105********028X"]
    )
    registry: str = Field(description="The registry read, or onething for a case viewed")
    registry_name: str
    registry_name_en: str
    record_id: str = Field(
        description="The registry's record (masked when it is the subject's ID number), or the "
        "case number viewed"
    )
    purpose: str
    case_number: str | None = Field(description="The case the lookup served, if any")


class DataAccessPagePublic(BaseModel):
    page: int
    per_page: int
    has_more: bool = Field(description="A full page: ask for the next one")
    items: list[DataAccessPublic] = Field(description="Newest first")


class IncidentPublic(BaseModel):
    """A step of a case that failed in its process (what to fix in the process)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    matter: str
    step: str = Field(description="submission, decision, correction or deadline")
    element_id: str = Field(description="The BPMN element that failed")
    element_name: str
    reason: str


class IncidentPagePublic(BaseModel):
    page: int
    per_page: int
    has_more: bool = Field(description="A full page: ask for the next one")
    items: list[IncidentPublic] = Field(description="Unresolved incidents, newest first")


CsvTable = Literal["matters", "departments"]
CSV_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The table as CSV (UTF-8 with a byte-order mark, Chinese headers), as an "
        "attachment; a cell that would start a spreadsheet formula is prefixed with an "
        "apostrophe",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


def too_large(limit: int = DEFAULT_BODY_LIMIT) -> dict[int | str, dict[str, Any]]:
    """The 413 of an operation whose request body may have at most `limit` bytes."""
    return {
        413: {"model": ErrorPublic, "description": f"The request body is over {size_text(limit)}"}
    }


# ---------------------------------------------------------------- shared with the pages


def access_log(
    session: Session, *, page: int, registry: str
) -> tuple[list[DataAccess], dict[int, str]]:
    """A page of the data-access log (one registry's, unless `registry` is empty) and the
    display names of who looked."""
    rows = all_accesses(
        session,
        limit=ACCESSES_PER_PAGE,
        offset=(page - 1) * ACCESSES_PER_PAGE,
        registry=registry or None,
    )
    return rows, actor_names(session, rows)


def incident_page(session: Session, *, page: int) -> list[Incident]:
    """A page of the unresolved incidents, newest first."""
    return incidents.open_incidents(
        session, limit=INCIDENTS_PER_PAGE, offset=(page - 1) * INCIDENTS_PER_PAGE
    )


def figures_csv_response(session: Session, rt: Runtime, table: CsvTable) -> Response:
    """The dashboard's `table` as a CSV attachment (the page's export link sends the same)."""
    rows = matter_figures(session, rt) if table == "matters" else department_figures(session, rt)
    return Response(
        figures_csv(rows, table).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="dashboard-{table}.csv"'},
    )


# ---------------------------------------------------------------- operations


@router.get("/matters/figures", response_model=BurdenReportPublic)
@read_only
def burden_report(user: AdminUser, session: SessionDep, rt: RuntimeDep):
    """The burden figures of every matter (computed from the catalog), their averages and the
    cases per matter and status: what `/admin` shows."""
    figures = burden_figures(session, rt)
    return BurdenReportPublic(
        matters=[
            MatterBurdenPublic(
                **BurdenPublic.model_validate(row).model_dump(),
                cases=figures.counts.get(row.matter, {}),
            )
            for row in figures.rows
        ],
        averages=BurdenAveragesPublic(**figures.averages),
    )


@router.get(
    "/data-access",
    response_model=DataAccessPagePublic,
    description="Every registry lookup and case view, newest first, 100 a page; `registry` "
    f"keeps one registry's (a code: {', '.join(REGISTRIES)}). Subjects' ID numbers are "
    "masked, as on the page.",
)
@read_only
def data_access(
    user: AdminUser,
    session: SessionDep,
    page: Page = 1,
    registry: SearchText = "",
):
    rows, actors = access_log(session, page=page, registry=registry)
    return DataAccessPagePublic(
        page=page,
        per_page=ACCESSES_PER_PAGE,
        has_more=len(rows) == ACCESSES_PER_PAGE,
        items=[
            DataAccessPublic(
                id=row.id,
                at=row.at,
                actor_user_id=row.actor_user_id,
                actor=actors.get(row.actor_user_id) if row.actor_user_id else None,
                subject=mask_id(row.subject_id_number),
                registry=row.source_registry,
                registry_name=registry_name(row.source_registry),
                registry_name_en=registry_name(row.source_registry, "en"),
                record_id=(
                    mask_id(row.record_id)
                    if row.record_id == row.subject_id_number
                    else row.record_id
                ),
                purpose=row.purpose,
                case_number=row.case_number,
            )
            for row in rows
        ],
    )


@router.get("/dashboard", response_model=DashboardPublic)
@read_only
def dashboard(user: AdminUser, session: SessionDep, rt: RuntimeDep):
    """Per matter and per department: cases, time against limits, rates, evaluations, burden
    (the figures the dashboard page charts)."""
    return DashboardPublic(
        matters=[MatterFiguresPublic.model_validate(r) for r in matter_figures(session, rt)],
        departments=[
            DepartmentFiguresPublic.model_validate(r) for r in department_figures(session, rt)
        ],
    )


@router.get("/dashboard.csv", response_class=Response, responses=CSV_RESPONSES)
@read_only
def dashboard_csv(
    user: AdminUser, session: SessionDep, rt: RuntimeDep, table: CsvTable = "matters"
):
    """The dashboard's figures per matter or per department, for a spreadsheet."""
    return figures_csv_response(session, rt, table)


@router.get("/incidents", response_model=IncidentPagePublic)
@read_only
def incident_list(user: AdminUser, session: SessionDep, page: Page = 1):
    """Steps of cases that failed in their process (a condition, script, timer or decision
    table): what to fix in the process, newest first, 100 a page."""
    rows = incident_page(session, page=page)
    return IncidentPagePublic(
        page=page,
        per_page=INCIDENTS_PER_PAGE,
        has_more=len(rows) == INCIDENTS_PER_PAGE,
        items=[IncidentPublic.model_validate(row) for row in rows],
    )
