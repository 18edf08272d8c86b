"""Offers started by registry events, over the API (issue 22): the registry event endpoint
(signed), the citizen's offers, confirming or declining one. Pages: web/routes/offers.py."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from services.cases.schemas import NO_NUL, ErrorPublic
from services.offers import service as offers
from services.offers.signing import SIGNATURE_WINDOW, check_signed
from web.api.routing import RowId, api_router
from web.deps import CitizenUser, CsrfChecked, RuntimeDep, SessionDep, SystemUser
from web.openapi import answers

router = api_router(tags=["api: offers"])

Answer = str | int | bool | None


class RegistryEventIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "event_id": "hospital-2026-000123",
                    "kind": "birth_recorded",
                    "payload": {
                        "cert_number": "G310000014",
                        "sex": "M",
                        "birth_date": "2026-11-18",
                        "hospital": "复旦大学附属妇产科医院",
                        "mother_id_number": "34012119970214062X",
                        "father_id_number": "310104199511020172",
                    },
                }
            ]
        }
    )

    event_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9:_.\-]+$",
        description="The source's own id of the event: sent again, it is a replay (no new offer)",
    )
    kind: str = Field(
        max_length=32,
        description="birth_recorded, retirement_due, death_recorded or business_licensed",
    )
    payload: dict[str, Any] = Field(description="The event's fields (see docs/offers.md)")


class RegistryEventReceived(BaseModel):
    id: int
    event_id: str
    kind: str
    duplicate: bool = Field(description="A replay of an event received before: nothing new")
    offers: int = Field(description="Offers this event made (0 for a replay)")
    received_at: datetime


class OfferItemPublic(BaseModel):
    code: str
    name: str
    name_en: str
    department: str
    status: str = Field(
        description="qualifies, to_check (decided when confirmed) or not_applicable"
    )
    reason: str
    reason_en: str


class AskedFactPublic(BaseModel):
    key: str
    label: str
    label_en: str
    type: str
    options: list[dict[str, str]] = []


class OfferPublic(BaseModel):
    id: int
    matter: str
    matter_name: str
    matter_name_en: str
    role: str
    state: str = Field(description="offered, confirmed, declined, expired or taken_up")
    reason: str
    reason_en: str
    items: list[OfferItemPublic]
    answers: dict[str, Any] = Field(description="What the event filled in of the application")
    ask: list[AskedFactPublic] = Field(
        description="What confirming needs besides (no registry holds it): send it as answers"
    )
    created_at: datetime
    expires_at: datetime
    case_id: int | None = None
    case_url: str | None = None
    decline_reason: str | None = None


class OfferConfirm(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"answers": {"child_name": "张小满", "applicant_phone": "13812345678"}}]
        }
    )

    answers: dict[str, Answer] = Field(
        default={},
        description="The asked facts (`ask`), and any other answer of the matter's form",
        examples=[{"child_name": "张小满", "applicant_phone": "13812345678"}],
    )


class OfferDecline(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "已在医院办理"}]})

    reason: str = Field(default="", max_length=200, pattern=NO_NUL)


class OfferConfirmed(BaseModel):
    offer: OfferPublic
    case_id: int
    case_number: str | None
    case_url: str


def offer_public(view: offers.OfferView) -> OfferPublic:
    offer = view.offer
    own_case = view.case if offer.case_id else None
    return OfferPublic(
        id=offer.id,
        matter=offer.matter,
        matter_name=view.matter.name,
        matter_name_en=view.matter.name_en,
        role=offer.role,
        state=view.state,
        reason=offer.reason,
        reason_en=offer.reason_en,
        items=[OfferItemPublic(**item) for item in offer.items],
        answers=offer.answers,
        ask=[
            AskedFactPublic(
                key=f.key,
                label=f.label,
                label_en=f.label_en,
                type=f.type,
                options=[
                    {"value": o.value, "label": o.label, "label_en": o.label_en} for o in f.options
                ],
            )
            for f in view.ask
        ],
        created_at=offer.created_at,
        expires_at=offer.expires_at,
        case_id=own_case.id if own_case else None,
        case_url=f"/cases/{own_case.id}" if own_case else None,
        decline_reason=offer.decline_reason,
    )


SIGNED = {
    401: {
        "model": ErrorPublic,
        "description": "Not signed in, or the signature or its timestamp does not hold "
        f"(more than {SIGNATURE_WINDOW} seconds off)",
    },
    403: {
        "model": ErrorPublic,
        "description": "Not a department system, one that may not post this kind of event, or "
        "one with no signing secret configured",
    },
    409: {"model": ErrorPublic, "description": "The event id was used for another event"},
}


@router.post(
    "/registry-events",
    response_model=RegistryEventReceived,
    responses=SIGNED,
    dependencies=[CsrfChecked],
)
@answers(401, 409)
async def post_registry_event(
    request: Request,
    body: RegistryEventIn,
    user: SystemUser,
    session: SessionDep,
    rt: RuntimeDep,
    x_onething_timestamp: Annotated[str | None, Header(max_length=20)] = None,
    x_onething_signature: Annotated[str | None, Header(max_length=100)] = None,
):
    """For a department's own system: publish a registry event (a birth recorded, a statutory
    retirement date within 90 days, a death recorded, a business licence granted), signed with
    the department's secret as OneThing signs its webhooks. The event offers each matter that
    declares its kind to the people it names. The same `event_id` again is a replay: 200 with
    `duplicate`, never a second offer."""
    raw = await request.body()
    check_signed(
        rt.settings,
        department=user.department or "",
        kind=body.kind,
        timestamp=x_onething_timestamp,
        signed=x_onething_signature,
        body=raw,
    )
    received = await run_in_threadpool(
        offers.receive_event,
        session,
        rt,
        source=user.department or "",
        event_id=body.event_id,
        kind=body.kind,
        payload=body.payload,
    )
    event = received.event
    return RegistryEventReceived(
        id=event.id,
        event_id=event.event_id,
        kind=event.kind,
        duplicate=received.duplicate,
        offers=len(received.offers),
        received_at=event.received_at,
    )


@router.get("/offers", response_model=list[OfferPublic])
def list_offers(user: CitizenUser, session: SessionDep, rt: RuntimeDep):
    """The signed-in citizen's offers, newest first: what the state prepared for them."""
    return [offer_public(view) for view in offers.list_offers(session, rt, user=user)]


@router.get("/offers/{offer_id}", response_model=OfferPublic)
def get_offer(offer_id: RowId, user: CitizenUser, session: SessionDep, rt: RuntimeDep):
    """One of the citizen's offers (others' offers do not exist for them); the view is logged."""
    return offer_public(offers.view_offer(session, rt, user=user, offer_id=offer_id))


@router.post(
    "/offers/{offer_id}/confirm",
    response_model=OfferConfirmed,
    status_code=201,
    dependencies=[CsrfChecked],
)
@answers(409, 503)
def confirm_offer(
    offer_id: RowId, body: OfferConfirm, user: CitizenUser, session: SessionDep, rt: RuntimeDep
):
    """Confirm the offer in one step: consent to the matter's lookups, then the application is
    submitted as `POST /api/v1/cases` would with the offer's answers and `answers`. Confirmed
    before: the same case. Expired, declined or taken up by another applicant: 409 saying so;
    a missing answer: 422 naming it (nothing started)."""
    case = offers.confirm_offer(
        session, rt, user=user, offer_id=offer_id, answers=dict(body.answers)
    )
    view = offers.view_offer(session, rt, user=user, offer_id=offer_id)
    return OfferConfirmed(
        offer=offer_public(view),
        case_id=case.id,
        case_number=case.number,
        case_url=f"/cases/{case.id}",
    )


@router.post("/offers/{offer_id}/decline", response_model=OfferPublic, dependencies=[CsrfChecked])
@answers(409)
def decline_offer(
    offer_id: RowId, body: OfferDecline, user: CitizenUser, session: SessionDep, rt: RuntimeDep
):
    """Decline the offer (an optional reason): nothing is read or started."""
    offers.decline_offer(session, user=user, offer_id=offer_id, reason=body.reason)
    return offer_public(offers.view_offer(session, rt, user=user, offer_id=offer_id))
