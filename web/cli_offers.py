"""`onething registry-event KIND SUBJECT`: the embedded registry publishes one of its events (as
a hospital, the pension registry, the death registry or market regulation would), which offers
the matters that declare it (services/offers). For the demo and for testers: `onething
registry-event birth_recorded 310104199511020172` offers the newborn matter to 张磊 and his
wife; publishing the same record again is a replay and offers nothing new."""

from __future__ import annotations

import argparse

from services.offers.events import KINDS

SUBJECTS = {
    "birth_recorded": "a parent's citizen ID (their newest child's birth)",
    "retirement_due": "the person's citizen ID (statutory retirement date within 90 days)",
    "death_recorded": "the deceased's citizen ID",
    "business_licensed": "the enterprise's unified social credit code",
}


def add_registry_event_command(commands: argparse._SubParsersAction) -> None:
    """Register `registry-event` on the `onething` parser."""
    event = commands.add_parser(
        "registry-event", help="publish an embedded registry's event (it offers matters)"
    )
    event.add_argument("kind", choices=sorted(KINDS))
    event.add_argument(
        "subject", help="; ".join(f"{kind}: {what}" for kind, what in SUBJECTS.items())
    )
    event.set_defaults(run=_publish)


def _publish(args: argparse.Namespace) -> int:
    from sqlmodel import Session

    from services.errors import DomainError
    from services.offers.emission import publish
    from services.runtime import build_runtime

    rt = build_runtime()
    try:
        with Session(rt.db, expire_on_commit=False) as session:
            received = publish(session, rt, kind=args.kind, subject=args.subject)
    except DomainError as exc:
        print(f"onething: {exc.message_en}")
        return 2
    finally:
        rt.db.dispose()
    event = received.event
    if received.duplicate:
        print(f"event {event.event_id}: received before; no new offer")
        return 0
    print(f"event {event.event_id} ({event.kind}): {len(received.offers)} offer(s)")
    for offer in received.offers:
        print(f"  offer {offer.id}: {offer.matter} to {offer.role} {offer.id_number[:6]}********")
    return 0
