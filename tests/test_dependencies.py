"""Every package our code imports is declared in pyproject.toml: installed on its own, OneThing
does not lean on what another dependency happens to bring along. The demo-data generator's
packages are the `demo` extra's, and every declared package has its exact version in
requirements/lock.txt (refreshed by scripts/lock-python), which this environment installed."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, packages_distributions, version
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
OURS = {"engine", "forms", "services", "web", "demo"}
LOCK = ROOT / "requirements" / "lock.txt"


def _name(requirement: str) -> str:
    """A requirement's distribution name, normalized (PEP 503)."""
    name = re.match(r"[A-Za-z0-9._-]+", requirement.strip()).group()
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported(packages: set[str]) -> set[str]:
    found: set[str] = set()
    for package in packages:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return found - OURS - set(sys.stdlib_module_names)


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _undeclared(packages: set[str], declared: set[str]) -> dict[str, list[str]]:
    distributions = packages_distributions()
    return {
        module: distributions.get(module, ["(not installed)"])
        for module in sorted(_imported(packages))
        if not {_name(d) for d in distributions.get(module, [])} & declared
    }


def test_every_imported_package_is_a_declared_dependency():
    project = _project()
    declared = {_name(requirement) for requirement in project["dependencies"]}
    undeclared = _undeclared(OURS - {"demo"}, declared)
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
    assert "sqlalchemy" in declared and "lxml" in declared


def test_the_demo_generators_packages_are_the_demo_extras():
    project = _project()
    core = {_name(requirement) for requirement in project["dependencies"]}
    demo = {_name(requirement) for requirement in project["optional-dependencies"]["demo"]}
    assert "faker" in demo and "faker" not in core  # `onething serve` runs without Faker
    undeclared = _undeclared({"demo"}, core | demo)
    assert not undeclared, f"imported by demo/ but not in the demo extra: {undeclared}"


def _locked() -> dict[str, str]:
    """requirements/lock.txt as {name: version}."""
    pins = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", f"not an exact pin in the lock: {line}"
            pins[_name(requirement.name)] = specifier.version
    return pins


def test_every_declared_package_is_pinned_in_the_lock_within_its_range():
    project = _project()
    requirements = [
        Requirement(text)
        for text in project["dependencies"]
        + [t for extra in project["optional-dependencies"].values() for t in extra]
        if _name(text) != "onething"
    ]
    pins = _locked()
    unpinned = [str(r) for r in requirements if _name(r.name) not in pins]
    assert not unpinned, f"declared but not in requirements/lock.txt: {unpinned}"
    outside = [
        f"{r} (locked {pins[_name(r.name)]})"
        for r in requirements
        if not r.specifier.contains(pins[_name(r.name)], prereleases=True)
    ]
    assert not outside, f"the lock's version is outside pyproject.toml's range: {outside}"
    # extras come with their packages: psycopg[binary] needs psycopg-binary
    assert "psycopg-binary" in pins and "starlette" in pins


def test_this_environment_installed_the_locked_versions():
    drifted = {}
    for name, pinned in _locked().items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue  # not for this platform (a marker), or an extra this install left out
        if installed != pinned:
            drifted[name] = f"{installed} installed, {pinned} locked"
    assert not drifted, (
        f"reinstall with the lock (pip install -e '.[test]' -c requirements/lock.txt): {drifted}"
    )
