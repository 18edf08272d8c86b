"""What every operator's action on running cases shares (issue 21: incidents in bulk, repair,
migration): only the `operator` role acts (administrators configure, clerks decide), and every
action states a reason that goes into the history of each case it touches."""

from __future__ import annotations

import unicodedata

from services.accounts.models import User
from services.errors import Forbidden, InvalidInput

REASON_MIN, REASON_MAX = 2, 200  # (incident_batch.reason holds 200)


def require_operator(user: User) -> None:
    if user.role != "operator":
        raise Forbidden(
            "只有运维人员可以处理运行中的办件（故障、检修、迁移）",
            "Only an operator acts on running cases (incidents, repair, migration)",
        )


def stated_reason(reason: str | None) -> str:
    """The operator's reason, whitespace folded: 2 to 200 characters of text, no control
    characters."""
    reason = " ".join((reason or "").split())
    if not REASON_MIN <= len(reason) <= REASON_MAX or any(
        unicodedata.category(c).startswith("C") for c in reason
    ):
        raise InvalidInput(
            "reason",
            f"请说明理由（{REASON_MIN}至{REASON_MAX}字，不含控制字符），理由将记入办件记录",
            f"Give a reason of {REASON_MIN} to {REASON_MAX} characters (no control characters): "
            "it goes into the case history",
        )
    return reason
