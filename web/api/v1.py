"""The JSON API, version 1 (`/api/v1/…`): one module per resource, every one a router of the
same kind (errors documented once, `Idempotency-Key` on POSTs, responses serialized in the
endpoint's thread). Pages and the API call the same service functions."""

from __future__ import annotations

from fastapi import APIRouter

from web.api import (
    admin,
    admin_matters,
    admin_processes,
    admin_settings,
    admin_users,
    cases,
    certificates,
    deliveries,
    evaluations,
    external_tasks,
    frontdesk,
    inbox,
    matters,
    me,
    sessions,
    tasks,
    uploads,
)
from web.api.routing import PREFIX

router = APIRouter(prefix=PREFIX)
for part in (
    sessions.router,
    matters.router,
    uploads.router,
    cases.router,
    me.router,
    tasks.router,
    external_tasks.router,
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
):
    router.include_router(part)
