"""The restricted environment for BPMN conditions and scripts, and catalog conditions.

Code is checked on its syntax tree before it ever runs: no imports, no dunder names or
attributes, no access to functions that reach files, processes or the interpreter. What
passes runs with a small set of safe builtins and nothing else in scope.

Time and memory are bounded too. There is no `while`, no function definition (so no recursion),
and every `for` loop and comprehension step counts against a budget of `MAX_STEPS` per
evaluation. What could make one C-level operation huge is checked before it runs: `range` is
capped, repetition (`'x' * n`), powers and shifts are limited in the size of what they would
build, and padding methods and computed format widths are refused.
"""

from __future__ import annotations

import ast
import builtins
import datetime
from collections.abc import Mapping
from functools import lru_cache
from types import CodeType
from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

SAFE_BUILTINS: dict[str, Any] = {
    name: getattr(builtins, name)
    for name in [
        "abs",
        "all",
        "any",
        "bool",
        "dict",
        "enumerate",
        "filter",
        "float",
        "int",
        "isinstance",
        "len",
        "list",
        "max",
        "min",
        "range",
        "reversed",
        "round",
        "set",
        "sorted",
        "str",
        "sum",
        "tuple",
        "zip",
        "True",
        "False",
        "None",
    ]
}
SAFE_GLOBALS: dict[str, Any] = {"datetime": datetime}
# Functions the application offers to conditions and timers (e.g. working-day deadlines);
# they come after the data in scope, so process data can never shadow them.
FUNCTIONS: dict[str, Any] = {}


def register_function(name: str, function: Any) -> None:
    """Offer `function` to every condition, script and timer expression as `name`."""
    FUNCTIONS[name] = function


FORBIDDEN_NAMES = frozenset(
    [
        "eval",
        "exec",
        "compile",
        "open",
        "input",
        "globals",
        "locals",
        "vars",
        "getattr",
        "setattr",
        "delattr",
        "__import__",
        "breakpoint",
        "help",
        "memoryview",
        "type",
        "object",
        "super",
        "classmethod",
        "staticmethod",
    ]
)
FORBIDDEN_NODES = (
    ast.Import,
    ast.ImportFrom,
    ast.Global,
    ast.Nonlocal,
    ast.ClassDef,
    ast.AsyncFunctionDef,
    ast.Await,
    ast.Yield,
    ast.YieldFrom,
    ast.With,
    ast.AsyncWith,
    ast.Try,
    ast.Raise,
    ast.Lambda,
    ast.FunctionDef,
    ast.While,
)
MAX_SOURCE = 4000
MAX_STEPS = 1_000_000  # loop and comprehension steps per evaluation
MAX_SIZE = 1_000_000  # items or characters one repetition or range may produce
MAX_INT_BITS = 100_000  # bits one power, product or shift may produce
FORBIDDEN_ATTRIBUTES = frozenset(
    ["format", "format_map", "ljust", "rjust", "center", "zfill", "expandtabs"]
)
UNBOUNDED_AUGMENTED = (ast.Mult, ast.Pow, ast.LShift, ast.Mod)


class SandboxError(Exception):
    """Code was refused by the sandbox; the message says what and where."""


def _problems(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 1)
        if isinstance(node, FORBIDDEN_NODES):
            found.append(f"line {line}: {type(node).__name__} is not allowed")
        elif isinstance(node, ast.Name) and (
            node.id.startswith("__") or node.id in FORBIDDEN_NAMES
        ):
            found.append(f"line {line}: the name {node.id!r} is not allowed")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            found.append(f"line {line}: the attribute {node.attr!r} is not allowed")
        elif isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
            found.append(f"line {line}: the method {node.attr!r} is not allowed (use an f-string)")
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, UNBOUNDED_AUGMENTED):
            found.append(f"line {line}: write x = x {_SYMBOL[type(node.op)]} y instead")
        elif isinstance(node, ast.FormattedValue) and node.format_spec is not None:
            found += _format_spec_problems(node.format_spec, line)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "__" in node.value:
            found.append(f"line {line}: strings containing '__' are not allowed")
    return found


_SYMBOL = {ast.Mult: "*", ast.Pow: "**", ast.LShift: "<<", ast.Mod: "%"}


def _format_spec_problems(spec: ast.JoinedStr, line: int) -> list[str]:
    """A format spec must be a constant without a width of more than three digits."""
    parts = spec.values
    if not all(isinstance(part, ast.Constant) for part in parts):
        return [f"line {line}: a computed format spec is not allowed"]
    text = "".join(str(part.value) for part in parts)
    digits = "".join(c if c.isdigit() else " " for c in text).split()
    if any(len(run) > 3 for run in digits):
        return [f"line {line}: a format width over 999 is not allowed"]
    return []


class SandboxLimit(RuntimeError):
    """Code ran into a bound on time or size while it ran."""


def _too_big(what: str) -> SandboxLimit:
    return SandboxLimit(f"{what} is too large for a condition or script")


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, (str, bytes, list, tuple)) else None


def _multiply(a: Any, b: Any) -> Any:
    for sequence, times in ((a, b), (b, a)):
        size = _size(sequence)
        if size is not None and isinstance(times, int) and size * times > MAX_SIZE:
            raise _too_big("a repetition")
    if isinstance(a, int) and isinstance(b, int) and a.bit_length() + b.bit_length() > MAX_INT_BITS:
        raise _too_big("a product")
    return a * b


def _power(a: Any, b: Any) -> Any:
    if (
        isinstance(a, int)
        and isinstance(b, int)
        and abs(a) > 1
        and a.bit_length() * b > MAX_INT_BITS
    ):
        raise _too_big("a power")
    return a**b


def _shift(a: Any, b: Any) -> Any:
    if isinstance(b, int) and isinstance(a, int) and a.bit_length() + b > MAX_INT_BITS:
        raise _too_big("a shift")
    return a << b


def _modulo(a: Any, b: Any) -> Any:
    if isinstance(a, (str, bytes)):
        raise SandboxLimit("%-formatting is not allowed; use an f-string")
    return a % b


def _range(*args: int) -> range:
    found = range(*args)
    if len(found) > MAX_SIZE:
        raise _too_big("a range")
    return found


class _Budget:
    """The steps one evaluation may still take."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_STEPS

    def step(self) -> bool:
        self.left -= 1
        if self.left < 0:
            raise SandboxLimit(f"more than {MAX_STEPS} loop steps")
        return True


_OPERATORS = {ast.Mult: "__sandbox_mul", ast.Pow: "__sandbox_pow", ast.LShift: "__sandbox_shift"}
_OPERATORS[ast.Mod] = "__sandbox_mod"
_STEP = "__sandbox_step"


class _Bound(ast.NodeTransformer):
    """Route size-changing operators through checks and count every loop step."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        name = _OPERATORS.get(type(node.op))
        if name is None:
            return node
        call = ast.Call(ast.Name(name, ast.Load()), [node.left, node.right], [])
        return ast.copy_location(call, node)

    def visit_For(self, node: ast.For) -> ast.AST:
        self.generic_visit(node)
        step = ast.Expr(ast.Call(ast.Name(_STEP, ast.Load()), [], []))
        node.body.insert(0, ast.copy_location(step, node))
        return node

    def visit_comprehension(self, node: ast.comprehension) -> ast.AST:
        self.generic_visit(node)
        node.ifs.insert(0, ast.Call(ast.Name(_STEP, ast.Load()), [], []))
        return node


def _parse(source: str, mode: str) -> ast.AST:
    if len(source) > MAX_SOURCE:
        raise SandboxError(f"code longer than {MAX_SOURCE} characters")
    try:
        tree = ast.parse(source.strip(), mode=mode)
    except SyntaxError as exc:
        raise SandboxError(f"syntax error at line {exc.lineno}: {exc.msg}") from exc
    problems = _problems(tree)
    if problems:
        raise SandboxError("; ".join(problems))
    return tree


def check_expression(source: str) -> list[str]:
    """Problems that stop `source` from being a sandboxed expression; empty when it is fine."""
    try:
        _parse(source, "eval")
    except SandboxError as exc:
        return [str(exc)]
    return []


def check_script(source: str) -> list[str]:
    """Problems that stop `source` from being a sandboxed script; empty when it is fine."""
    try:
        _parse(source, "exec")
    except SandboxError as exc:
        return [str(exc)]
    return []


@lru_cache(maxsize=2048)
def _compiled(source: str, mode: str) -> CodeType:
    tree = ast.fix_missing_locations(_Bound().visit(_parse(source, mode)))
    return compile(tree, "<sandbox>", mode)


BOUNDED_BUILTINS = {**SAFE_BUILTINS, "range": _range}
CHECKS = {
    "__sandbox_mul": _multiply,
    "__sandbox_pow": _power,
    "__sandbox_shift": _shift,
    "__sandbox_mod": _modulo,
}


def _scope(context: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "__builtins__": BOUNDED_BUILTINS,
        **context,
        **SAFE_GLOBALS,
        **FUNCTIONS,
        **CHECKS,
        _STEP: _Budget().step,
    }


def evaluate(source: str, context: Mapping[str, Any]) -> Any:
    """Evaluate a checked expression over `context` (missing names raise NameError)."""
    return eval(_compiled(source, "eval"), _scope(context))  # noqa: S307 - checked tree


class SandboxEnvironment(TaskDataEnvironment):
    """SpiffWorkflow's task-data environment, with every expression and script checked."""

    def evaluate(self, expression, context, external_context=None):
        scope = {**context, **(external_context or {})}
        return evaluate(expression, scope)

    def execute(self, script, context, external_context=None):
        code = _compiled(script, "exec")
        scope = _scope({**context, **(external_context or {})})
        exec(code, scope)  # noqa: S102 - checked tree
        names = ("__builtins__", _STEP, *CHECKS, *SAFE_GLOBALS, *FUNCTIONS)
        for name in (*names, *(external_context or {})):
            scope.pop(name, None)
        context.clear()
        context.update(scope)
        return True


def sandboxed_script_engine() -> PythonScriptEngine:
    """A SpiffWorkflow script engine whose conditions and scripts run in the sandbox."""
    return PythonScriptEngine(environment=SandboxEnvironment())
