"""What a running OneThing needs, built once per process: settings, database, catalog, specs,
registry, the file store and the certificate signing keys."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from engine import clock
from engine.clock import utcnow
from engine.sandbox import register_function
from engine.specs import ProcessSpec, SpecCache
from forms.catalog import Catalog, Matter, copy_catalog, default_catalog
from services.calendar import end_of_working_day
from services.certificates.keys import KeyRing, prepare_keys
from services.config import Settings, get_settings
from services.configuration.calendar import load_calendar_overrides
from services.configuration.catalog import apply_current
from services.configuration.departments import load_department_overrides
from services.db import create_schema, make_engine
from services.process_skeleton import has_file, skeleton
from services.processes import deployed_spec
from services.registries.embedded import EmbeddedRegistry
from services.registries.http import HttpRegistry
from services.registries.records import Registry
from services.storage import FileStore, adopt_directory, open_store

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    db: Engine
    catalog: Catalog
    specs: SpecCache
    registry: Registry
    files: FileStore  # uploaded materials (services/storage.py)
    keys: KeyRing  # certificate signing keys, in the database

    def spec_for(self, matter: Matter, session: Session | None = None) -> ProcessSpec:
        """The matter's newest deployed version, else its file in bpmn/ (parsed once per
        distinct content); running cases keep the version they started on.

        Inside a request, pass its `session`: a second connection checked out of the pool while
        the request holds one exhausts the pool under load (each request then waits for one)."""
        if session is not None:
            spec = deployed_spec(session, self.specs, matter_code=matter.code)
        else:
            with Session(self.db) as own:
                spec = deployed_spec(own, self.specs, matter_code=matter.code)
        if spec is not None:
            return spec
        if has_file(self, matter):
            return self.specs.load_file(self.settings.bpmn_dir / matter.bpmn, matter.process_id)
        # a matter made in the browser, before its own process is deployed
        return self.specs.load(skeleton(self.catalog, matter), matter.process_id, matter.bpmn)

    def parse_all_specs(self) -> int:
        """Parse every matter's current process now (a served process does it at start-up,
        not in its first requests); returns how many. A matter whose process cannot be parsed
        is logged and left to fail where it is used."""
        parsed = 0
        with Session(self.db) as session:
            for matter in list(self.catalog.matters.values()):
                try:
                    self.spec_for(matter, session)
                except Exception:
                    log.exception("the process of matter %s could not be parsed", matter.code)
                else:
                    parsed += 1
        return parsed


def register_process_functions() -> None:
    """What BPMN expressions may call besides the data: the deadline arithmetic."""
    register_function("due_in_working_days", lambda days: end_of_working_day(days, utcnow()))


def build_runtime(settings: Settings | None = None, registry: Registry | None = None) -> Runtime:
    """Connect to the database (creating the schema), load the catalog, open the registry and
    the file store (StorageSettingsError for one other hosts cannot reach) and prepare the
    signing keys (SigningKeyError if the stored ones cannot be read)."""
    settings = settings or get_settings()
    files = open_store(settings)
    if settings.clock_offset_days:  # set, not added: a second runtime does not move it again
        clock.travel_to(datetime.now(UTC) + timedelta(days=settings.clock_offset_days))
    register_process_functions()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = make_engine(
        settings.db_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    create_schema(db)
    adopt_directory(db, files, settings.upload_dir)
    keys = KeyRing(settings.certificate_key_passphrase.get_secret_value())
    prepare_keys(db, keys, key_file=settings.signing_key_path)
    load_calendar_overrides(db, keep_fresh=True)
    return Runtime(
        settings=settings,
        db=db,
        # the runtime's own copy: administrators' catalog versions are applied to it
        catalog=apply_current(
            db,
            load_department_overrides(db, copy_catalog(default_catalog()), keep_fresh=True),
            keep_fresh=True,
        ),
        specs=SpecCache(),
        registry=registry or open_registry(settings),
        files=files,
        keys=keys,
    )


def open_registry(settings: Settings) -> Registry:
    """The exchange platform over HTTP when configured, else the embedded demo registry."""
    if settings.exchange_url:
        return HttpRegistry(
            settings.exchange_url,
            client_id=settings.exchange_client_id,
            client_secret=settings.exchange_client_secret.get_secret_value(),
            timeout=settings.exchange_timeout,
        )
    return EmbeddedRegistry(settings.registry_path)
