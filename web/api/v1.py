"""The JSON API, version 1 (`/api/v1/…`): one module per resource, every one a router of the
same kind (errors documented once, `Idempotency-Key` on POSTs, responses serialized in the
endpoint's thread). Pages and the API call the same service functions."""

from __future__ import annotations

from fastapi import FastAPI

from web.api import (
    admin,
    admin_catalog,
    admin_decisions,
    admin_layout,
    admin_matters,
    admin_overlay,
    admin_processes,
    admin_replay,
    admin_settings,
    admin_users,
    agency,
    cases,
    certificates,
    deliveries,
    drafts,
    evaluations,
    explanations,
    external_tasks,
    frontdesk,
    inbox,
    matters,
    me,
    migrations,
    offers,
    operations,
    repair,
    sessions,
    tasks,
    uploads,
)
from web.api.routing import PREFIX

# The resource routers, included into the app one by one under PREFIX: one level of routers
# (an aggregating router would be a level more for every request to match through).
ROUTERS = (  # the busiest first: a request is matched against the routers in this order
    tasks.router,
    cases.router,
    external_tasks.router,
    sessions.router,
    matters.router,
    uploads.router,
    drafts.router,
    me.router,
    deliveries.router,
    evaluations.router,
    frontdesk.router,
    inbox.router,
    certificates.router,
    admin.router,
    admin_matters.router,
    admin_settings.router,
    admin_users.router,
    admin_users.with_password,
    admin_processes.router,
    admin_layout.router,
    admin_decisions.router,
    admin_replay.router,
    admin_catalog.router,
    admin_overlay.router,
    operations.router,
    repair.router,
    migrations.router,
    offers.router,
    explanations.router,
    agency.router,
)


def include(app: FastAPI) -> None:
    """Serve the API's operations under PREFIX."""
    for part in ROUTERS:
        app.include_router(part, prefix=PREFIX)
