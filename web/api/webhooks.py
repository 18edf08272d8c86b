"""The events OneThing sends to departments' systems, published in the OpenAPI document's
`webhooks` (OpenAPI 3.1): each is a signed POST to the URL the department configured
(`ONETHING_WEBHOOKS`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header

from services.departments.schemas import TaskCreatedEvent

router = APIRouter()

SIGNED = (
    "Signed with HMAC-SHA256 over `<X-OneThing-Timestamp>.<raw body>` with the department's "
    "secret: `X-OneThing-Signature: sha256=<hex>`. Verify it in constant time and refuse a "
    "timestamp more than 5 minutes away (examples/webhook_receiver.py does both). Answer 2xx "
    "to acknowledge; anything else is retried with exponential backoff, at most 8 times. "
    "Deliveries are sent once across server processes and hosts, but a receiver may see a "
    "retry of one it already took (the same `id`)."
)


@router.post("task.created", summary="A task was routed to the department", description=SIGNED)
def task_created(
    body: TaskCreatedEvent,
    x_onething_event: Annotated[str, Header(description="task.created")],
    x_onething_delivery: Annotated[str, Header(description="The delivery's id")],
    x_onething_timestamp: Annotated[str, Header(description="Unix time of the send")],
    x_onething_signature: Annotated[str, Header(description="sha256=<hex HMAC>")],
) -> None:
    """Documentation only: OneThing calls the department's URL with this body."""
