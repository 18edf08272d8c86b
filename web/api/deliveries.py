"""Postal delivery of results (统一寄递) over the API: the service centre's list of results to
post, shipping them with a tracking number and confirming delivery. The centre's page
(`/clerk/deliveries`) calls the same service functions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.cases import frontdesk, results
from services.cases.models import Case, Delivery
from services.cases.schemas import NO_NUL, ErrorPublic
from web.api.routing import Offset, RowId, api_router
from web.deps import ClerkUser, CsrfChecked, SessionDep

router = api_router(tags=["api: deliveries"])

DeliveryStatus = Literal["preparing", "shipped", "delivered"]


class DeliveryState(BaseModel):
    id: int
    case_id: int
    case_number: str | None
    status: DeliveryStatus
    status_label: str
    status_label_en: str
    tracking_number: str | None
    updated_at: datetime


class DeliveryToPost(DeliveryState):
    recipient: str = Field(description="The applicant, to whom the results go")
    address: str = Field(description="Where to post them")


class DeliveryUpdate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status": "shipped", "tracking_number": "SF1234567890"},
                {"status": "delivered"},
            ]
        }
    )

    status: Literal["shipped", "delivered"] = Field(
        description="The next status: preparing → shipped (with a tracking number) → delivered"
    )
    tracking_number: str = Field(
        default="",
        max_length=40,
        pattern=NO_NUL,
        description="The courier's tracking number; required when shipping",
    )


def _state(delivery: Delivery, case: Case) -> dict:
    return dict(
        id=delivery.id,
        case_id=case.id,
        case_number=case.number,
        status=delivery.status,
        status_label=results.DELIVERY_STATUS[delivery.status][0],
        status_label_en=results.DELIVERY_STATUS[delivery.status][1],
        tracking_number=delivery.tracking_number,
        updated_at=delivery.updated_at,
    )


@router.get(
    "/deliveries",
    response_model=list[DeliveryToPost],
    responses={404: {"model": ErrorPublic, "description": "Not the service centre"}},
)
def deliveries(
    user: ClerkUser,
    session: SessionDep,
    status: DeliveryStatus = "preparing",
    limit: int = 50,
    offset: Offset = 0,
):
    """The service centre's results to post, by status, oldest first. The addresses shown are
    logged as views of each case, in its applicant's data-access log."""
    rows = frontdesk.deliveries_to_post(
        session, clerk=user, status=status, limit=limit, offset=offset
    )
    return [
        DeliveryToPost(
            **_state(delivery, case), recipient=case.applicant_name, address=delivery.address
        )
        for delivery, case in rows
    ]


@router.post(
    "/deliveries/{delivery_id}",
    response_model=DeliveryState,
    dependencies=[CsrfChecked],
    responses={409: {"model": ErrorPublic, "description": "Not the next status"}},
)
def update_delivery(delivery_id: RowId, body: DeliveryUpdate, user: ClerkUser, session: SessionDep):
    """The centre ships a case's results (with the tracking number) or confirms their delivery;
    the applicant is told. The status moves one step at a time (else 409)."""
    delivery = results.update_delivery(
        session,
        delivery_id=delivery_id,
        status=body.status,
        tracking_number=body.tracking_number,
        actor=user,
    )
    return DeliveryState(**_state(delivery, session.get(Case, delivery.case_id)))
