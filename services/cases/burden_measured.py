"""The burden each case measured in use (issue 22): fields typed, materials uploaded, trips,
working days; per matter, median and distribution, and the share of cases started from an offer.

The write side is cheap by design: one INSERT with the submission (`record_submission`, in its
transaction, from what the submission has in hand: no SELECT), one UPDATE with a correction
(`record_correction`) and one when a case turns out to have started from an offer
(`record_offer_start`). The working days are not stored: they are counted at read time from the
case's own `created_at` and `completed_at`, so completing a case writes nothing here."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlmodel import Field, Session, SQLModel, col, select

from engine.clock import utcnow
from services.calendar import local_date, working_days_between
from services.cases.models import Case

if TYPE_CHECKING:
    from forms.compiler import CompiledForm
    from services.runtime import Runtime

MEASURED_DAYS = 365  # the figures count the cases submitted in the last twelve months


class CaseBurden(SQLModel, table=True):
    """What one case cost its applicant, as measured: one row per case, written at submission
    and added to by its corrections (its own table: the case's row is left alone)."""

    __tablename__ = "case_burden"
    case_id: int = Field(foreign_key="case_file.id", primary_key=True)
    fields_typed: int = 0  # answers the applicant typed (facts not filled from a registry)
    fields_prefilled: int = 0  # facts shown filled from the registries
    materials_uploaded: int = 0  # materials the applicant uploaded (scanned at the window too)
    materials_fetched: int = 0  # materials fetched from the registries instead (exempt)
    trips: int = 0  # visits: the window, an in-person item, collecting the results at a window
    corrections: int = 0  # corrections the applicant sent
    started_from_offer: bool = False  # the application answered an offer (主动服务)


# ---------------------------------------------------------------- recording


def record_submission(
    session: Session,
    *,
    case: Case,
    form: CompiledForm,
    uploaded: Iterable[str],
    started_from_offer: bool = False,
) -> None:
    """Add the new case's burden row (flushed with the submission's other rows: one INSERT).
    `uploaded` are the codes of the materials the applicant's files were for."""
    uploaded = set(uploaded)
    asked = form.fields
    prefilled = sum(1 for f in asked if f.known is not None)
    typed = sum(1 for f in asked if f.known is None and _answered(f.value))
    fetched = sum(1 for e in form.checklist if e.status == "exempt" and e.code not in uploaded)
    session.add(
        CaseBurden(
            case_id=case.id,
            fields_typed=typed,
            fields_prefilled=prefilled,
            materials_uploaded=len(uploaded),
            materials_fetched=fetched,
            trips=trips_of(case.channel, case.data, in_person=any(i.in_person for i in form.items)),
            started_from_offer=started_from_offer,
        )
    )


def trips_of(channel: str, data: dict[str, Any], *, in_person: bool) -> int:
    """The trips a case costs its applicant: the visit to the window it was accepted at (or that
    an item needing the applicant present asks for: the same visit), and collecting the results
    at a window when that was the choice (post and download cost none)."""
    visit = 1 if channel == "window" or in_person else 0
    collect = 1 if data.get("delivery_method") == "window" else 0
    return visit + collect


def record_correction(session: Session, *, case_id: int, fields: int, materials: int) -> None:
    """A correction sent: its typed fields and uploaded materials add to the case's (one UPDATE,
    no read)."""
    session.execute(
        update(CaseBurden)
        .where(col(CaseBurden.case_id) == case_id)
        .values(
            fields_typed=CaseBurden.fields_typed + fields,
            materials_uploaded=CaseBurden.materials_uploaded + materials,
            corrections=CaseBurden.corrections + 1,
        )
    )


def record_offer_start(session: Session, case_id: int) -> None:
    """The case was started from an offer (an event in a registry prompted it): counted in the
    share of cases started from offers. One UPDATE; call it in the submission's transaction,
    after the case exists."""
    session.execute(
        update(CaseBurden).where(col(CaseBurden.case_id) == case_id).values(started_from_offer=True)
    )


def _answered(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


# ---------------------------------------------------------------- figures


@dataclass(frozen=True)
class Distribution:
    """How a figure spread over the cases measured (None when there is none)."""

    count: int = 0
    minimum: float | None = None
    p25: float | None = None
    median: float | None = None
    p75: float | None = None
    maximum: float | None = None
    mean: float | None = None


def distribution(values: Sequence[float]) -> Distribution:
    if not values:
        return Distribution()
    ordered = sorted(values)
    if len(ordered) == 1:
        quartiles = [ordered[0]] * 3
    else:
        quartiles = statistics.quantiles(ordered, n=4, method="inclusive")
    return Distribution(
        count=len(ordered),
        minimum=ordered[0],
        p25=quartiles[0],
        median=quartiles[1],
        p75=quartiles[2],
        maximum=ordered[-1],
        mean=statistics.fmean(ordered),
    )


@dataclass(frozen=True)
class MeasuredBurden:
    """A matter's burden as its cases measured it, beside what the catalog expects."""

    matter: str
    cases: int = 0  # cases measured (submitted since `since`)
    fields_typed: Distribution = Distribution()
    fields_prefilled: Distribution = Distribution()
    materials_uploaded: Distribution = Distribution()
    trips: Distribution = Distribution()
    working_days: Distribution = Distribution()  # completed cases only
    corrections: Distribution = Distribution()
    from_offer: int = 0

    @property
    def offer_share(self) -> float | None:
        return self.from_offer / self.cases if self.cases else None


_MEASURED = ("fields_typed", "fields_prefilled", "materials_uploaded", "trips", "corrections")


def measured_burden(
    session: Session, *, since: datetime | None = None, until: datetime | None = None
) -> dict[str, MeasuredBurden]:
    """Per matter, the measured burden of the cases submitted from `since` (default: twelve
    months ago) to `until`: one query, the medians and quartiles in Python."""
    since = since if since is not None else utcnow() - timedelta(days=MEASURED_DAYS)
    query = (
        select(
            Case.matter,
            Case.created_at,
            Case.completed_at,
            CaseBurden.fields_typed,
            CaseBurden.fields_prefilled,
            CaseBurden.materials_uploaded,
            CaseBurden.trips,
            CaseBurden.corrections,
            CaseBurden.started_from_offer,
        )
        .join(CaseBurden, col(CaseBurden.case_id) == Case.id)
        .where(col(Case.created_at) >= since)
    )
    if until is not None:
        query = query.where(col(Case.created_at) < until)
    columns: dict[str, dict[str, list[float]]] = {}
    offers: dict[str, int] = {}
    for matter, created, completed, *figures, from_offer in session.exec(query).all():
        row = columns.setdefault(matter, {key: [] for key in (*_MEASURED, "working_days")})
        for key, value in zip(_MEASURED, figures, strict=True):
            row[key].append(value)
        if completed is not None:
            row["working_days"].append(
                working_days_between(local_date(created), local_date(completed))
            )
        offers[matter] = offers.get(matter, 0) + (1 if from_offer else 0)
    return {
        matter: MeasuredBurden(
            matter=matter,
            cases=len(row["fields_typed"]),
            from_offer=offers[matter],
            **{key: distribution(values) for key, values in row.items()},
        )
        for matter, row in columns.items()
    }


def measured_for(rt: Runtime, measured: dict[str, MeasuredBurden]) -> list[MeasuredBurden]:
    """One row per catalog matter, in catalog order (a matter without cases: all empty)."""
    return [measured.get(code, MeasuredBurden(matter=code)) for code in rt.catalog.matters]
