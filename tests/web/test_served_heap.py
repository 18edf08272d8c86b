"""A served process (`onething serve`) parses every matter's process at start-up and sets what it
holds for its life aside from the garbage collector (web/app.py settle_heap): a full collection
then traverses only what requests made since, instead of pausing every request for the whole
heap. An app built without `served` (as tests build them) freezes nothing."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from web.app import create_app


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # what a test froze is collectable again for the next ones


def test_a_served_app_parses_every_process_and_freezes_the_heap_at_start_up(rt, unfrozen):
    parsed: list[str] = []
    spec_for = rt.spec_for

    def counting(matter, session=None):
        parsed.append(matter.code)
        return spec_for(matter, session)

    rt.spec_for = counting
    with TestClient(create_app(rt, served=True)) as client:
        assert gc.get_freeze_count() > 10_000  # modules, catalog, metadata, parsed specs
        assert sorted(parsed) == sorted(rt.catalog.matters)
        assert client.get("/healthz").status_code == 200


def test_an_app_that_is_not_served_freezes_nothing(rt, unfrozen):
    with TestClient(create_app(rt)) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() == 0


def test_a_matter_whose_process_fails_to_parse_does_not_stop_the_start(rt, unfrozen, caplog):
    spec_for = rt.spec_for
    broken = sorted(rt.catalog.matters)[0]

    def failing(matter, session=None):
        if matter.code == broken:
            raise ValueError("unparseable")
        return spec_for(matter, session)

    rt.spec_for = failing
    assert rt.parse_all_specs() == len(rt.catalog.matters) - 1
    assert f"the process of matter {broken} could not be parsed" in caplog.text
