"""A department's system posts registry events signed as OneThing signs its webhooks
(services/departments/webhooks.py): `X-OneThing-Signature: sha256=<hex HMAC-SHA256(secret,
"<X-OneThing-Timestamp>.<raw body>")>`, with the department's secret of ONETHING_WEBHOOKS and a
timestamp (Unix seconds) within SIGNATURE_WINDOW of the server's clock. The caller also signs in
as the department's system account (a bearer token): the token says who, the signature that
the body is theirs and fresh; the event id then makes a replay within the window harmless."""

from __future__ import annotations

import hmac

from engine.clock import utcnow
from services.config import Settings
from services.departments.webhooks import signature
from services.errors import DomainError, Forbidden
from services.offers.events import KINDS

SIGNATURE_WINDOW = 300  # seconds either side of the server's clock


class BadSignature(DomainError):
    status = 401
    code = "bad_signature"


def check_signed(
    settings: Settings,
    *,
    department: str,
    kind: str,
    timestamp: str | None,
    signed: str | None,
    body: bytes,
) -> None:
    """Refuse an event the department may not post (Forbidden), or whose signature or timestamp
    does not hold (BadSignature)."""
    allowed = KINDS.get(kind)
    if allowed is not None and department not in allowed.departments:
        raise Forbidden(
            "本部门系统不能发布此类事件", "This department's system may not post this kind of event"
        )
    target = settings.webhooks.get(department)
    if target is None or not target.secret:
        raise Forbidden(
            "本部门未配置签名密钥（ONETHING_WEBHOOKS），不能发布事件",
            "No signing secret is configured for this department (ONETHING_WEBHOOKS)",
        )
    if not timestamp or not timestamp.isdigit() or len(timestamp) > 12:
        raise BadSignature("缺少或无效的时间戳", "Missing or invalid X-OneThing-Timestamp")
    if abs(utcnow().timestamp() - int(timestamp)) > SIGNATURE_WINDOW:
        raise BadSignature(
            "时间戳已过期或超前，请校准时钟后重发",
            f"The timestamp is more than {SIGNATURE_WINDOW} seconds off: check the clock",
            code="stale_timestamp",
        )
    expected = signature(target.secret, timestamp, body)
    if not signed or not hmac.compare_digest(signed.encode(), expected.encode()):
        raise BadSignature("签名无效", "The signature does not match the body")
