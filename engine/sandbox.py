"""The restricted environment for BPMN conditions and scripts, and catalog conditions.

Code is checked on its syntax tree before it ever runs: no imports, no dunder names or
attributes, no access to functions that reach files, processes or the interpreter. What
passes runs with a small set of safe builtins and nothing else in scope.
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
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "__" in node.value:
            found.append(f"line {line}: strings containing '__' are not allowed")
    return found


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
    return compile(_parse(source, mode), "<sandbox>", mode)


def _scope(context: Mapping[str, Any]) -> dict[str, Any]:
    return {"__builtins__": SAFE_BUILTINS, **context, **SAFE_GLOBALS, **FUNCTIONS}


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
        for name in ("__builtins__", *SAFE_GLOBALS, *FUNCTIONS, *(external_context or {})):
            scope.pop(name, None)
        context.clear()
        context.update(scope)
        return True


def sandboxed_script_engine() -> PythonScriptEngine:
    """A SpiffWorkflow script engine whose conditions and scripts run in the sandbox."""
    return PythonScriptEngine(environment=SandboxEnvironment())
