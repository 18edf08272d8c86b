"""The ten matters' own code under the sandbox: every flow condition, timer expression and DMN
cell in bpmn/ and every condition in the catalog passes the check, and what SpiffWorkflow actually
evaluates while the processes run is exactly what validation checked (a DMN cell combined with
its input expression as SpiffWorkflow's DMN engine combines them). tests/web/test_all_matters.py
runs the ten matters end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import cases
from engine.sandbox import (
    SandboxEnvironment,
    SandboxError,
    SandboxLimit,
    check_expression,
    evaluate,
)
from engine.specs import SpecCache
from engine.validation import code_of, dmn_entry_sources
from forms.catalog import default_catalog

BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"
CATALOG = default_catalog()
MATTERS = sorted(CATALOG.matters.values(), key=lambda matter: matter.code)


def _files(matter) -> tuple[bytes, tuple[tuple[str, bytes], ...]]:
    path = BPMN_DIR / matter.bpmn
    dmn = path.with_suffix(".dmn")
    return path.read_bytes(), ((dmn.name, dmn.read_bytes()),) if dmn.exists() else ()


def test_there_are_ten_matters_with_code_of_every_kind():
    assert len(MATTERS) == 10
    tags = {piece.tag for matter in MATTERS for piece in code_of(*_files(matter))}
    assert {"conditionExpression", "timeDate", "inputExpression", "inputEntry"} <= tags
    assert "outputEntry" in tags


@pytest.mark.parametrize("matter", MATTERS, ids=lambda matter: matter.code)
def test_every_piece_of_a_matters_code_passes_the_check(matter):
    pieces = code_of(*_files(matter))
    assert pieces
    for piece in pieces:
        assert piece.script is False  # no script tasks in the ten matters
        assert check_expression(piece.source) == [], (piece.element_id, piece.source)


def _start_data(matter) -> dict:
    data = dict.fromkeys(CATALOG.facts)
    data.update(
        matter=matter.code,
        applied_items=list(matter.items),
        prefilled=["child_birth_cert_number"],
        time_limits={item.code: item.time_limit_days for item in CATALOG.items.values()},
        household_parent="father",
        pension_contribution_months=200,
        retirement_date="2026-06-01",
        applicant_statutory_retirement_date="2026-05-01",
    )
    return data


def test_what_the_ten_processes_evaluate_is_what_validation_checked(monkeypatch):
    evaluated: list[str] = []
    original = SandboxEnvironment.evaluate

    def recording(self, expression, context, external_context=None):
        evaluated.append(expression)
        return original(self, expression, context, external_context)

    monkeypatch.setattr(SandboxEnvironment, "evaluate", recording)
    checked: set[str] = set()
    for matter in MATTERS:
        content, decisions = _files(matter)
        checked |= {piece.source for piece in code_of(content, decisions)}
        spec = SpecCache().load(content, matter.process_id, matter.bpmn, decisions)
        workflow = cases.start(spec, _start_data(matter))
        for _ in range(200):
            ready = cases.ready_tasks(spec, workflow)
            if not ready:
                break
            task = ready[0]
            cases.complete(workflow, task.task_id, {f"decision_{task.item}": "approved"})
        assert cases.is_completed(workflow), matter.code
    assert len(set(evaluated)) > 100
    assert set(evaluated) <= checked, set(evaluated) - checked
    combined = [source for source in evaluated if source.startswith("(")]
    assert combined, "no DMN cell was evaluated as a combined expression"


def test_dmn_cells_combine_as_spiffworkflows_engine_combines_them():
    assert dmn_entry_sources("x", None) == [] and dmn_entry_sources("x", "-") == []
    assert dmn_entry_sources("x", "? >= 180") == ["x", "dmninputexpr >= 180"]
    assert dmn_entry_sources("x", "'a?'") == ["(x) == ('a?')"]  # a ? inside quotes stays
    assert dmn_entry_sources("x", "True") == ["(x) == (True)"]
    assert dmn_entry_sources("x", "> 5") == ["x> 5"]  # not an expression alone: appended


def test_every_catalog_condition_runs_over_an_empty_form():
    conditions = [fact.required_if for fact in CATALOG.facts.values() if fact.required_if]
    for item in CATALOG.items.values():
        conditions += [item.when] if item.when else []
        conditions += [group.when for group in item.facts_if]
        conditions += [material.when for material in item.materials if material.when]
    assert len(conditions) > 30
    empty = dict.fromkeys(CATALOG.facts)
    for condition in conditions:
        try:
            evaluate(condition, empty)
        except (SandboxError, SandboxLimit) as exc:  # noqa: PERF203 - one condition at a time
            pytest.fail(f"{condition}: {exc}")
