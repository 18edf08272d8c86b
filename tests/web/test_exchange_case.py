"""A newborn case whose facts come over HTTP from a data-exchange platform, not the embedded file."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from demo.exchange_server import create_exchange_app
from demo.seed import DEMO_PASSWORD, seed_demo
from services.config import Settings
from services.registries.embedded import EmbeddedRegistry
from services.registries.http import HttpRegistry
from services.registries.models import DataAccess
from services.runtime import build_runtime
from tests.live import serve
from tests.web.conftest import MOTHER, NEWBORN_ANSWERS
from web.app import create_app


def test_case_prefilled_through_the_exchange_platform(database_url, registry_path, tmp_path):
    platform = create_exchange_app(EmbeddedRegistry(registry_path), clients={"onething": "s3cret"})
    with serve(platform) as base:
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=database_url,
            exchange_url=base,
            exchange_client_id="onething",
            exchange_client_secret="s3cret",
        )
        rt = build_runtime(settings)
        assert isinstance(rt.registry, HttpRegistry)
        seed_demo(rt)
        with TestClient(create_app(rt)) as client:
            login = {"username": MOTHER, "password": DEMO_PASSWORD}
            token = client.post("/api/v1/login", json=login).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            created = client.post(
                "/api/v1/cases",
                json={"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True},
                headers=headers,
            )
        rt.registry.close()
    assert created.status_code == 201, created.text
    assert len(created.json()["items"]) == 6
    with Session(rt.db) as session:
        reads = session.exec(select(DataAccess).where(DataAccess.case_id == created.json()["id"]))
        registries = {read.source_registry for read in reads}
    assert {"population", "birth", "marriage", "medical_insurance"} <= registries
    rt.db.dispose()
