"""Run a deeply recursive call (SpiffWorkflow's parser follows a process flow by recursion, two
frames per element) where it has the room: a chain of 500 tasks needs more frames than Python's
default limit of 1000.

The call is first made as it is; only when it runs out of frames is it made again on a thread
of its own with a large stack and a raised recursion limit. The limit is process-wide, so deep
calls take turns and the limit is restored after each.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEEP_RECURSION_LIMIT = 20_000  # about 9,000 elements in a row for the parser
DEEP_STACK_BYTES = 256 * 1024 * 1024  # reserved, not used: pages are touched as frames grow
_TURN = threading.Lock()


def ran_out_of_frames(exc: BaseException) -> bool:
    """Whether a RecursionError is behind `exc` (SpiffWorkflow wraps it in its own errors)."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        if isinstance(exc, RecursionError):
            return True
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return False


def call_deeply(function: Callable[..., T], *args) -> T:
    """`function(*args)`, made again with room to recurse if it ran out of frames."""
    try:
        return function(*args)
    except Exception as exc:
        if not ran_out_of_frames(exc):
            raise
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = function(*args)
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    with _TURN:
        limit = sys.getrecursionlimit()
        stack = threading.stack_size(DEEP_STACK_BYTES)
        try:
            sys.setrecursionlimit(max(limit, DEEP_RECURSION_LIMIT))
            thread = threading.Thread(target=run, name="deep-call")
            thread.start()
            thread.join()
        finally:
            threading.stack_size(stack)
            sys.setrecursionlimit(limit)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
