"""The expression sandbox (engine/sandbox.py) as code meets it: the corpus of known escapes and
resource bombs is refused when checked and when run, what passes the check is held to the
allow-list and the bounds as it runs, and every evaluation ends within its time limit, stopped
by the guards or, from outside, by the watchdog.

The places where administrators write code are in test_sandbox_sites.py; the ten matters' own
code in test_sandbox_matters.py."""

from __future__ import annotations

import os
import threading
import time
from datetime import date

import pytest

from engine import sandbox
from engine.sandbox import (
    FUNCTIONS,
    SandboxError,
    SandboxLimit,
    SandboxTimeout,
    check_expression,
    check_script,
    evaluate,
    execute,
)
from tests.security.sandbox_corpus import BOMBS, ESCAPES, PAYLOADS, SCRIPTS

CONTEXT = {"x": "s"}


def _attempt(source: str, script: bool, context: dict | None = None):
    run = execute if script else evaluate
    return run(source, dict(CONTEXT if context is None else context))


# --- the corpus --------------------------------------------------------------------------------


def test_the_corpus_holds_over_fifty_distinct_escapes_and_bombs():
    names = [payload.name for payload in PAYLOADS]
    assert len(names) == len(set(names)) and len(names) >= 50
    assert len(ESCAPES) >= 40 and len(BOMBS) >= 20 and len(SCRIPTS) >= 15


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda payload: payload.name)
def test_a_corpus_payload_is_refused_when_checked_and_when_run(payload, tmp_path):
    canary = tmp_path / "canary"
    source = payload.with_canary(str(canary))
    problems = (check_script if payload.script else check_expression)(source)
    assert problems, "accepted by the check"
    assert all("(rule: " in problem for problem in problems), problems
    with pytest.raises((SandboxError, SandboxLimit)) as refused:
        _attempt(source, payload.script)
    assert "(rule: " in str(refused.value)
    assert not canary.exists()


@pytest.mark.parametrize("payload", ESCAPES + BOMBS, ids=lambda payload: payload.name)
def test_a_corpus_expression_is_refused_in_a_script_too(payload, tmp_path):
    canary = tmp_path / "canary"
    source = f"value = {payload.with_canary(str(canary))}"
    assert check_script(source)
    with pytest.raises((SandboxError, SandboxLimit)):
        execute(source, dict(CONTEXT))
    assert not canary.exists()


def test_a_refusal_names_the_line_and_the_rule():
    [problem] = check_script("y = 1\nz = x.gi_frame")
    assert problem.startswith("line 2:") and "'gi_frame'" in problem
    assert problem.endswith("(rule: attributes)")
    assert check_expression("getattr(x, 'y')") == [
        "line 1: the name 'getattr' is not offered (rule: names)"
    ]
    assert check_expression("items.append(1)") == [
        "line 1: the attribute 'append' is allowed in scripts only (rule: attributes)"
    ]
    [problem] = check_expression("(lambda: 1)()")
    assert "Lambda is not allowed" in problem and "(rule: syntax)" in problem
    [problem] = check_expression("'x' * 10 ** 9")
    assert "would build 1000000000" in problem and "(rule: bounds)" in problem


# --- what passes the check is held to the allow-list as it runs ----------------------------------


@pytest.mark.parametrize(
    ("source", "context"),
    [
        ("x.get('a')", {"x": "a string"}),  # dict.get, asked of a str
        ("x.keys()[0]", {"x": {"a": 1}}),  # items of a dict view
        ("x % 1", {"x": "%s"}),  # %-formatting
        ("f('touch canary')", {"f": os.system}),  # a callable smuggled in through the data
        ("x(1)", {"x": date.fromordinal}),  # a method not handed out by the attribute guard
        ("x.year", {"x": date.fromordinal}),
        ("sum(x, [])", {"x": [[1]]}),  # sum adds numbers only
    ],
)
def test_what_the_data_makes_wrong_is_refused_as_it_runs(source, context, tmp_path, monkeypatch):
    assert check_expression(source) == []
    monkeypatch.chdir(tmp_path)  # where the smuggled os.system would have written
    with pytest.raises(SandboxError, match=r"\(rule: "):
        evaluate(source, context)
    assert not (tmp_path / "canary").exists()


def test_a_subclass_in_the_data_cannot_bring_its_own_methods(tmp_path):
    canary = tmp_path / "canary"

    class Sneaky(str):
        def upper(self):  # what a subclass would substitute for the listed str.upper
            canary.touch()
            return "SNEAKY"

        def extra(self):
            canary.touch()

    assert evaluate("x.upper()", {"x": Sneaky("a")}) == "A"  # str's own upper
    assert check_expression("x.extra()")
    with pytest.raises(SandboxError, match="attribute 'get' of a Sneaky"):
        evaluate("x.get('a')", {"x": Sneaky("a")})
    assert not canary.exists()


def test_values_that_are_not_data_do_not_leave_the_sandbox():
    with pytest.raises(SandboxError, match="generator, not data"):
        evaluate("(y for y in x)", {"x": [1]})
    with pytest.raises(SandboxError, match="not data"):
        evaluate("date.fromisoformat", {})
    with pytest.raises(SandboxError, match="not data"):  # nor into the data's own dicts
        execute("d.update({'g': (y for y in [1])})", {"d": {}})
    assert execute("d.update({'k': [1, 2]})", {"d": {}}) == {"d": {"k": [1, 2]}}


def test_what_conditions_and_scripts_need_still_works_as_python():
    context = {"born": "2026-11-15", "items": ["a", "b"], "limits": {"a": 3}, "name": " Li "}
    assert evaluate("(date(2026, 11, 23) - date.fromisoformat(born)).days", context) == 8
    assert evaluate("limits.get('a', 0) + limits.get('z', 0)", context) == 3
    assert evaluate("name.strip().lower().startswith('li') and 'a' in items", context) is True
    assert evaluate("f'{date(2026, 1, 2):%Y-%m-%d} {3.14159:.2f} {name!r}'", context) == (
        "2026-01-02 3.14 ' Li '"
    )
    assert evaluate("sorted(items, key=len, reverse=True) + list(reversed(items))", context) == [
        "a",
        "b",
        "b",
        "a",
    ]
    assert evaluate("{k: v * 2 for k, v in limits.items()}", context) == {"a": 6}
    assert evaluate("datetime.fromisoformat('2026-11-23T10:00').hour + timedelta(days=2).days", {})
    script = "total = 0\nfor i, v in enumerate(items):\n    total += i\nitems.append('c')\nn = len(items)"
    result = execute(script, context)
    assert result["total"] == 1 and result["n"] == 3 and result["items"] == ["a", "b", "c"]


# --- bounds and the time limit ---------------------------------------------------------------------


def test_the_issues_condition_ends_with_a_limit_instead_of_holding_the_worker():
    started = time.monotonic()
    for source, context in (
        ("sum(len(str(list(range(10**6)))) for _ in range(60)) > 0", {}),
        ("sum(len(str(list(range(n)))) for _ in range(60)) > 0", {"n": 10**6}),
        ("sum(len(str(list(range(n)))) for _ in range(60)) > 0", {"n": 9999}),
        ("('x' * n).replace('x', 'x' * n)", {"n": 10000}),
    ):
        with pytest.raises(SandboxLimit):
            evaluate(source, context)
    assert time.monotonic() - started < 5  # generous: each stops within the time limit


@pytest.mark.parametrize(
    ("source", "what"),
    [
        ("sum(1 for a in range(n) for b in range(n))", "loop steps"),
        ("len([y * 9000 for i in range(200)])", "in all"),
        ("n ** n", "bits"),
        ("y * n * n", "repetition"),
    ],
)
def test_steps_sizes_and_integers_are_bounded(source, what):
    with pytest.raises(SandboxLimit, match=what):
        evaluate(source, {"n": 9999, "y": "x"})


TIME_BOMB = (
    "[1 for a in ['x' * k] for c in ['x' * (k - 1) + 'x'] for l in [[a] * 5000] "
    "for m in [[c] * 5000] for i in range(k) if l == m]"
)


def test_a_time_bomb_within_the_size_bounds_is_stopped_by_the_guards(monkeypatch):
    """Each step compares two lists of long equal strings: small, but slow. With the watchdog
    out of the way, the guards' own deadline check stops it."""
    monkeypatch.setattr(sandbox._WATCHDOG, "enter", lambda deadline: None)
    monkeypatch.setattr(sandbox._WATCHDOG, "leave", lambda token: None)
    assert check_expression(TIME_BOMB) == []
    with pytest.raises(SandboxTimeout):
        evaluate(TIME_BOMB, {"k": 10000})


def test_the_watchdog_stops_what_no_guard_sees():
    """A registered function is trusted code and runs no guard: stuck in a loop, it is
    interrupted from outside, and nothing is left pending for the caller afterwards."""

    def stuck() -> int:
        until = time.monotonic() + 30
        while time.monotonic() < until:
            pass
        return 0

    fired = sandbox._WATCHDOG.fired
    FUNCTIONS["stuck"] = stuck
    try:
        with pytest.raises(SandboxTimeout):
            evaluate("stuck()", {})
    finally:
        del FUNCTIONS["stuck"]
    assert sandbox._WATCHDOG.fired == fired + 1
    assert sum(range(100_000)) == 4_999_950_000  # bytecode runs on undisturbed
    assert evaluate("1 + 1", {}) == 2


def test_the_watchdog_clears_an_interrupt_that_arrives_as_an_evaluation_ends(monkeypatch):
    sent: list[tuple[int, object]] = []
    monkeypatch.setattr(sandbox, "_interrupt", lambda thread, exc: sent.append((thread, exc)))
    watchdog = sandbox._Watchdog()
    me = threading.get_ident()

    token = watchdog.enter(time.monotonic() - 60)  # overran long ago
    with watchdog._cond:
        watchdog.fire_due(time.monotonic())  # the watchdog may have fired it already: once only
    watchdog.leave(token)
    assert sent == [(me, SandboxTimeout), (me, None)]  # fired, then cleared on the way out

    sent.clear()
    token = watchdog.enter(time.monotonic() + 60)
    watchdog.leave(token)
    with watchdog._cond:
        watchdog.fire_due(time.monotonic() + 3600)
    assert sent == []  # an evaluation that ended is never interrupted


def test_every_guard_refuses_to_run_outside_an_evaluation():
    with pytest.raises(SandboxError, match="outside an evaluation"):
        sandbox._getattr_("x", "upper")
    with pytest.raises(SandboxError, match="outside an evaluation"):
        sandbox._str([1])
