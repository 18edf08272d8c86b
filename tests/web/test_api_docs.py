"""docs/api.md stays true to the API: every address it names is an operation of the OpenAPI
document, and every error code its table explains is one the API answers with."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import cast

from services.runtime import Runtime
from web.app import create_app
from web.problems import PROBLEM_TITLES

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "api.md"
ADDRESS = re.compile(r"/api/v1/[A-Za-z0-9_{}.-]+(?:/[A-Za-z0-9_{}.-]+)*")
CODE_ROW = re.compile(r"^\| (\d{3}) \| `([a-z_]+)` \|", re.MULTILINE)


def _matches(address: str, template: str) -> bool:
    """Whether a written address (`/api/v1/cases/1/items/3/correction`, `/api/v1/tasks/{id}`)
    is an instance of a documented path template."""
    written, documented = address.split("/"), template.split("/")
    if len(written) != len(documented):
        return False
    return all(
        w == d or (d.startswith("{") and (w.startswith("{") or w.isalnum() or "_" in w))
        for w, d in zip(written, documented, strict=True)
    )


def test_every_address_in_the_guide_is_a_documented_operation():
    paths = create_app(cast(Runtime, SimpleNamespace())).openapi()["paths"]
    text = GUIDE.read_text(encoding="utf-8")
    found = list(ADDRESS.finditer(text))
    # `/api/v1/admin/…` names a group of operations: some path must start with it.
    prefixes = {m.group() for m in found if text.startswith("/…", m.end())}
    named = {m.group() for m in found} - prefixes
    assert len(named) > 20
    unknown = [a for a in sorted(named) if not any(_matches(a, p) for p in paths)]
    unknown += [a for a in sorted(prefixes) if not any(p.startswith(f"{a}/") for p in paths)]
    assert not unknown, f"docs/api.md names addresses the API does not have: {unknown}"


def test_every_error_code_in_the_guide_is_one_the_api_answers_with():
    rows = CODE_ROW.findall(GUIDE.read_text(encoding="utf-8"))
    assert len(rows) >= 10
    assert {code for _status, code in rows} <= PROBLEM_TITLES.keys()


def test_the_address_check_can_fail():
    assert _matches("/api/v1/cases/1/items/3/correction", "/api/v1/cases/{a}/items/{b}/correction")
    assert not _matches("/api/v1/cases/1/items", "/api/v1/cases/{a}/items/{b}/correction")
    assert not _matches("/api/v1/casez", "/api/v1/cases")
