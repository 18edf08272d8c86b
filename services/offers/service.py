"""Offers (免申即享): a registry event offers a matter to the people it names, pre-filled with
what the event carried; the person confirms it in one step (only then are the registries read,
under the consent the confirmation gives, and a case started through the ordinary submission),
edits it into the ordinary form, or declines it. Offers expire.

Nothing here reads a registry before the confirmation: an offer's items and reasons come from
the event's own payload and the catalog's conditions; an item whose condition needs facts the
event did not carry is marked "to check" and decided by the application itself. A replayed or
duplicate event (the same source and event id, or the same kind and subject again) makes no
second offer. Every event, offer, view, confirmation, refusal and expiry is in `offer_log`.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from engine.clock import utcnow
from forms.catalog import Fact, Matter
from forms.compiler import compile_form, condition_holds
from services.accounts.models import User
from services.cases.access import require_citizen
from services.cases.burden_measured import record_offer_start
from services.cases.drafts import save_draft
from services.cases.models import Case
from services.cases.submission import (
    answerable_facts,
    lookups_consented,
    subject_key,
    submit_application,
)
from services.configuration.matters import offered
from services.errors import Conflict, InvalidInput, NotFound
from services.notifications.service import notify
from services.offers.events import (
    KINDS,
    EventKind,
    check_payload,
    describe,
    implied_answers,
    left_empty,
    recipients,
)
from services.offers.models import Offer, OfferLog, RegistryEvent
from services.runtime import Runtime

EVENT_ID = re.compile(r"^[A-Za-z0-9:_.\-]{1,64}$")
SOURCE = re.compile(r"^[a-z0-9_]{1,32}$")
LIST_LIMIT = 100
DECLINE_REASON_MAX = 200

# An offer's state as the person sees it: the stored status, or expired / taken up (another
# applicant, a family member, started the case for the same subject) while it is still open.
STATES = {
    "offered": ("待确认", "Waiting for you"),
    "confirmed": ("已确认办理", "Confirmed"),
    "declined": ("已谢绝", "Declined"),
    "expired": ("已过期", "Expired"),
    "taken_up": ("已由家人办理", "Taken up by another applicant"),
}
ITEM_STATES = {
    "qualifies": ("符合条件", "You qualify"),
    "to_check": ("确认后核对", "Checked when you confirm"),
    "not_applicable": ("不适用", "Does not apply"),
}


def _log(
    session: Session,
    action: str,
    actor: str,
    *,
    event: RegistryEvent | None = None,
    offer: Offer | None = None,
    detail: str = "",
) -> None:
    session.add(
        OfferLog(
            event_row_id=event.id if event else (offer.event_row_id if offer else None),
            offer_id=offer.id if offer else None,
            action=action,
            actor=actor[:64],
            detail=detail[:300],
        )
    )


def _user_actor(user: User) -> str:
    return f"user:{user.id}"


# ---------------------------------------------------------------- events


@dataclass
class Received:
    """What one event did: its row, the offers it made, whether it was a replay."""

    event: RegistryEvent
    offers: list[Offer] = field(default_factory=list)
    duplicate: bool = False


def receive_event(
    session: Session,
    rt: Runtime,
    *,
    source: str,
    event_id: str,
    kind: str,
    payload: Any,
) -> Received:
    """Record a registry event and offer each published matter that declares its kind to the
    people its mapping names (one offer per matter and person). The same `source` and
    `event_id` again is a replay: nothing new (Conflict if its kind or subject differ). Events
    of matters not published, or for people without an account, are recorded all the same;
    an offer waits for its person by ID number. Commits."""
    if not SOURCE.fullmatch(source or ""):
        raise InvalidInput("source", "事件来源无效", "Invalid event source")
    if not isinstance(event_id, str) or not EVENT_ID.fullmatch(event_id):
        raise InvalidInput(
            "event_id",
            "事件编号须为1至64位字母、数字或 : _ . -",
            "The event id must be 1 to 64 letters, digits or : _ . -",
        )
    event_kind, clean = check_payload(kind, payload)
    subject = str(clean[event_kind.subject])
    earlier = _event_of(session, source, event_id)
    if earlier is not None:
        return _replayed(session, earlier, event_kind, subject)
    event = RegistryEvent(
        source=source, event_id=event_id, kind=event_kind.code, subject_id=subject, payload=clean
    )
    session.add(event)
    try:
        session.flush()
    except IntegrityError:  # the same event, received by a parallel request just now
        session.rollback()
        earlier = _event_of(session, source, event_id)
        if earlier is None:
            raise
        return _replayed(session, earlier, event_kind, subject)
    _log(session, "event_received", f"registry:{source}", event=event, detail=event_kind.code)
    made = _make_offers(session, rt, event, event_kind)
    event.offers_made = len(made)
    session.add(event)
    session.commit()
    return Received(event, made)


def _event_of(session: Session, source: str, event_id: str) -> RegistryEvent | None:
    return session.exec(
        select(RegistryEvent).where(
            RegistryEvent.source == source, RegistryEvent.event_id == event_id
        )
    ).first()


def _replayed(session: Session, earlier: RegistryEvent, kind: EventKind, subject: str) -> Received:
    if earlier.kind != kind.code or earlier.subject_id != subject:
        _log(
            session,
            "event_refused",
            f"registry:{earlier.source}",
            event=earlier,
            detail="event id reused for another event",
        )
        session.commit()
        raise Conflict(
            "该事件编号已用于另一事件，未予处理",
            "This event id was used for another event; not processed",
            code="event_id_reused",
        )
    _log(session, "event_replayed", f"registry:{earlier.source}", event=earlier)
    session.commit()
    return Received(earlier, [], duplicate=True)


def _make_offers(
    session: Session, rt: Runtime, event: RegistryEvent, kind: EventKind
) -> list[Offer]:
    made: list[Offer] = []
    now = utcnow()
    reason, reason_en = describe(kind, event.payload)
    for code in sorted(rt.catalog.matters):
        rule = next((r for r in rt.catalog.matters[code].offers if r.event == kind.code), None)
        if rule is None:
            continue
        matter, _ = offered(session, rt, code)
        if not matter.published:
            _log(
                session,
                "not_offered",
                "system",
                event=event,
                detail=f"matter {code} is not published",
            )
            continue
        allowed = answerable_facts(rt, matter)
        for id_number, role in recipients(kind, rule.to, event.payload):
            if _offered_before(session, matter.code, id_number, kind.code, event.subject_id):
                _log(
                    session,
                    "not_offered",
                    "system",
                    event=event,
                    detail=f"matter {code}: an earlier event for this subject offered it",
                )
                continue
            answers = {
                key: value
                for key, value in implied_answers(kind, event.payload, id_number).items()
                if key in allowed
            }
            offer = Offer(
                event_row_id=event.id,
                matter=matter.code,
                id_number=id_number,
                role=role,
                items=offer_items(rt, matter, answers),
                answers=answers,
                reason=reason[:300],
                reason_en=reason_en[:300],
                created_at=now,
                expires_at=now + timedelta(days=rule.expires_days),
            )
            session.add(offer)
            session.flush()
            _log(session, "offered", "system", offer=offer, detail=f"{matter.code} as {role}")
            _tell(session, offer, matter)
            made.append(offer)
    return made


def _offered_before(
    session: Session, matter: str, id_number: str, kind: str, subject_id: str
) -> bool:
    """An earlier event of the same kind and subject (another source's copy) offered it."""
    found = session.exec(
        select(Offer.id)
        .join(RegistryEvent, col(RegistryEvent.id) == col(Offer.event_row_id))
        .where(
            Offer.matter == matter,
            Offer.id_number == id_number,
            RegistryEvent.kind == kind,
            RegistryEvent.subject_id == subject_id,
        )
        .limit(1)
    ).first()
    return found is not None


def _tell(session: Session, offer: Offer, matter: Matter) -> None:
    """The person's inbox, if they have an account (else the offer waits for their sign-in)."""
    user = session.exec(
        select(User).where(User.id_number == offer.id_number, User.role == "citizen")
    ).first()
    if user is None or user.id is None:
        return
    notify(
        session,
        user_id=user.id,
        case_id=None,
        kind="offered",
        title=f"可直接办理：{matter.name}",
        body=f"{offer.reason}。您可以一步确认办理《{matter.name}》，详见“为您准备的服务”：/offers/{offer.id}",
    )


# ---------------------------------------------------------------- items and reasons


def _names(expression: str) -> set[str]:
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        return set()
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def offer_items(rt: Runtime, matter: Matter, answers: dict[str, Any]) -> list[dict[str, Any]]:
    """Each item of the matter with whether the person qualifies and why, decided on what the
    event carried only (no registry is read): no condition, a condition the event's facts
    decide, or one that needs facts the event did not carry (checked when they confirm)."""
    facts = rt.catalog.facts
    scope = {key: None for key in facts} | answers
    found = []
    for item in rt.catalog.items_of(matter):
        condition = matter.condition_of(item)
        if condition is None:
            state, why, why_en = "qualifies", "无附加条件", "No further condition"
        else:
            used = sorted(n for n in _names(condition) if n in facts)
            missing = [n for n in used if answers.get(n) is None]
            labels = "、".join(facts[n].label for n in (missing or used))
            labels_en = ", ".join(facts[n].label_en for n in (missing or used))
            if missing:
                state = "to_check"
                why = f"取决于：{labels}（确认时按共享数据或您的回答核对）"
                why_en = f"Depends on: {labels_en} (checked from the registries or your answers)"
            elif condition_holds(condition, scope):
                state, why, why_en = "qualifies", f"符合：{labels}", f"Met: {labels_en}"
            else:
                state, why, why_en = "not_applicable", f"不符合：{labels}", f"Not met: {labels_en}"
        found.append(
            {
                "code": item.code,
                "name": item.name,
                "name_en": item.name_en,
                "department": item.department,
                "status": state,
                "reason": why,
                "reason_en": why_en,
            }
        )
    return found


# ---------------------------------------------------------------- the person's offers


def _own_offer(session: Session, user: User, offer_id: int) -> Offer:
    """The offer, if it is the signed-in citizen's own (others' offers do not exist for them)."""
    id_number = require_citizen(user)
    offer = session.get(Offer, offer_id)
    if offer is None or offer.id_number != id_number:
        raise NotFound("没有这项为您准备的服务", "No such offer")
    return offer


def _subject_case(session: Session, rt: Runtime, offer: Offer) -> Case | None:
    """The open or granted case of the offer's subject (the child, the retiree...), if any."""
    matter = rt.catalog.matters.get(offer.matter)
    if matter is None:
        return None
    digest = subject_key(matter, offer.answers, offer.id_number)
    if digest is None:
        return None
    return session.exec(
        select(Case).where(Case.matter == offer.matter, col(Case.subject_key) == digest).limit(1)
    ).first()


def state_of(offer: Offer, taken: Case | None, user_id: int | None) -> str:
    """What the person sees: the stored status, or expired, or taken up by someone else."""
    if offer.status != "offered":
        return offer.status
    if taken is not None and taken.applicant_user_id != user_id:
        return "taken_up"
    if offer.expires_at <= utcnow():
        return "expired"
    return "offered"


@dataclass
class OfferView:
    offer: Offer
    matter: Matter
    state: str
    kind: EventKind
    ask: list[Fact]  # the facts the person still has to give (what no registry holds)
    case: Case | None = None  # the case it became, or the case of the subject (taken up)


def list_offers(session: Session, rt: Runtime, *, user: User) -> list[OfferView]:
    """The citizen's offers, newest first (the newest LIST_LIMIT)."""
    id_number = require_citizen(user)
    rows = session.exec(
        select(Offer)
        .where(Offer.id_number == id_number)
        .order_by(col(Offer.id).desc())
        .limit(LIST_LIMIT)
    ).all()
    # (an offer of a matter since removed from the catalog is no longer shown)
    return [_view(session, rt, offer, user) for offer in rows if offer.matter in rt.catalog.matters]


def open_count(session: Session, *, user: User) -> int:
    """How many offers wait for the citizen's answer (the header's count)."""
    if user.role != "citizen" or not user.id_number:
        return 0
    rows = session.exec(
        select(Offer.id).where(
            Offer.id_number == user.id_number,
            Offer.status == "offered",
            col(Offer.expires_at) > utcnow(),
        )
    ).all()
    return len(rows)


def _view(session: Session, rt: Runtime, offer: Offer, user: User) -> OfferView:
    matter = rt.catalog.matters[offer.matter]
    event = session.get(RegistryEvent, offer.event_row_id)
    kind = KINDS[event.kind]
    case = session.get(Case, offer.case_id) if offer.case_id else _subject_case(session, rt, offer)
    state = state_of(offer, case, user.id)
    return OfferView(offer, matter, state, kind, _to_ask(rt, matter, offer, kind, event), case)


def _to_ask(
    rt: Runtime, matter: Matter, offer: Offer, kind: EventKind, event: RegistryEvent
) -> list[Fact]:
    """The required facts no registry holds (or the event left empty) that the offer does not
    answer: asked on the offer page, so confirming is one step."""
    form = compile_form(rt.catalog, matter, {}, offer.answers)
    empty = set(left_empty(kind, event.payload))
    return [
        f.fact
        for f in form.fields
        if f.required and f.key not in offer.answers and (f.fact.source is None or f.key in empty)
    ]


def view_offer(session: Session, rt: Runtime, *, user: User, offer_id: int) -> OfferView:
    """One of the citizen's offers (its view is logged). Commits."""
    offer = _own_offer(session, user, offer_id)
    if offer.matter not in rt.catalog.matters:
        raise NotFound("这项服务已不再提供", "This matter is no longer offered")
    view = _view(session, rt, offer, user)
    _log(session, "viewed", _user_actor(user), offer=offer)
    session.commit()
    return view


def confirm_offer(
    session: Session,
    rt: Runtime,
    *,
    user: User,
    offer_id: int,
    answers: dict[str, Any] | None = None,
) -> Case:
    """Confirm an offer in one step: the consent to the matter's lookups is given (if not in
    force), the registries are read and the application submitted with the offer's answers and
    those given now, through the ordinary submission. Confirmed already: its case. Declined,
    expired or taken up by another applicant: Conflict saying so. Commits."""
    offer = _own_offer(session, user, offer_id)
    if offer.status == "confirmed" and offer.case_id is not None:
        return session.get(Case, offer.case_id)
    taken = _subject_case(session, rt, offer)
    state = state_of(offer, taken, user.id)
    if state != "offered":
        _refuse(session, user, offer, state)
    if taken is not None:  # applied already (the ordinary form, or a confirmation cut short)
        _became(session, user, offer, taken)
        session.commit()
        return taken
    given = {k: v for k, v in (answers or {}).items() if v not in (None, "")}
    allowed = answerable_facts(rt, offered(session, rt, offer.matter)[0])
    merged = {k: v for k, v in offer.answers.items() if k in allowed} | given
    consent_now = not lookups_consented(session, user=user, matter_code=offer.matter, manual=False)

    def taken_up(current: Session, case: Case) -> None:  # in the submission's transaction
        _became(current, user, current.get(Offer, offer_id), case)
        record_offer_start(current, case.id)  # the measured burden's share from offers

    try:
        case = submit_application(
            session,
            rt,
            user=user,
            matter_code=offer.matter,
            answers=merged,
            consented=True,
            record_consent=consent_now,
            then=taken_up,
        )
    except (InvalidInput, Conflict) as refusal:  # nothing of the attempt was kept
        offer = session.get(Offer, offer_id)
        _log(
            session,
            "confirm_refused",
            _user_actor(user),
            offer=offer,
            detail=", ".join(sorted(getattr(refusal, "fields", {}))) or refusal.code,
        )
        session.commit()
        raise
    return case


def _became(session: Session, user: User, offer: Offer, case: Case) -> Case:
    """The offer became `case` (not committed: the caller's transaction carries it). A case
    the confirmation started counts as started from an offer in the measured burden."""
    offer.status, offer.case_id, offer.decided_at = "confirmed", case.id, utcnow()
    session.add(offer)
    _log(session, "confirmed", _user_actor(user), offer=offer, detail=case.number or "")
    return case


def _refuse(session: Session, user: User, offer: Offer, state: str) -> None:
    _log(session, "refused", _user_actor(user), offer=offer, detail=state)
    if state == "expired" and offer.status == "offered":
        offer.status = "expired"
        session.add(offer)
    session.commit()
    if state == "expired":
        raise Conflict(
            "这项服务的办理期限已过，无法再一键确认；如仍需办理，请在“办事”中正常申请。",
            "This offer has expired and cannot be confirmed; you can still apply in Services.",
            link=f"/matters/{offer.matter}/apply",
            code="offer_expired",
        )
    if state == "taken_up":
        raise Conflict(
            "这件事已由其他申请人（如家庭成员）确认办理，无需您再办理。",
            "Another applicant (a family member, say) already took this up; nothing more for "
            "you to do.",
            code="offer_taken_up",
        )
    raise Conflict(
        "您已谢绝这项服务；如仍需办理，请在“办事”中正常申请。",
        "You declined this offer; you can still apply in Services.",
        link=f"/matters/{offer.matter}/apply",
        code="offer_declined",
    )


def decline_offer(session: Session, *, user: User, offer_id: int, reason: str = "") -> Offer:
    """The citizen declines the offer (an optional reason); nothing is read or started. A
    declined offer declined again stays as it was. Commits."""
    offer = _own_offer(session, user, offer_id)
    reason = " ".join((reason or "").split())
    if len(reason) > DECLINE_REASON_MAX or "\x00" in reason:
        raise InvalidInput(
            "reason",
            f"原因不超过{DECLINE_REASON_MAX}字",
            f"At most {DECLINE_REASON_MAX} characters",
        )
    if offer.status == "declined":
        return offer
    if offer.status == "confirmed":
        raise Conflict(
            "这项服务已确认办理，无法谢绝", "This offer was confirmed already", code="conflict"
        )
    offer.status, offer.decided_at, offer.decline_reason = "declined", utcnow(), reason or None
    session.add(offer)
    _log(session, "declined", _user_actor(user), offer=offer, detail=reason)
    session.commit()
    return offer


def edit_offer(session: Session, rt: Runtime, *, user: User, offer_id: int) -> str:
    """修改后办理: the offer's answers become the citizen's draft of the ordinary form (which
    they then check, change and submit); the matter's code, for the form's address. Commits."""
    offer = _own_offer(session, user, offer_id)
    taken = _subject_case(session, rt, offer)
    state = state_of(offer, taken, user.id)
    if state != "offered":
        _refuse(session, user, offer, state)
    allowed = answerable_facts(rt, offered(session, rt, offer.matter)[0])
    answers = {k: v for k, v in offer.answers.items() if k in allowed}
    save_draft(session, rt, user=user, matter_code=offer.matter, answers=answers)
    offer = _own_offer(session, user, offer_id)
    _log(session, "edited", _user_actor(user), offer=offer)
    session.commit()
    return offer.matter


# ---------------------------------------------------------------- upkeep and figures


def expire_offers(session: Session) -> int:
    """Mark the open offers past their expiry expired (the daily maintenance); how many. The
    caller commits."""
    now = utcnow()
    rows = session.exec(
        select(Offer).where(Offer.status == "offered", col(Offer.expires_at) <= now)
    ).all()
    for offer in rows:
        offer.status = "expired"
        session.add(offer)
        _log(session, "expired", "system", offer=offer)
    return len(rows)


def case_ids_from_offers(session: Session) -> set[int]:
    """The cases started by confirming an offer (the share of cases the state came to)."""
    return set(session.exec(select(Offer.case_id).where(col(Offer.case_id).is_not(None))).all())


__all__ = [
    "Received",
    "case_ids_from_offers",
    "confirm_offer",
    "decline_offer",
    "edit_offer",
    "expire_offers",
    "list_offers",
    "open_count",
    "receive_event",
    "view_offer",
]
