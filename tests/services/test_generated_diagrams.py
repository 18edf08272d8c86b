"""The processes the application draws itself (a matter made in the browser: every item with
its correction loop and deadline timers) come laid out by lanes, readable like the shipped ones."""

from __future__ import annotations

import pytest

from forms.catalog import default_catalog
from services.process_skeleton import skeleton
from tests.engine.test_diagram_layout import diagram_problems

CATALOG = default_catalog()


@pytest.mark.parametrize("code", sorted(CATALOG.matters))
def test_a_generated_process_is_laid_out_readable(code):
    content = skeleton(CATALOG, CATALOG.matter(code))
    # the front desk's lane of a generated process is not a department's (nothing is routed to it)
    problems = [p for p in diagram_problems(content) if not p.startswith("lane Lane_center ")]
    assert problems == []
    assert b"<bpmndi:BPMNShape" in content and b"Timer_" in content
