"""The restricted environment in which administrators' code runs: BPMN flow conditions, script
tasks and timer expressions, DMN input expressions and cells, catalog and matter item conditions.

That code runs whenever a citizen opens a form or a case moves, so the sandbox is an allow-list,
and the deploy-time check (`check_expression`, `check_script`) compiles exactly what the run-time
evaluator (`evaluate`, `execute`) runs, through one path (`_compiled`):

- syntax: RestrictedPython's policy (it refuses every AST node it has no rule for and every name
  or attribute that starts with "_", and routes attribute, item and iteration access through
  guard calls), narrowed by `_Policy` to expressions and, in scripts, simple statements;
- names: the data, the builtins in `BUILTINS`, the classes in `CLASSES` (not their module) and
  the functions offered with `register_function`;
- attributes: only the (type, name) pairs of `_READ_ATTRIBUTES` (and `_SCRIPT_ATTRIBUTES` in
  scripts), looked up on the listed type itself so that a subclass cannot bring its own;
- calls: only the offered callables and the methods the attribute guard hands out.

Every operation whose cost grows with its operands is bounded before it runs (`MAX_SIZE` per
built value, `MAX_BUILT` per evaluation, `MAX_STEPS`, `MAX_INT_BITS`), and every evaluation has a
wall-clock limit (`TIME_LIMIT`), checked at every guard and enforced from outside by a watchdog
thread (`_Watchdog`). docs/security.md, "The expression sandbox", gives the rules and the reasons.
"""

from __future__ import annotations

import ast
import builtins
import ctypes
import itertools
import math
import operator
import os
import re
import textwrap
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from types import CodeType
from typing import Any

from RestrictedPython.transformer import RestrictingNodeTransformer, copy_locations
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

MAX_SOURCE = 4000  # characters of code
MAX_SIZE = 10_000  # items or characters one built value may have
MAX_BUILT = 1_000_000  # items or characters one evaluation may build in all
MAX_STEPS = 100_000  # loop and comprehension steps per evaluation
MAX_INT_BITS = 4096  # bits one product, power or shift may produce
MAX_FORMAT_DIGITS = 3  # a format width or precision is at most 999
MAX_ROUND_DIGITS = 400  # round(x, n) with |n| at most this
TIME_LIMIT = 0.5  # seconds one evaluation may run
WATCHDOG_GRACE = 0.1  # seconds past the limit before the watchdog interrupts from outside
PROBE_TIME = 4 * TIME_LIMIT  # seconds a check may spend computing constant parts


class SandboxError(Exception):
    """Code was refused by the sandbox: each problem names its line and the rule it breaks."""

    def __init__(self, *problems: str) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(problems))


class SandboxLimit(RuntimeError):
    """Code ran into a bound on size, steps or time while it ran."""


class SandboxTimeout(SandboxLimit):
    """Code ran longer than `TIME_LIMIT` (raised by a guard or delivered by the watchdog)."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(args or (f"the code ran longer than {TIME_LIMIT} s (rule: time)",)))


def _too_big(what: str, size: int) -> SandboxLimit:
    return SandboxLimit(
        f"{what} would build {size} items or characters, more than {MAX_SIZE} (rule: bounds)"
    )


# --- one evaluation's budgets -----------------------------------------------------------------


class _Run:
    """The deadline, steps and size budget of one evaluation, and whether it is a script."""

    __slots__ = ("deadline", "steps", "built", "script")

    def __init__(self, script: bool) -> None:
        self.deadline = time.monotonic() + TIME_LIMIT
        self.steps = MAX_STEPS
        self.built = MAX_BUILT
        self.script = script

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise SandboxTimeout()

    def charge(self, size: int, what: str) -> None:
        """Count `size` items or characters about to be built; refuse them over a bound."""
        if size > MAX_SIZE:
            raise _too_big(what, size)
        self.built -= size
        if self.built < 0:
            raise SandboxLimit(
                f"the code built more than {MAX_BUILT} items or characters in all (rule: bounds)"
            )
        self.tick()


class _Local(threading.local):
    run: _Run | None = None


_local = _Local()


def _current() -> _Run:
    run = _local.run
    if run is None:
        raise SandboxError("sandboxed code ran outside an evaluation (rule: time)")
    return run


# --- the watchdog: the time limit enforced from outside the evaluated code ---------------------

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)
_set_async_exc.restype = ctypes.c_int


def _interrupt(thread_id: int, exception: type[BaseException] | None) -> None:
    """Raise `exception` in the thread at its next bytecode; None clears one still pending."""
    _set_async_exc(thread_id, ctypes.py_object(exception) if exception else ctypes.py_object())


class _Token:
    """One running evaluation, as the watchdog sees it."""

    __slots__ = ("thread_id", "deadline", "fired")

    def __init__(self, thread_id: int, deadline: float) -> None:
        self.thread_id = thread_id
        self.deadline = deadline
        self.fired = False


class _Watchdog:
    """One daemon thread that interrupts an evaluation overrunning its deadline by `WATCHDOG_GRACE`
    with an asynchronous `SandboxTimeout` (CPython's PyThreadState_SetAsyncExc).

    The guards check the deadline as the code runs; this catches what they cannot see, such as a
    registered function stuck in a loop. Registration and removal happen under one lock, so the
    watchdog never fires at an evaluation that has ended; an exception fired but not yet raised
    when the evaluation ends is cleared then, so it never lands in the caller's code. Code inside
    one C call (a sort, a comparison) is interrupted when that call returns: the size bounds keep
    any single call short."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)
        self.fired = 0  # how many evaluations were interrupted from outside

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._active: set[_Token] = set()
        self._thread: threading.Thread | None = None
        self._wake_at = float("inf")

    def enter(self, deadline: float) -> _Token:
        token = _Token(threading.get_ident(), deadline + WATCHDOG_GRACE)
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="sandbox-watchdog", daemon=True
                )
                self._thread.start()
            self._active.add(token)
            if token.deadline < self._wake_at:
                self._cond.notify()
        return token

    def leave(self, token: _Token) -> None:
        with self._cond:
            self._active.discard(token)
            if token.fired:
                _interrupt(token.thread_id, None)

    def fire_due(self, now: float) -> float:
        """Interrupt every evaluation past its deadline; the next deadline (inf: none). Called
        with the lock held."""
        following = float("inf")
        for token in list(self._active):
            if token.deadline <= now:
                self._active.discard(token)
                token.fired = True
                self.fired += 1
                _interrupt(token.thread_id, SandboxTimeout)
            else:
                following = min(following, token.deadline)
        return following

    def _watch(self) -> None:
        with self._cond:
            while True:
                self._wake_at = self.fire_due(time.monotonic())
                timeout = (
                    None if self._wake_at == float("inf") else self._wake_at - time.monotonic()
                )
                self._cond.wait(timeout)


_WATCHDOG = _Watchdog()


def _run(code: CodeType, scope: dict[str, Any], script: bool) -> Any:
    """Run compiled code in `scope` with fresh budgets, under the watchdog."""
    run = _Run(script)
    previous = _local.run
    _local.run = run
    token = _WATCHDOG.enter(run.deadline)
    try:
        return eval(code, scope)  # noqa: S307 - compiled by _compiled, guarded as it runs
    finally:
        try:
            _WATCHDOG.leave(token)
        finally:
            _local.run = previous


# --- what the code may name and call -----------------------------------------------------------


def _take(iterable: Iterable, what: str) -> Any:
    """`iterable` itself when it knows its length, else its items in a list; refused past
    `MAX_SIZE` items (a generator is consumed only that far)."""
    try:
        size = len(iterable)  # type: ignore[arg-type]
    except TypeError:
        items = list(itertools.islice(iterable, MAX_SIZE + 1))
        if len(items) > MAX_SIZE:
            raise _too_big(what, len(items)) from None
        return items
    if size > MAX_SIZE:
        raise _too_big(what, size)
    return iterable


def _text_size(value: Any) -> int:
    """An upper bound on the characters of `str(value)` or `repr(value)`, stopping past
    `MAX_SIZE`: a container's text holds its items' reprs."""
    total = 0
    stack = [value]
    seen: set[int] = set()
    while stack and total <= MAX_SIZE:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) * (1 if item.isascii() and item.isprintable() else 10) + 2
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, (list, tuple, set, frozenset, dict)):
            if id(item) in seen:
                total += 5
                continue
            seen.add(id(item))
            total += 2 + 4 * len(item)
            if len(item) > MAX_SIZE:
                break
            stack.extend(item.items() if isinstance(item, dict) else item)
        else:  # None, floats, dates and the like
            total += 64
    return total


def _str(value: Any = "", /) -> str:
    if type(value) is not str:
        _current().charge(_text_size(value), "str()")
    return str(value)


def _list(iterable: Iterable = (), /) -> list:
    items = _take(iterable, "list()")
    _current().charge(len(items), "list()")
    return items if type(items) is list and items is not iterable else list(items)


def _tuple(iterable: Iterable = (), /) -> tuple:
    items = _take(iterable, "tuple()")
    _current().charge(len(items), "tuple()")
    return tuple(items)


HASHED_CHUNK = 1000  # items put into a set or dict between two deadline checks
# Distinct keys sharing one hash that a set or dict may hold: ordinary data has next to none;
# keys built to collide (`i * (2 ** 61 - 1)` all hash to 0) make filling the table quadratic.
MAX_SAME_HASH = 64


def _hashes_spread(keys: Iterable[Any], what: str) -> None:
    """Refuse keys of which more than MAX_SAME_HASH distinct ones share a hash: a rule on the
    data, so such a payload is refused on every machine, however fast, not only when the
    deadline happens to pass. Unhashable keys are left to the fill, which refuses them."""
    groups: dict[int, list[Any]] = {}
    for key in keys:
        try:
            group = groups.setdefault(hash(key), [])
        except TypeError:
            return
        if all(key != other for other in group):
            group.append(key)
            if len(group) > MAX_SAME_HASH:
                raise SandboxLimit(
                    f"{what} would hold more than {MAX_SAME_HASH} different keys with one hash "
                    "value (rule: bounds)"
                )


def _filled(target: Any, items: Any) -> Any:
    """`target` (a set or dict) updated with `items` a chunk at a time, checking the deadline in
    between: with colliding hashes, filling a table costs time quadratic in its size, and one C
    call cannot be interrupted (and keys built to collide are refused first)."""
    if isinstance(items, dict):
        items = list(items.items()) if isinstance(target, dict) else list(items)
    elif not isinstance(items, (list, tuple)):
        items = list(items)
    if isinstance(target, dict):
        pairs = (i for i in items if isinstance(i, (tuple, list)) and len(i) == 2)
        _hashes_spread((pair[0] for pair in pairs), "dict()")
    else:
        _hashes_spread(items, "set()")
    run = _current()
    for start in range(0, len(items), HASHED_CHUNK):
        target.update(items[start : start + HASHED_CHUNK])
        run.tick()
    return target


def _set(iterable: Iterable = (), /) -> set:
    items = _take(iterable, "set()")
    _current().charge(len(items), "set()")
    return _filled(set(), items)


def _dict(iterable: Iterable = (), /, **kwargs: Any) -> dict:
    items = _take(iterable, "dict()")
    _current().charge(len(items) + len(kwargs), "dict()")
    found = _filled({}, items)
    found.update(kwargs)
    return found


def _sorted(iterable: Iterable, /, *, key: Any = None, reverse: bool = False) -> list:
    items = _take(iterable, "sorted()")
    _current().charge(len(items), "sorted()")
    return sorted(items, key=key, reverse=reverse)


def _sum(iterable: Iterable, /, start: Any = 0) -> Any:
    if not isinstance(start, (int, float, timedelta)):
        raise SandboxError("sum() adds numbers or durations only (rule: calls)")
    return sum(iterable, start)


def _range(*args: int) -> range:
    found = range(*args)
    try:
        size = len(found)
    except OverflowError:
        size = MAX_SIZE + 1
    if size > MAX_SIZE:
        raise _too_big("a range", size)
    return found


def _round(number: Any, ndigits: int | None = None) -> Any:
    if isinstance(ndigits, int) and abs(ndigits) > MAX_ROUND_DIGITS:
        raise SandboxLimit(f"round() to more than {MAX_ROUND_DIGITS} digits (rule: bounds)")
    return round(number, ndigits)


BUILTINS: dict[str, Any] = {
    "abs": abs,
    "all": all,
    "any": any,
    "bool": bool,
    "dict": _dict,
    "enumerate": enumerate,
    "float": float,
    "int": int,
    "len": len,
    "list": _list,
    "max": max,
    "min": min,
    "range": _range,
    "reversed": reversed,
    "round": _round,
    "set": _set,
    "sorted": _sorted,
    "str": _str,
    "sum": _sum,
    "tuple": _tuple,
    "zip": zip,
}
# Classes offered by name, not the module they live in (no `datetime.sys`). No `today()` or
# `now()`: a condition must not depend on when it happens to run.
CLASSES: dict[str, type] = {"date": date, "datetime": datetime, "timedelta": timedelta}
# Functions the application offers to conditions and timers (e.g. working-day deadlines);
# they come after the data in scope, so process data can never shadow them.
FUNCTIONS: dict[str, Callable] = {}

_CALLABLES: dict[int, Any] = {id(f): f for f in (*BUILTINS.values(), *CLASSES.values())}


def register_function(name: str, function: Callable) -> None:
    """Offer `function` to every condition, script and timer expression as `name`. It is
    trusted code: it must stay short, or be safe to interrupt at any line (the watchdog)."""
    FUNCTIONS[name] = function


def _offered(function: Any) -> bool:
    return _CALLABLES.get(id(function)) is function or any(
        function is offered for offered in FUNCTIONS.values()
    )


# --- attributes: (type, name) pairs --------------------------------------------------------------

_READ_ATTRIBUTES: dict[type, tuple[str, ...]] = {
    str: (
        "startswith",
        "endswith",
        "lower",
        "upper",
        "strip",
        "lstrip",
        "rstrip",
        "split",
        "rsplit",
        "splitlines",
        "replace",
        "join",
        "find",
        "rfind",
        "count",
        "isdigit",
        "isdecimal",
        "isnumeric",
        "isalpha",
        "isalnum",
        "isspace",
        "islower",
        "isupper",
        "title",
        "capitalize",
        "casefold",
        "partition",
        "rpartition",
        "removeprefix",
        "removesuffix",
    ),
    bool: (),
    int: (),
    float: ("is_integer",),
    list: ("count", "index", "copy"),
    tuple: ("count", "index"),
    dict: ("get", "keys", "values", "items", "copy"),
    set: (
        "union",
        "intersection",
        "difference",
        "symmetric_difference",
        "issubset",
        "issuperset",
        "isdisjoint",
        "copy",
    ),
    datetime: (
        "year",
        "month",
        "day",
        "hour",
        "minute",
        "second",
        "microsecond",
        "weekday",
        "isoweekday",
        "isoformat",
        "date",
    ),
    date: ("year", "month", "day", "weekday", "isoweekday", "isoformat"),
    timedelta: ("days", "seconds", "microseconds", "total_seconds"),
}
# Methods that change a value in place: scripts only.
_SCRIPT_ATTRIBUTES: dict[type, tuple[str, ...]] = {
    list: ("append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"),
    dict: ("update", "pop", "setdefault", "clear"),
    set: ("add", "discard", "update", "clear"),
}
# Attributes of the offered classes themselves.
_CLASS_ATTRIBUTES: dict[tuple[type, str], Any] = {
    (date, "fromisoformat"): date.fromisoformat,
    (datetime, "fromisoformat"): datetime.fromisoformat,
}
_CALLABLES.update((id(f), f) for f in _CLASS_ATTRIBUTES.values())
# Types whose items may be read (`x[k]`, `x[a:b]`), and in scripts written (`x[k] = v`).
_ITEM_TYPES: tuple[type, ...] = (str, list, tuple, dict)
_WRITABLE_TYPES: tuple[type, ...] = (list, dict)


def _charging_input(method: Callable, what: str) -> Callable:
    """`method`, counting its object's length first (a result no bigger than the input)."""

    def bounded(obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _current().charge(len(obj), what)
        return method(obj, *args, **kwargs)

    return bounded


def _growing(method: Callable, what: str) -> Callable:
    """`method` that adds its iterable arguments' items to its object, bounded in total."""

    def bounded(obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        taken = [_take(arg, what) for arg in args]
        _current().charge(len(obj) + sum(map(len, taken)) + len(kwargs), what)
        if isinstance(obj, (set, dict)):  # hashed a chunk at a time first (see _filled)
            kind = set if isinstance(obj, set) else dict
            taken = [arg if isinstance(arg, kind) else _filled(kind(), arg) for arg in taken]
        return method(obj, *taken, **kwargs)

    return bounded


def _adding_one(method: Callable, what: str) -> Callable:
    def bounded(obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        if len(obj) + 1 > MAX_SIZE:
            raise _too_big(what, len(obj) + 1)
        return method(obj, *args, **kwargs)

    return bounded


def _str_replace(text: str, old: Any, new: Any, count: Any = -1, /) -> str:
    if isinstance(old, str) and isinstance(new, str) and isinstance(count, int):
        found = text.count(old) if old else len(text) + 1
        if count >= 0:
            found = min(found, count)
        _current().charge(len(text) + found * (len(new) - len(old)), "str.replace()")
    return text.replace(old, new, count)


def _str_join(separator: str, iterable: Iterable, /) -> str:
    items = _take(iterable, "str.join()")
    size = len(separator) * max(len(items) - 1, 0)
    size += sum(len(item) for item in items if isinstance(item, str))
    _current().charge(size, "str.join()")
    return separator.join(items)


def _list_sort(items: list, /, *, key: Any = None, reverse: bool = False) -> None:
    if len(items) > MAX_SIZE:
        raise _too_big("list.sort()", len(items))
    items.sort(key=key, reverse=reverse)


_BOUNDED_METHODS: dict[tuple[type, str], Callable] = {
    (str, "replace"): _str_replace,
    (str, "join"): _str_join,
    (str, "split"): _charging_input(str.split, "str.split()"),
    (str, "rsplit"): _charging_input(str.rsplit, "str.rsplit()"),
    (str, "splitlines"): _charging_input(str.splitlines, "str.splitlines()"),
    (list, "copy"): _charging_input(list.copy, "list.copy()"),
    (dict, "copy"): _charging_input(dict.copy, "dict.copy()"),
    (set, "copy"): _charging_input(set.copy, "set.copy()"),
    (set, "union"): _growing(set.union, "set.union()"),
    (set, "intersection"): _growing(set.intersection, "set.intersection()"),
    (set, "difference"): _growing(set.difference, "set.difference()"),
    (set, "symmetric_difference"): _growing(set.symmetric_difference, "set.symmetric_difference()"),
    (list, "extend"): _growing(list.extend, "list.extend()"),
    (set, "update"): _growing(set.update, "set.update()"),
    (dict, "update"): _growing(dict.update, "dict.update()"),
    (list, "append"): _adding_one(list.append, "list.append()"),
    (list, "insert"): _adding_one(list.insert, "list.insert()"),
    (set, "add"): _adding_one(set.add, "set.add()"),
    (dict, "setdefault"): _adding_one(dict.setdefault, "dict.setdefault()"),
    (list, "sort"): _list_sort,
}


@dataclass(frozen=True)
class _Attribute:
    """How an allowed attribute is read: a method (called with its object first, `impl`) or a
    value (a descriptor of the listed type, `impl.__get__`)."""

    impl: Any
    method: bool
    script: bool


def _descriptor(owner: type, name: str) -> Any:
    for klass in owner.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    raise LookupError(f"{owner.__name__} has no attribute {name}")


def _attribute_table() -> dict[type, dict[str, _Attribute]]:
    table: dict[type, dict[str, _Attribute]] = {}
    for tables, script in ((_READ_ATTRIBUTES, False), (_SCRIPT_ATTRIBUTES, True)):
        for owner, names in tables.items():
            table.setdefault(owner, {})
            for name in names:
                found = _descriptor(owner, name)
                bounded = _BOUNDED_METHODS.get((owner, name))
                method = bounded is not None or not hasattr(found, "__set__")
                entry = _Attribute(bounded or found, method, script)
                table.setdefault(owner, {})[name] = entry
    return table


_ATTRIBUTES = _attribute_table()
READ_ATTRIBUTE_NAMES = frozenset(
    [name for names in _READ_ATTRIBUTES.values() for name in names]
    + [name for _owner, name in _CLASS_ATTRIBUTES]
)
SCRIPT_ATTRIBUTE_NAMES = READ_ATTRIBUTE_NAMES | {
    name for names in _SCRIPT_ATTRIBUTES.values() for name in names
}
_BASES: dict[type, type | None] = {}


def _listed_base(kind: type, listed: Iterable[type]) -> type | None:
    """The first type in `kind`'s MRO that is `listed`: a subclass answers as its listed base."""
    return next((klass for klass in kind.__mro__ if klass in listed), None)


def _base(kind: type) -> type | None:
    try:
        return _BASES[kind]
    except KeyError:
        found = _BASES[kind] = _listed_base(kind, _ATTRIBUTES)
        return found


class _Method:
    """A method handed out by the attribute guard: its object and the listed type's own function
    (bounded where it can build big results). Opaque to the code: it has no allowed attributes."""

    __slots__ = ("_obj", "_impl")

    def __init__(self, obj: Any, impl: Callable) -> None:
        self._obj = obj
        self._impl = impl

    def __call__(self, /, *args: Any, **kwargs: Any) -> Any:
        return self._impl(self._obj, *args, **kwargs)

    def __repr__(self) -> str:
        return "<method>"


def _refused_attribute(obj: Any, name: str) -> SandboxError:
    return SandboxError(
        f"the attribute {name!r} of a {type(obj).__name__} is not allowed (rule: attributes)"
    )


# --- the guards the compiled code calls ----------------------------------------------------------


def _getattr_(obj: Any, name: str) -> Any:
    run = _current()
    run.tick()
    if isinstance(obj, type):
        found = _CLASS_ATTRIBUTES.get((obj, name))
        if found is None:
            raise _refused_attribute(obj, name)
        return found
    base = _base(type(obj))
    entry = None if base is None else _ATTRIBUTES[base].get(name)
    if entry is None or (entry.script and not run.script):
        if obj is None:  # an unknown fact: the error Python itself gives
            raise AttributeError(f"None has no attribute {name!r}")
        raise _refused_attribute(obj, name)
    if entry.method:
        return _Method(obj, entry.impl)
    return entry.impl.__get__(obj, base)


_ITEM_BASES: dict[type, type | None] = {}


def _getitem_(obj: Any, key: Any) -> Any:
    _current().tick()
    kind = type(obj)
    try:
        base = _ITEM_BASES[kind]
    except KeyError:
        base = _ITEM_BASES[kind] = _listed_base(kind, _ITEM_TYPES)
    if base is None:
        if obj is None:
            raise TypeError("None is not subscriptable")
        raise SandboxError(f"reading items of a {kind.__name__} is not allowed (rule: attributes)")
    return base.__getitem__(obj, key)


def _counted(iterator: Iterator, run: _Run) -> Iterator:
    for item in iterator:
        run.steps -= 1
        if run.steps < 0:
            raise SandboxLimit(f"more than {MAX_STEPS} loop steps (rule: bounds)")
        run.tick()
        yield item


def _getiter_(obj: Any) -> Iterator:
    run = _current()
    run.tick()
    return _counted(iter(obj), run)


def _call_(function: Any, /, *args: Any, **kwargs: Any) -> Any:
    _current().tick()
    if type(function) is _Method or _offered(function):
        return function(*args, **kwargs)
    raise SandboxError(
        f"calling a {type(function).__name__} is not allowed: only the offered functions and "
        "methods may be called (rule: calls)"
    )


def _write_(obj: Any) -> Any:
    """The object of an item assignment (`x[k] = v`): a list or dict, in scripts only."""
    run = _current()
    run.tick()
    if not run.script or _listed_base(type(obj), _WRITABLE_TYPES) is None:
        raise SandboxError(
            f"assigning items of a {type(obj).__name__} is not allowed (rule: attributes)"
        )
    return obj


def _sequence_size(value: Any) -> int | None:
    return len(value) if isinstance(value, (str, list, tuple)) else None


def _check_add(a: Any, b: Any) -> None:
    run = _current()
    size_a = _sequence_size(a)
    if size_a is not None:
        size_b = _sequence_size(b)
        if size_b is not None:
            run.charge(size_a + size_b, "a concatenation")
            return
    run.tick()


def _check_mul(a: Any, b: Any) -> None:
    run = _current()
    for sequence, times in ((a, b), (b, a)):
        size = _sequence_size(sequence)
        if size is not None and isinstance(times, int):
            run.charge(size * max(times, 0), "a repetition")
            return
    if isinstance(a, int) and isinstance(b, int):
        _charge_bits(run, a.bit_length() + b.bit_length(), "a product")
    run.tick()


def _charge_bits(run: _Run, bits: int, what: str) -> None:
    """An integer result of about `bits` bits: refused past `MAX_INT_BITS`, and a big one counts
    against the evaluation's budget (a word of 64 bits as one item)."""
    if bits > MAX_INT_BITS:
        raise SandboxLimit(f"{what} of more than {MAX_INT_BITS} bits (rule: bounds)")
    if bits > 64:
        run.charge(bits // 64, what)


def _check_pow(a: Any, b: Any) -> None:
    run = _current()
    run.tick()
    if isinstance(a, int) and isinstance(b, int) and abs(a) > 1 and b > 0:
        _charge_bits(run, int(b * math.log2(abs(a))) + 1, "a power")


def _check_lshift(a: Any, b: Any) -> None:
    run = _current()
    run.tick()
    if isinstance(a, int) and isinstance(b, int) and a and b > 0:
        _charge_bits(run, a.bit_length() + b, "a shift")


def _check_mod(a: Any, b: Any) -> None:
    _current().tick()
    if isinstance(a, (str, bytes)):
        raise SandboxError("%-formatting is not allowed; use an f-string (rule: calls)")


def _add_(a: Any, b: Any) -> Any:
    _check_add(a, b)
    return a + b


def _mul_(a: Any, b: Any) -> Any:
    _check_mul(a, b)
    return a * b


def _pow_(a: Any, b: Any) -> Any:
    _check_pow(a, b)
    return a**b


def _lshift_(a: Any, b: Any) -> Any:
    _check_lshift(a, b)
    return a << b


def _mod_(a: Any, b: Any) -> Any:
    _check_mod(a, b)
    return a % b


_INPLACE: dict[str, tuple[Callable[[Any, Any], None] | None, Callable[[Any, Any], Any]]] = {
    "+=": (_check_add, operator.iadd),
    "*=": (_check_mul, operator.imul),
    "**=": (_check_pow, operator.ipow),
    "<<=": (_check_lshift, operator.ilshift),
    "%=": (_check_mod, operator.imod),
    "-=": (None, operator.isub),
    "/=": (None, operator.itruediv),
    "//=": (None, operator.ifloordiv),
    ">>=": (None, operator.irshift),
    "&=": (None, operator.iand),
    "|=": (None, operator.ior),
    "^=": (None, operator.ixor),
}


def _inplacevar_(op: str, a: Any, b: Any) -> Any:
    check, apply = _INPLACE[op]
    if check is None:
        _current().tick()
    else:
        check(a, b)
    return apply(a, b)


def _unpack_sequence_(value: Any, spec: dict, getiter: Callable) -> list:
    """`a, (b, c) = value`: exactly the items the targets need, counted as loop steps."""
    wanted = spec["min_len"]
    items = list(itertools.islice(getiter(value), wanted + 1))
    if len(items) != wanted:
        raise ValueError(f"expected {wanted} values to unpack, got {len(items)} or more")
    for index, child in spec["childs"]:
        items[index] = _unpack_sequence_(items[index], child, getiter)
    return items


def _iter_unpack_sequence_(value: Any, spec: dict, getiter: Callable) -> Iterator:
    for item in getiter(value):
        yield _unpack_sequence_(item, spec, getiter)


_CONVERSIONS = {114: repr, 115: str, 97: ascii}


def _format_(value: Any, conversion: int, spec: str) -> str:
    """One `{value!conversion:spec}` of an f-string (the spec is a checked constant)."""
    run = _current()
    if conversion in _CONVERSIONS or type(value) is not str:
        run.charge(_text_size(value), "an f-string value")
    if conversion in _CONVERSIONS:
        value = _CONVERSIONS[conversion](value)
    return format(value, spec)


def _fstring_(parts: tuple[str, ...]) -> str:
    _current().charge(sum(map(len, parts)), "an f-string")
    return "".join(parts)


_GUARDS: dict[str, Any] = {
    "_getattr_": _getattr_,
    "_getitem_": _getitem_,
    "_getiter_": _getiter_,
    "_call_": _call_,
    "_write_": _write_,
    "_inplacevar_": _inplacevar_,
    "_unpack_sequence_": _unpack_sequence_,
    "_iter_unpack_sequence_": _iter_unpack_sequence_,
    "_add_": _add_,
    "_mul_": _mul_,
    "_pow_": _pow_,
    "_lshift_": _lshift_,
    "_mod_": _mod_,
    "_format_": _format_,
    "_fstring_": _fstring_,
}
_BINARY_GUARDS: dict[type, str] = {
    ast.Add: "_add_",
    ast.Mult: "_mul_",
    ast.Pow: "_pow_",
    ast.LShift: "_lshift_",
    ast.Mod: "_mod_",
}


# --- the syntax allow-list ---------------------------------------------------------------------

# Python's builtins the code might reach for but is not offered: refused by name at check time.
REFUSED_NAMES = frozenset(
    (set(dir(builtins)) | {"print", "printed"}) - set(BUILTINS) - {"True", "False", "None", "_"}
)
OFFERED_NAMES = frozenset(BUILTINS) | frozenset(CLASSES)
# Syntax with no place in a condition or a short script.
_REFUSED_NODES = (
    "FunctionDef",
    "AsyncFunctionDef",
    "Lambda",
    "ClassDef",
    "Return",
    "Delete",
    "With",
    "AsyncWith",
    "Raise",
    "Try",
    "TryStar",
    "ExceptHandler",
    "Assert",
    "Import",
    "ImportFrom",
    "Global",
    "Nonlocal",
    "While",
    "AsyncFor",
    "Await",
    "Yield",
    "YieldFrom",
    "NamedExpr",
    "Starred",
    "MatMult",
    "Interactive",
    "TemplateStr",
    "Interpolation",
)
_HINTS = {
    "FunctionDef": "no function definitions, decorators or default arguments",
    "Lambda": "no lambdas",
    "NamedExpr": "no assignment expressions (:=)",
    "Starred": "no star-unpacking (*x)",
    "While": "use a for loop over a range",
}


def _refuse_node(self: _Policy, node: ast.AST) -> ast.AST:
    self.not_allowed(node)
    return node


def _is_target(node: ast.AST, items: bool) -> bool:
    """A name, or a tuple of targets; with `items`, also `x[k]` (assignments in scripts)."""
    if isinstance(node, ast.Name):
        return True
    if isinstance(node, ast.Tuple):
        return all(_is_target(element, items) for element in node.elts)
    return items and isinstance(node, ast.Subscript)


def _offered_call(name: str, argument: ast.expr, where: ast.AST) -> ast.Call:
    """`name(argument)`, an offered callable's call, at the place of `where` in the source."""
    call = ast.Call(func=ast.Name(name, ast.Load()), args=[argument], keywords=[])
    for node in (argument, call.func, call):
        copy_locations(node, where)
    return call


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy narrowed to our allow-list: expressions (constants, names,
    attributes, items, comparisons, boolean, unary and arithmetic operators, if-expressions,
    calls, displays, comprehensions, f-strings with constant specs) and, in scripts, assignments
    to names and items, augmented assignments to names, if, for, pass, break and continue.
    Size-changing operators and f-strings become guard calls, as every call does."""

    def __init__(self, mode: str, script: bool) -> None:
        super().__init__()
        self.mode = mode
        self.attributes = SCRIPT_ATTRIBUTE_NAMES if script else READ_ATTRIBUTE_NAMES

    def refuse(self, node: ast.AST, rule: str, text: str) -> None:
        self.errors.append(f"line {getattr(node, 'lineno', 1)}: {text} (rule: {rule})")

    def not_allowed(self, node: ast.AST) -> None:
        name = type(node).__name__
        hint = _HINTS.get(name)
        self.refuse(node, "syntax", f"{name} is not allowed" + (f": {hint}" if hint else ""))

    def generic_visit(self, node: ast.AST) -> ast.AST:  # a node without a rule
        self.not_allowed(node)
        return node

    def visit_Module(self, node: ast.Module) -> ast.AST:
        if self.mode != "exec":
            return _refuse_node(self, node)
        return super().visit_Module(node)

    def visit_Name(self, node: ast.Name) -> ast.AST:
        name = node.id
        if name.startswith("_") and name != "_":
            self.refuse(node, "names", f"the name {name!r} is reserved (names starting with '_')")
        elif name in REFUSED_NAMES:
            self.refuse(node, "names", f"the name {name!r} is not offered")
        elif not isinstance(node.ctx, ast.Load) and name in OFFERED_NAMES:
            self.refuse(node, "names", f"the offered name {name!r} cannot be assigned")
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        if node.attr not in self.attributes:
            where = (
                "allowed in scripts only" if node.attr in SCRIPT_ATTRIBUTE_NAMES else "not allowed"
            )
            node = self.node_contents_visit(node)
            self.refuse(node, "attributes", f"the attribute {node.attr!r} is {where}")
            return node
        if not isinstance(node.ctx, ast.Load):
            self.refuse(node, "syntax", "assigning to an attribute is not allowed")
            return self.node_contents_visit(node)
        return super().visit_Attribute(node)

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        if not isinstance(node.ctx, ast.Load):
            if self.mode != "exec" or isinstance(node.ctx, ast.Del):
                self.refuse(node, "syntax", "assigning to an item is allowed in scripts only")
            elif isinstance(node.slice, ast.Slice):
                self.refuse(node, "syntax", "assigning to a slice is not allowed")
        return super().visit_Subscript(node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        for keyword in node.keywords:
            if keyword.arg is None:
                self.refuse(node, "syntax", "keyword unpacking (**x) is not allowed")
        node = self.node_contents_visit(node)
        call = ast.Call(
            func=ast.Name("_call_", ast.Load()),
            args=[node.func, *node.args],
            keywords=node.keywords,
        )
        copy_locations(call, node)
        return call

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.node_contents_visit(node)
        guard = _BINARY_GUARDS.get(type(node.op))
        if guard is None:
            return node
        call = ast.Call(func=ast.Name(guard, ast.Load()), args=[node.left, node.right], keywords=[])
        copy_locations(call, node)
        return call

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        if not isinstance(node.target, ast.Name):
            self.refuse(node, "syntax", "augmented assignment to an item or attribute")
            return node
        return super().visit_AugAssign(node)

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        for target in node.targets:
            if not _is_target(target, items=True):
                self.refuse(node, "syntax", "assign to names, tuples of names or items only")
        return super().visit_Assign(node)

    def visit_For(self, node: ast.For) -> ast.AST:
        if not _is_target(node.target, items=False):
            self.refuse(node, "syntax", "a loop assigns to names or tuples of names only")
        return super().visit_For(node)

    def visit_comprehension(self, node: ast.comprehension) -> ast.AST:
        if node.is_async:
            self.refuse(node.target, "syntax", "async comprehensions are not allowed")
        if not _is_target(node.target, items=False):
            self.refuse(node.target, "syntax", "a comprehension assigns to names only")
        return super().visit_comprehension(node)

    def visit_SetComp(self, node: ast.SetComp) -> ast.AST:
        """`{x for ...}` is built as `set(x for ...)`: through the bounded `set()`, which fills
        the table a chunk at a time and refuses keys built to collide."""
        return self.visit_Call(
            _offered_call("set", ast.GeneratorExp(node.elt, node.generators), node)
        )

    def visit_DictComp(self, node: ast.DictComp) -> ast.AST:
        """`{k: v for ...}` is built as `dict((k, v) for ...)`, as a set comprehension is."""
        pair = ast.Tuple([node.key, node.value], ast.Load())
        copy_locations(pair, node)
        generator = ast.GeneratorExp(pair, node.generators)
        return self.visit_Call(_offered_call("dict", generator, node))

    def visit_Dict(self, node: ast.Dict) -> ast.AST:
        if any(key is None for key in node.keys):
            self.refuse(node, "syntax", "dict unpacking (**x) is not allowed")
        return super().visit_Dict(node)

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if not isinstance(node.value, (str, int, float, type(None))):
            self.refuse(node, "syntax", f"a {type(node.value).__name__} constant is not allowed")
        return node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        """An f-string becomes `_fstring_((part, _format_(value, conversion, spec), ...))`."""
        parts: list[ast.expr] = []
        for part in node.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                parts.append(part)
                continue
            if not isinstance(part, ast.FormattedValue):
                self.not_allowed(part)
                continue
            spec = ""
            if part.format_spec is not None:
                pieces = getattr(part.format_spec, "values", [part.format_spec])
                if not all(isinstance(piece, ast.Constant) for piece in pieces):
                    self.refuse(part, "syntax", "a computed format spec is not allowed")
                    continue
                spec = "".join(str(piece.value) for piece in pieces)
                if any(len(run) > MAX_FORMAT_DIGITS for run in re.findall(r"\d+", spec)):
                    self.refuse(part, "bounds", "a format width or precision over 999")
            value = self.visit(part.value)
            call = ast.Call(
                func=ast.Name("_format_", ast.Load()),
                args=[value, ast.Constant(part.conversion), ast.Constant(spec)],
                keywords=[],
            )
            copy_locations(call, part)
            parts.append(call)
        joined = ast.Call(
            func=ast.Name("_fstring_", ast.Load()), args=[ast.Tuple(parts, ast.Load())], keywords=[]
        )
        copy_locations(joined, node)
        return joined


for _name in _REFUSED_NODES:
    setattr(_Policy, f"visit_{_name}", _refuse_node)


# --- compiling and checking --------------------------------------------------------------------


def _parse(source: str, mode: str) -> ast.AST:
    if len(source) > MAX_SOURCE:
        raise SandboxError(f"the code is longer than {MAX_SOURCE} characters (rule: bounds)")
    text = source.strip() if mode == "eval" else textwrap.dedent(source).strip()
    try:
        return ast.parse(text, "<sandbox>", mode)
    except SyntaxError as exc:
        raise SandboxError(f"line {exc.lineno}: syntax error: {exc.msg} (rule: syntax)") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise SandboxError(f"the code cannot be read: {exc} (rule: syntax)") from None


@lru_cache(maxsize=4096)
def _compiled(source: str, mode: str, script: bool) -> CodeType:
    """The guarded code of `source`: the one path for checking and running."""
    tree = _parse(source, mode)
    policy = _Policy(mode, script)
    try:
        tree = policy.visit(tree)
        if policy.errors:
            raise SandboxError(*dict.fromkeys(policy.errors))
        return compile(ast.fix_missing_locations(tree), "<sandbox>", mode, dont_inherit=True)
    except RecursionError:
        raise SandboxError("the code is nested too deeply (rule: syntax)") from None


def _free_names(node: ast.AST, found: dict[ast.AST, frozenset[str]]) -> frozenset[str]:
    """The names `node` reads that it does not bind itself (comprehension variables)."""
    if isinstance(node, ast.Name):
        names = frozenset([node.id]) if isinstance(node.ctx, ast.Load) else frozenset()
    else:
        names = frozenset().union(*(_free_names(c, found) for c in ast.iter_child_nodes(node)))
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            bound = {
                n.id
                for generator in node.generators
                for n in ast.walk(generator.target)
                if isinstance(n, ast.Name)
            }
            names = names - bound
    found[node] = names
    return names


_INERT = (ast.Constant, ast.Name, ast.Tuple, ast.List, ast.Set, ast.Dict, ast.expr_context)


def _constant_parts(tree: ast.AST) -> list[ast.expr]:
    """The largest sub-expressions that read no data, only constants and offered builtins and
    classes: what the code computes the same way every time it runs."""
    free: dict[ast.AST, frozenset[str]] = {}
    _free_names(tree, free)
    parts: list[ast.expr] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.expr) and free[node] <= OFFERED_NAMES:
            if not all(isinstance(n, _INERT) for n in ast.walk(node)):
                parts.append(node)
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))
    return parts


def _reads_no_data(tree: ast.AST) -> bool:
    """Whether a script reads only names it assigns itself and offered ones."""
    loaded = _free_names(tree, {})
    stored = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)
    }
    return loaded <= stored | OFFERED_NAMES


def _constant_run(part: ast.expr, script: bool) -> Callable[[], Any]:
    """Compute a constant part as the code would (its value need not be data: `date.year`)."""
    return lambda: _run(_compiled(ast.unparse(part), "eval", script), _scope({}), script)


def _probe(source: str, mode: str, script: bool) -> list[str]:
    """Problems found by computing, under the run-time bounds, what `source` computes the same
    way every time (its constant parts; a whole script that reads no data): a bomb written as
    constants (`'x' * 10 ** 9`) is refused when it is deployed, not at the first case."""
    try:
        tree = _parse(source, mode)
        if mode == "exec" and _reads_no_data(tree):
            pieces = [("the script, run as it reads no data", lambda: execute(source, {}))]
        else:
            pieces = [(f"line {p.lineno}", _constant_run(p, script)) for p in _constant_parts(tree)]
    except RecursionError:
        return ["the code is nested too deeply (rule: syntax)"]
    problems = []
    spent = 0.0
    for where, run in pieces:
        started = time.monotonic()
        try:
            run()
        except (SandboxError, SandboxLimit) as exc:
            problems.append(f"{where}: {exc}")
        except Exception:  # noqa: S112 - e.g. 1 / 0: a run-time error, not a sandbox breach
            pass
        spent += time.monotonic() - started
        if spent > PROBE_TIME:
            problems.append(f"the constant parts take over {PROBE_TIME} s to compute (rule: time)")
            break
    return problems


def _check(source: str, mode: str, script: bool) -> list[str]:
    try:
        _compiled(source, mode, script)
    except SandboxError as exc:
        return exc.problems
    return _probe(source, mode, script)


def check_expression(source: str) -> list[str]:
    """Problems that stop `source` from being a sandboxed expression, each naming its line and
    rule; empty when it may run."""
    return _check(source, "eval", False)


def check_script(source: str) -> list[str]:
    """Problems that stop `source` from being a sandboxed script; empty when it may run."""
    return _check(source, "exec", True)


# --- running -----------------------------------------------------------------------------------

_SCALARS = (type(None), bool, int, float, str, date, timedelta)


def _check_data(value: Any, what: str) -> None:
    """Refuse a result that is not data (a generator, a method, a view...): it must not leave
    the sandbox into task data or the engine."""
    if isinstance(value, _SCALARS):
        return
    stack = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if isinstance(item, _SCALARS):
            continue
        if isinstance(item, (list, tuple, set, frozenset, dict)):
            if id(item) not in seen:
                seen.add(id(item))
                stack.extend(item.items() if isinstance(item, dict) else item)
            continue
        raise SandboxError(f"{what} is a {type(item).__name__}, not data (rule: values)")


def _scope(context: Mapping[str, Any]) -> dict[str, Any]:
    return {**context, **CLASSES, **FUNCTIONS, **_GUARDS, "__builtins__": BUILTINS}


def evaluate(source: str, context: Mapping[str, Any]) -> Any:
    """The value of expression `source` over `context` (missing names raise NameError); raises
    SandboxError when it is refused, SandboxLimit when it hits a bound as it runs."""
    value = _run(_compiled(source, "eval", False), _scope(context), False)
    _check_data(value, "the expression's value")
    return value


_NOT_DATA = frozenset(["__builtins__", *CLASSES, *_GUARDS])
_MISSING = object()


def execute(source: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Run script `source` over `context`; the variables afterwards (offered names keep the
    value `context` gave them)."""
    scope = _scope(context)
    _run(_compiled(source, "exec", True), scope, True)
    result = {}
    for name, value in scope.items():
        if name in _NOT_DATA or name in FUNCTIONS:
            value = context.get(name, _MISSING)
            if value is _MISSING:
                continue
        else:  # also what the script put into the data's own lists and dicts
            _check_data(value, f"the variable {name!r}")
        result[name] = value
    return result


class SandboxEnvironment(TaskDataEnvironment):
    """SpiffWorkflow's task-data environment, with every expression and script sandboxed."""

    def evaluate(self, expression, context, external_context=None):
        return evaluate(
            expression, {**context, **external_context} if external_context else context
        )

    def execute(self, script, context, external_context=None):
        external = external_context or {}
        result = execute(script, {**context, **external})
        context.clear()
        context.update((k, v) for k, v in result.items() if k not in external)
        return True


def sandboxed_script_engine() -> PythonScriptEngine:
    """A SpiffWorkflow script engine whose conditions and scripts run in the sandbox."""
    return PythonScriptEngine(environment=SandboxEnvironment())
