"""Every route of the application, called as every kind of caller, against the decision of who
may call it. The decisions are the tables below: a route added without one fails the walk, with
its name, until someone decides who may use it.

Callers: nobody signed in; a citizen, a department's clerk and its supervisor, the front desk,
the administrator, the operator (cookie sessions, as browsers); a department's system (a bearer
token, as the external-task API is used). Every answer is checked: never a server error; nobody
signed in is sent to sign in (pages) or told 401 (API), except on the public routes; a signed-in
caller the table does not name is refused with 403; a state-changing request from a cookie
session without the session's CSRF token is refused with 403; an allowed caller's GET succeeds,
unless REFUSED_ROWS says the row asked for is not theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from starlette.routing import Mount

from demo.seed import DEMO_PASSWORD
from engine.cases import StepFailed
from services.accounts.models import User
from services.cases import incidents
from services.cases.models import Case, CaseItem, Delivery, Upload
from services.certificates.models import Certificate
from services.evaluations.models import FollowUp
from services.notifications.models import Notification
from services.operations import incident_groups, resolve_group
from tests.web.conftest import FATHER, MOTHER, NEWBORN_DEPARTMENTS
from tests.web.test_newborn import submit_newborn

try:
    from fastapi.routing import iter_route_contexts
except ImportError:  # FastAPI before it kept included routers whole: `app.routes` is flat

    def iter_route_contexts(routes):
        return routes


ANONYMOUS, CITIZEN, CLERK, SUPERVISOR, SYSTEM, FRONT_DESK, ADMIN, OPERATOR = (
    "anonymous",
    "citizen",
    "clerk",
    "supervisor",
    "system",
    "front desk",
    "admin",
    "operator",
)
USERNAMES = {
    CITIZEN: MOTHER,
    CLERK: "police01",
    SUPERVISOR: "police-lead",
    SYSTEM: "police-system",
    FRONT_DESK: "center01",
    ADMIN: "admin",
    OPERATOR: "operator",
}
SIGNED_IN = frozenset(USERNAMES)
EVERYONE = SIGNED_IN | {ANONYMOUS}
CITIZENS = frozenset({CITIZEN})
# Role "clerk": a department's window clerks, its supervisors, and the centre's front desk.
CLERKS = frozenset({CLERK, SUPERVISOR, FRONT_DESK})
SYSTEMS = frozenset({SYSTEM})  # a department's own software
FRONT_DESK_ONLY = frozenset({FRONT_DESK})
ADMINS = frozenset({ADMIN})
OPERATORS = frozenset({OPERATOR})  # look after running cases (issue 21)

# Who may call each route, "METHOD /path". Public routes are listed one by one.
ROUTES: dict[str, frozenset[str]] = {
    # public: signing in, the API's documentation, certificate verification
    "GET /login": EVERYONE,
    "POST /login": EVERYONE,
    "POST /api/v1/login": EVERYONE,
    "GET /": EVERYONE,  # the list of matters (a clerk is sent on to the workbench)
    "GET /openapi.json": EVERYONE,
    "GET /docs": EVERYONE,
    "GET /docs/oauth2-redirect": EVERYONE,
    "GET /redoc": EVERYONE,
    "GET /healthz": EVERYONE,  # for the proxy and monitoring: nothing personal
    "GET /readyz": EVERYONE,
    "GET /favicon.ico": EVERYONE,  # browsers ask for it on every site: sent to the static icon
    # nobody the walk signs in: the operator's scraper, by address and token (test_metrics.py)
    "GET /metrics": frozenset(),
    "GET /verify/{public_id}": EVERYONE,
    "POST /verify/{public_id}": EVERYONE,
    "GET /api/v1/certificates/{public_id}/verification": EVERYONE,
    "POST /api/v1/verify": EVERYONE,
    "GET /api/v1/matters": EVERYONE,
    # the elderly-friendly mode (长辈版): a display choice kept in the browser, also before
    # signing in (a signed-in caller's request still needs its session's CSRF token)
    "POST /preferences/elderly": EVERYONE,
    # anyone signed in (what they see of a case is decided per case)
    "POST /logout": SIGNED_IN,
    "GET /cases/{case_id}": SIGNED_IN,
    "GET /cases/{case_id}/items/{item_id}/result": SIGNED_IN,
    "GET /cases/{case_id}/results.zip": SIGNED_IN,
    "GET /uploads/{upload_id}": SIGNED_IN,
    "GET /inbox": SIGNED_IN,
    "POST /inbox/read-all": SIGNED_IN,
    "POST /inbox/{notification_id}/read": SIGNED_IN,
    "GET /api/v1/inbox": SIGNED_IN,
    "GET /api/v1/cases/{case_id}": SIGNED_IN,
    "GET /api/v1/cases/{case_id}/items/{item_id}/certificate": SIGNED_IN,
    "GET /api/v1/cases/{case_id}/results.zip": SIGNED_IN,
    "GET /api/v1/uploads/{upload_id}": SIGNED_IN,
    "POST /api/v1/inbox/read-all": SIGNED_IN,
    "POST /api/v1/inbox/{notification_id}/read": SIGNED_IN,
    "POST /api/v1/logout": SIGNED_IN,
    # citizens
    "GET /matters/{code}/apply": CITIZENS,
    "POST /matters/{code}/apply": CITIZENS,
    "POST /matters/{code}/apply/preview": CITIZENS,
    "POST /matters/{code}/draft/discard": CITIZENS,
    "POST /matters/{code}/consent": CITIZENS,
    "GET /cases": CITIZENS,
    "POST /cases/{case_id}/items/{item_id}/correction": CITIZENS,
    "GET /my-data-access": CITIZENS,
    "GET /cases/{case_id}/evaluation": CITIZENS,
    "POST /cases/{case_id}/evaluation": CITIZENS,
    "GET /api/v1/cases": CITIZENS,
    "POST /api/v1/cases": CITIZENS,
    "GET /api/v1/matters/{code}/form": CITIZENS,
    "POST /api/v1/matters/{code}/form": CITIZENS,
    "GET /api/v1/matters/{code}/consent": CITIZENS,
    "POST /api/v1/matters/{code}/consent": CITIZENS,
    "GET /api/v1/matters/{code}/draft": CITIZENS,
    "PUT /api/v1/matters/{code}/draft": CITIZENS,
    "DELETE /api/v1/matters/{code}/draft": CITIZENS,
    "POST /api/v1/uploads": CITIZENS,
    "POST /api/v1/cases/{case_id}/items/{item_id}/correction": CITIZENS,
    "GET /api/v1/me/data-access": CITIZENS,
    "GET /api/v1/cases/{case_id}/evaluation": CITIZENS,
    "POST /api/v1/cases/{case_id}/evaluation": CITIZENS,
    # department clerks
    "GET /clerk": CLERKS,
    "GET /clerk/items/{item_id}": CLERKS,
    "POST /clerk/items/{item_id}/reveal": CLERKS,
    "POST /clerk/items/{item_id}/decision": CLERKS,
    "POST /clerk/items/{item_id}/resolve": CLERKS,
    "POST /clerk/items/{item_id}/claim": CLERKS,
    "POST /clerk/items/{item_id}/release": CLERKS,
    "POST /clerk/items/{item_id}/reassign": CLERKS,
    "GET /clerk/deliveries": CLERKS,  # the centre's; another department's clerk gets 404
    "POST /clerk/deliveries/{delivery_id}": CLERKS,
    "GET /clerk/follow-ups": CLERKS,
    "POST /clerk/follow-ups/{follow_up_id}/resolve": CLERKS,
    "GET /api/v1/queue": CLERKS,
    "GET /api/v1/tasks": CLERKS,
    "POST /api/v1/tasks/{task_id}/complete": CLERKS,
    "POST /api/v1/tasks/{task_id}/claim": CLERKS,
    "POST /api/v1/tasks/{task_id}/release": CLERKS,
    "POST /api/v1/tasks/{task_id}/reassign": CLERKS,
    "POST /api/v1/external-tasks/{task_id}/resolve": CLERKS,
    "GET /api/v1/tasks/{task_id}": CLERKS,
    "POST /api/v1/tasks/{task_id}/reveal": CLERKS,
    "GET /api/v1/deliveries": CLERKS,  # the centre's; another department's clerk gets 404
    "POST /api/v1/deliveries/{delivery_id}": CLERKS,
    "GET /api/v1/follow-ups": CLERKS,  # supervisors'
    "POST /api/v1/follow-ups/{follow_up_id}/resolve": CLERKS,
    # a department's own system works external tasks (clerks use the workbench)
    "POST /api/v1/external-tasks/fetch-and-lock": SYSTEMS,
    "POST /api/v1/external-tasks/{task_id}/complete": SYSTEMS,
    "POST /api/v1/external-tasks/{task_id}/failure": SYSTEMS,
    # the front desk (综合窗口) only
    "GET /frontdesk": FRONT_DESK_ONLY,
    "POST /frontdesk": FRONT_DESK_ONLY,
    "GET /frontdesk/apply/{matter}/{applicant_id}": FRONT_DESK_ONLY,
    "POST /frontdesk/apply/{matter}/{applicant_id}": FRONT_DESK_ONLY,
    "POST /frontdesk/apply/{matter}/{applicant_id}/preview": FRONT_DESK_ONLY,
    "GET /frontdesk/receipts/{case_id}": FRONT_DESK_ONLY,
    "POST /api/v1/frontdesk/visits": FRONT_DESK_ONLY,
    "GET /api/v1/frontdesk/visits/{applicant_id}/{matter}/form": FRONT_DESK_ONLY,
    "POST /api/v1/frontdesk/visits/{applicant_id}/{matter}/form": FRONT_DESK_ONLY,
    "POST /api/v1/frontdesk/visits/{applicant_id}/{matter}/uploads": FRONT_DESK_ONLY,
    "POST /api/v1/frontdesk/visits/{applicant_id}/{matter}/application": FRONT_DESK_ONLY,
    "GET /api/v1/frontdesk/receipts/{case_id}": FRONT_DESK_ONLY,
    # why an item applies and was decided so (issue 22): the applicant's by item code, the
    # clerk's through a task of their own department
    "GET /cases/{case_id}/items/{item_code}/why": CITIZENS,
    "GET /api/v1/cases/{case_id}/items/{item_code}/explanation": CITIZENS,
    "GET /clerk/items/{item_id}/why": CLERKS,
    "GET /api/v1/tasks/{task_id}/explanation": CLERKS,
    # acting for someone else (代办, issue 22): a citizen's authorizations, the agent's cases
    "GET /agency": CITIZENS,
    "POST /agency/authorizations": CITIZENS,
    "POST /agency/authorizations/{authorization_id}/withdraw": CITIZENS,
    "GET /agency/apply/{authorization_id}/{matter}": CITIZENS,
    "POST /agency/apply/{authorization_id}/{matter}": CITIZENS,
    "POST /agency/apply/{authorization_id}/{matter}/preview": CITIZENS,
    "GET /agency/cases/{case_id}": CITIZENS,
    "GET /agency/record": CITIZENS,
    "GET /agency/frontdesk": FRONT_DESK_ONLY,
    "POST /agency/frontdesk": FRONT_DESK_ONLY,
    "GET /api/v1/authorizations": CITIZENS,
    "POST /api/v1/authorizations": CITIZENS,
    "POST /api/v1/authorizations/{authorization_id}/withdraw": CITIZENS,
    "GET /api/v1/authorizations/{authorization_id}/matters/{matter}/form": CITIZENS,
    "POST /api/v1/authorizations/{authorization_id}/matters/{matter}/form": CITIZENS,
    "POST /api/v1/authorizations/{authorization_id}/uploads": CITIZENS,
    "POST /api/v1/authorizations/{authorization_id}/cases": CITIZENS,
    "GET /api/v1/agency/cases": CITIZENS,
    "GET /api/v1/agency/cases/{case_id}": CITIZENS,
    "GET /api/v1/agency/record": CITIZENS,
    "POST /api/v1/frontdesk/authorizations": FRONT_DESK_ONLY,
    # offers started by registry events (issue 22): the citizen's own; a department's system
    # posts the signed events
    "GET /offers": CITIZENS,
    "GET /offers/{offer_id}": CITIZENS,
    "POST /offers/{offer_id}/confirm": CITIZENS,
    "POST /offers/{offer_id}/edit": CITIZENS,
    "POST /offers/{offer_id}/decline": CITIZENS,
    "GET /api/v1/offers": CITIZENS,
    "GET /api/v1/offers/{offer_id}": CITIZENS,
    "POST /api/v1/offers/{offer_id}/confirm": CITIZENS,
    "POST /api/v1/offers/{offer_id}/decline": CITIZENS,
    "POST /api/v1/registry-events": SYSTEMS,
    # administrators (PREFIXES decide the rest of /admin): replaying a change reads cases
    "GET /admin/replay/{matter_code}": ADMINS,
    "POST /admin/replay/{matter_code}": ADMINS,
    "POST /api/v1/admin/replay/{matter_code}": ADMINS,
}
# administrators: a decision table's page (PREFIXES decide the rest of /admin)
DECISION_PAGE = "/admin/processes/{matter_code}/decisions/{decision_id}"
ROUTES.update({f"GET {DECISION_PAGE}": ADMINS, f"POST {DECISION_PAGE}": ADMINS})
# Whole areas, every method: a route added below one of these is decided by it.
PREFIXES: dict[str, frozenset[str]] = {
    "/admin": ADMINS,
    "/api/v1/admin": ADMINS,
    "/operations": OPERATORS,
    "/api/v1/operations": OPERATORS,
    "/static": EVERYONE,
    "/vendor/bpmn-js": EVERYONE,
    "/vendor/dmn-js": EVERYONE,
}
# State-changing requests that need no CSRF token: they open no session's power (signing in,
# checking a certificate someone was given).
NO_CSRF = {"POST /login", "POST /api/v1/login", "POST /verify/{public_id}", "POST /api/v1/verify"}
# Signing out ends the caller's session: these run last, each with fresh sessions.
SIGN_OUTS = ("POST /logout", "POST /api/v1/logout")
# A file under each static mount, to fetch.
MOUNT_FILES = {
    "/static": "/static/app.css",
    "/vendor/bpmn-js": "/vendor/bpmn-js/bpmn-modeler.production.min.js",
    "/vendor/dmn-js": "/vendor/dmn-js/dmn-modeler.production.min.js",
}
OPTIONAL = {"/vendor/bpmn-js", "/vendor/dmn-js"}  # mounted once `npm ci` installed the editors
CSRF_REFUSED = "安全校验未通过"  # web.deps.check_csrf's message
QUERIES = {
    "/admin/processes/{matter_code}/diff": "?a=1&b=1",
    "/api/v1/admin/processes/{matter_code}/diff": "?a=1&b=1",
    "/operations/migrations/{matter_code}/plan": "?to_version=1",
    "/api/v1/operations/migrations/{matter_code}/plan": "?to_version=1",
}
# Signed-in callers the tables allow, refused by what they asked for, not by who they are: the
# rows the walk names are not theirs to see. Every other GET by an allowed caller succeeds.
REFUSED_ROWS: dict[tuple[str, str], int] = {
    # A case's personal data is its applicant's; clerks see it through their own item.
    ("GET /cases/{case_id}", SYSTEM): 404,
    ("GET /cases/{case_id}", FRONT_DESK): 404,  # the centre has no item in this case
    ("GET /cases/{case_id}", ADMIN): 404,  # administrators see figures and logs, not cases
    ("GET /cases/{case_id}/items/{item_id}/result", SYSTEM): 404,
    ("GET /cases/{case_id}/items/{item_id}/result", FRONT_DESK): 404,
    ("GET /cases/{case_id}/items/{item_id}/result", ADMIN): 404,
    ("GET /cases/{case_id}/results.zip", CLERK): 404,  # all results: the applicant's only
    ("GET /cases/{case_id}/results.zip", SUPERVISOR): 404,
    ("GET /cases/{case_id}/results.zip", SYSTEM): 404,
    ("GET /cases/{case_id}/results.zip", FRONT_DESK): 404,
    ("GET /cases/{case_id}/results.zip", ADMIN): 404,
    ("GET /uploads/{upload_id}", FRONT_DESK): 404,  # a material: for the items that need it
    ("GET /uploads/{upload_id}", ADMIN): 404,
    ("GET /api/v1/cases/{case_id}", FRONT_DESK): 404,
    ("GET /api/v1/cases/{case_id}", ADMIN): 404,
    ("GET /api/v1/cases/{case_id}/items/{item_id}/certificate", SYSTEM): 404,
    ("GET /api/v1/cases/{case_id}/items/{item_id}/certificate", FRONT_DESK): 404,
    ("GET /api/v1/cases/{case_id}/items/{item_id}/certificate", ADMIN): 404,
    ("GET /api/v1/cases/{case_id}/results.zip", CLERK): 404,
    ("GET /api/v1/cases/{case_id}/results.zip", SUPERVISOR): 404,
    ("GET /api/v1/cases/{case_id}/results.zip", SYSTEM): 404,
    ("GET /api/v1/cases/{case_id}/results.zip", FRONT_DESK): 404,
    ("GET /api/v1/cases/{case_id}/results.zip", ADMIN): 404,
    ("GET /api/v1/uploads/{upload_id}", FRONT_DESK): 404,
    ("GET /api/v1/uploads/{upload_id}", ADMIN): 404,
    ("GET /clerk/items/{item_id}", FRONT_DESK): 404,  # a police task
    ("GET /clerk/deliveries", CLERK): 404,  # only the centre posts results
    ("GET /clerk/deliveries", SUPERVISOR): 404,
    ("GET /clerk/follow-ups", CLERK): 403,  # follow-ups of bad reviews are for supervisors
    ("GET /clerk/follow-ups", FRONT_DESK): 403,
    ("GET /api/v1/tasks/{task_id}", FRONT_DESK): 404,  # a police task
    ("GET /clerk/items/{item_id}/why", FRONT_DESK): 404,  # a police task
    ("GET /api/v1/tasks/{task_id}/explanation", FRONT_DESK): 404,
    ("GET /api/v1/deliveries", CLERK): 404,
    # 代办: the mother holds no authorization and filed no case for anyone
    ("GET /agency/apply/{authorization_id}/{matter}", CITIZEN): 404,
    ("GET /api/v1/authorizations/{authorization_id}/matters/{matter}/form", CITIZEN): 404,
    ("GET /agency/cases/{case_id}", CITIZEN): 404,
    ("GET /api/v1/agency/cases/{case_id}", CITIZEN): 404,
    ("GET /api/v1/deliveries", SUPERVISOR): 404,
    ("GET /api/v1/follow-ups", CLERK): 403,
    ("GET /api/v1/follow-ups", FRONT_DESK): 403,
    # the front desk opens a person's form only while that person is recorded at the window
    ("GET /frontdesk/apply/{matter}/{applicant_id}", FRONT_DESK): 403,
    ("GET /frontdesk/receipts/{case_id}", FRONT_DESK): 404,  # an online case: no receipt
    ("GET /api/v1/frontdesk/visits/{applicant_id}/{matter}/form", FRONT_DESK): 403,
    ("GET /api/v1/frontdesk/receipts/{case_id}", FRONT_DESK): 404,
    ("GET /admin/processes/{matter_code}/diff", ADMIN): 404,  # no version deployed yet
    ("GET /api/v1/admin/processes/{matter_code}/diff", ADMIN): 404,
    ("GET /api/v1/matters/{code}/draft", CITIZEN): 404,  # no draft saved
    ("GET /offers/{offer_id}", CITIZEN): 404,  # no registry event offered her anything
    ("GET /api/v1/offers/{offer_id}", CITIZEN): 404,
    # no version of the matter deployed yet, so no migration to plan nor any run of one
    ("GET /operations/migrations/{matter_code}/plan", OPERATOR): 404,
    ("GET /api/v1/operations/migrations/{matter_code}/plan", OPERATOR): 404,
    ("GET /operations/migrations/runs/{run_id}", OPERATOR): 404,
    ("GET /api/v1/operations/migrations/runs/{run_id}", OPERATOR): 404,
}
# Operators see case numbers and statuses on their own pages, never a case's personal data
REFUSED_ROWS.update(
    {
        (key, OPERATOR): 404
        for key in (
            "GET /cases/{case_id}",
            "GET /cases/{case_id}/items/{item_id}/result",
            "GET /cases/{case_id}/results.zip",
            "GET /uploads/{upload_id}",
            "GET /api/v1/cases/{case_id}",
            "GET /api/v1/cases/{case_id}/items/{item_id}/certificate",
            "GET /api/v1/cases/{case_id}/results.zip",
            "GET /api/v1/uploads/{upload_id}",
        )
    }
)
# What state-changing requests send: valid input where it reaches deeper than validation, sent
# also without the CSRF token (which must stop it all the same). Others send an empty form.
BODIES: dict[str, dict] = {
    "POST /login": {"username": "walker", "password": "not-the-password"},
    "POST /api/v1/login": {"username": "api-walker", "password": "not-the-password"},
    "POST /admin/config/matters/{code}/publication": {"published": "1"},
    "POST /api/v1/cases": {"matter": "newborn", "answers": {}, "consent": False},
    "POST /api/v1/matters/{code}/form": {"answers": {"household_parent": "father"}},
    "PUT /api/v1/matters/{code}/draft": {"answers": {"household_parent": "father"}},
    "POST /api/v1/cases/{case_id}/items/{item_id}/correction": {"answers": {}},
    "POST /api/v1/tasks/{task_id}/reassign": {"to_user_id": 1},
    "POST /api/v1/external-tasks/fetch-and-lock": {"worker_id": "walker"},
    "POST /api/v1/external-tasks/{task_id}/complete": {
        "worker_id": "walker",
        "decision": "approved",
    },
    "POST /api/v1/external-tasks/{task_id}/failure": {
        "worker_id": "walker",
        "error_message": "down",
        "retries": 0,
    },
    "POST /api/v1/admin/processes/{matter_code}/validate": {"xml": "<definitions/>"},
    "POST /api/v1/admin/processes/{matter_code}/deploy": {"xml": "<not-xml", "comment": "walk"},
    "POST /api/v1/admin/processes/{matter_code}/rollback": {"version": 99},
    "POST /api/v1/admin/config/matters/{code}/publication": {"published": True},
    "POST /api/v1/admin/config/matters/{code}/items/{item_code}/condition": {"condition": ""},
    "POST /api/v1/admin/config/departments/{code}": {"phone": "021-12345678"},
    "POST /api/v1/admin/config/calendar/days": {"day": "2026-12-26", "kind": "rest"},
    "POST /api/v1/admin/config/calendar/import": {"year": 2027, "schedule": "2027-01-01 休"},
    "POST /api/v1/admin/config/users": {
        "username": "api-walker",
        "display_name": "Walker",
        "role": "clerk",
        "department": "police",
    },
    "POST /api/v1/admin/config/users/{user_id}": {"display_name": "巡检"},
    "POST /admin/processes/{matter_code}/rollback": {"version": "99"},
    f"POST {DECISION_PAGE}": {"action": "run"},
    "POST /api/v1/admin/decisions/{matter_code}/{decision_id}/run": {},
    "POST /api/v1/admin/decisions/{matter_code}/{decision_id}/deploy": {"xml": "<not-xml"},
    "POST /admin/replay/{matter_code}": {"limit": "3"},
    "POST /operations/incidents/groups/{group_id}/resolve": {"reason": "巡检"},
    "POST /api/v1/operations/incidents/groups/{group_id}/resolve": {"reason": "巡检"},
    "POST /api/v1/admin/replay/{matter_code}": {"limit": 3},
    "POST /operations/migrations/{matter_code}/runs": {"to_version": "1", "reason": "巡检"},
    "POST /api/v1/operations/migrations/{matter_code}/runs": {"to_version": 1, "reason": "巡检"},
    "POST /frontdesk": {"id_number": FATHER, "matter": "newborn", "consent": "1", "present": "1"},
    "POST /api/v1/frontdesk/visits": {
        "id_number": FATHER,
        "matter": "newborn",
        "consent": True,
        "present": True,
    },
    "POST /clerk/items/{item_id}/decision": {"decision": "rejected"},
    "POST /clerk/deliveries/{delivery_id}": {"status": "shipped", "tracking_number": "SF1"},
    "POST /cases/{case_id}/evaluation": {"level": "5"},
    "POST /clerk/follow-ups/{follow_up_id}/resolve": {"resolution": "called", "callback_done": "1"},
    "POST /api/v1/tasks/{task_id}/complete": {"decision": "approved"},
    "POST /api/v1/tasks/{task_id}/reveal": {"fact": "mother_id_number", "reason": "walk"},
    "POST /api/v1/deliveries/{delivery_id}": {"status": "shipped", "tracking_number": "SF2"},
    "POST /api/v1/cases/{case_id}/evaluation": {"level": 5},
    "POST /api/v1/follow-ups/{follow_up_id}/resolve": {
        "resolution": "called",
        "callback_done": True,
    },
}


def allowed_roles(key: str) -> frozenset[str] | None:
    """Who may call `key` ("METHOD /path"): its own entry, else the longest area it is in."""
    if key in ROUTES:
        return ROUTES[key]
    path = key.split(" ", 1)[1]
    areas = [p for p in PREFIXES if path == p or path.startswith(p.rstrip("/") + "/")]
    return PREFIXES[max(areas, key=len)] if areas else None


@dataclass(frozen=True)
class Call:
    key: str  # "METHOD /path/{param}", as the tables name it
    method: str
    url: str


def _routes(app) -> list[tuple[str, str]]:
    """(method, path) of every route and mount of the application."""
    found = []
    for route in iter_route_contexts(app.routes):
        if isinstance(getattr(route, "original_route", route), Mount):
            found.append(("GET", route.path))
            continue
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found.append((method, route.path))
    return found


@pytest.fixture
def world(browser, rt):
    """The mother's newborn case went through a correction with an uploaded material, was
    approved by every department (a postal delivery), its household registration downloaded (a
    certificate) and rated badly (follow-ups); the father's case is still open. Returns the path
    parameters naming these rows, and per route prefix the values that differ."""
    citizen, case_id = submit_newborn(browser)
    with Session(rt.db) as session:
        police_item = session.exec(
            select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.department == "police")
        ).one()
    police = browser("police01")
    police.get(f"/clerk/items/{police_item.id}")
    sent_back = police.post(
        f"/clerk/items/{police_item.id}/decision",
        data={
            "decision": "correction",
            "comment": "请上传结婚证",
            "reopen": ["material_marriage_certificate"],
        },
    )
    assert sent_back.status_code == 303, sent_back.text[:300]
    citizen.get(f"/cases/{case_id}")
    corrected = citizen.post(
        f"/cases/{case_id}/items/{police_item.id}/correction",
        files=[("material_marriage_certificate", ("m.pdf", b"%PDF-1.4 copy", "application/pdf"))],
    )
    assert corrected.status_code == 303, corrected.text[:300]
    for department in NEWBORN_DEPARTMENTS:
        clerk = browser(f"{department}01")
        for task in clerk.client.get("/api/v1/tasks").json():
            clerk.get(f"/clerk/items/{task['id']}")
            decided = clerk.post(
                f"/clerk/items/{task['id']}/decision", data={"decision": "approved"}
            )
            assert decided.status_code == 303, decided.text[:300]
    issued = citizen.get(f"/cases/{case_id}/items/{police_item.id}/result")  # a certificate
    assert issued.status_code == 200, issued.text[:300]
    citizen.get(f"/cases/{case_id}/evaluation")
    rated = citizen.post(f"/cases/{case_id}/evaluation", data={"level": "1", "reasons": ["slow"]})
    assert rated.status_code == 303, rated.text[:300]
    _father, open_case_id = submit_newborn(browser, FATHER)
    with Session(rt.db) as session:
        open_task = session.exec(
            select(CaseItem).where(
                CaseItem.case_id == open_case_id, CaseItem.department == "police"
            )
        ).one()
        mother = session.exec(select(User).where(User.username == MOTHER)).one()
        spare = session.exec(select(User).where(User.username == "police02")).one()
        group_id, batch_id = _incidents(session, rt, open_case_id)
        values = {
            "code": "newborn",
            "matter": "newborn",
            "matter_code": "newborn",
            "decision_id": "newborn_medical_enrollment_check",
            "element_id": "Task_birth_registration",  # the police step of the diagram
            "item_code": police_item.item_code,
            "case_id": case_id,
            "item_id": police_item.id,  # of the mother's case (the clerk's pages: see below)
            "task_id": open_task.id,
            "upload_id": session.exec(select(Upload.id)).first(),
            "delivery_id": session.exec(select(Delivery.id)).one(),
            "follow_up_id": session.exec(
                select(FollowUp.id).where(FollowUp.department == "police")
            ).one(),
            "notification_id": session.exec(
                select(Notification.id).where(Notification.user_id == mother.id)
            ).first(),
            "public_id": session.exec(select(Certificate.public_id)).first(),
            "applicant_id": mother.id,
            "user_id": spare.id,  # administrators' account actions land on a spare clerk
            "group_id": group_id,  # operators: an open group of incidents
            "batch_id": batch_id,  # and one already resolved
            "case_number": session.get(Case, open_case_id).number,  # operators repair it
            "action": "cancel",  # an item's repair (without a reason: refused, 422)
            "run_id": 1,  # a migration run (none yet: see REFUSED_ROWS)
            "offer_id": 1,  # offers: none (see REFUSED_ROWS)
            "authorization_id": 1,  # 代办: none (see REFUSED_ROWS)
            "day": "2026-12-26",
            "kind": "fact",  # the catalog's entries (their code: see the overrides)
            "number": 0,  # the catalog as shipped
        }
    assert not [name for name, value in values.items() if value is None], values
    overrides = {
        "/admin/catalog/{kind}/{code}": {"code": "applicant_name"},
        "/api/v1/admin/catalog/{kind}/{code}": {"code": "applicant_name"},
        "/admin/config/departments/{code}": {"code": "police"},
        "/api/v1/admin/config/departments/{code}": {"code": "police"},
        "/clerk/items/{item_id}": {"item_id": open_task.id},
    }
    return values, overrides


def _incidents(session, rt, case_id: int) -> tuple[str, int]:
    """Two groups of incidents on the open case: one resolved (its record's id), one open (its
    group id)."""
    groups = {}
    for element in ("Gateway_walk_resolved", "Gateway_walk"):
        failure = StepFailed(element, "", "walk")
        incidents.add(session, failure, matter="newborn", step="decision", case_id=case_id)
        session.commit()
        groups[element] = next(g for g in incident_groups(session) if g.key.element == element)
    operator = session.exec(select(User).where(User.username == "operator")).one()
    resolved = resolve_group(
        session, rt, user=operator, key=groups["Gateway_walk_resolved"].key, reason="巡检"
    )
    return groups["Gateway_walk"].key.id, resolved.batch.id


def _calls(app, values, overrides) -> tuple[list[Call], list[str]]:
    """Every route as a request; and the routes no table decides, or with unknown parameters."""
    calls, undecided = [], []
    for method, path in _routes(app):
        key = f"{method} {path}"
        if allowed_roles(key) is None:
            undecided.append(f"{key}: not in ROUTES or PREFIXES")
            continue
        if path in MOUNT_FILES:
            calls.append(Call(key, method, MOUNT_FILES[path]))
            continue
        params = {**values, **next((o for p, o in overrides.items() if path.startswith(p)), {})}
        try:
            url = path.format(**params)
        except KeyError as missing:
            undecided.append(f"{key}: no value for the path parameter {missing}")
            continue
        calls.append(Call(key, method, url + QUERIES.get(path, "")))
    # State changes last, and signing out after everything else.
    calls.sort(key=lambda call: (call.method != "GET", call.key in SIGN_OUTS))
    return calls, undecided


@dataclass
class Caller:
    role: str
    client: TestClient
    csrf: str = ""  # a cookie session's CSRF token
    headers: dict[str, str] | None = None  # a bearer token's

    def send(self, call: Call, *, csrf: bool):
        headers = dict(self.headers or {})
        if csrf:
            headers["X-CSRF-Token"] = self.csrf
        body = {}
        if call.method == "POST":
            sent = BODIES.get(call.key, {})
            body = {"json": sent} if call.url.startswith("/api/v1/") else {"data": sent}
        return self.client.request(call.method, call.url, headers=headers, **body)


def _callers(app, browser) -> dict[str, Caller]:
    callers = {ANONYMOUS: Caller(ANONYMOUS, TestClient(app, follow_redirects=False))}
    for role, username in USERNAMES.items():
        if role == SYSTEM:  # a department's software signs in over the API
            client = TestClient(app, follow_redirects=False)
            login = client.post(
                "/api/v1/login", json={"username": username, "password": DEMO_PASSWORD}
            )
            assert login.status_code == 200, login.text
            token = login.json()["token"]
            callers[role] = Caller(role, client, headers={"Authorization": f"Bearer {token}"})
        else:
            signed_in = browser(username)
            signed_in.get("/inbox")  # a page with a form: the session's CSRF token
            assert signed_in.csrf, username
            callers[role] = Caller(role, signed_in.client, csrf=signed_in.csrf)
    return callers


def _check(call: Call, caller: Caller, response, *, csrf: bool) -> str | None:
    """What is wrong with this answer, if anything."""
    allowed = allowed_roles(call.key)
    status = response.status_code
    where = f"{call.key} as {caller.role}{'' if csrf else ' without CSRF token'}: {status}"
    if status >= 500:
        return f"{where} (server error) {response.text[:200]!r}"
    if not allowed:
        return None if status == 403 else f"{where}, expected 403 (no caller may)"
    public = ANONYMOUS in allowed
    if public:
        if call.method == "GET" and status >= 400:
            return f"{where}, but the route is public"
        return None
    if caller.role == ANONYMOUS:
        if call.url.startswith("/api/v1/"):
            return None if status == 401 else f"{where}, expected 401"
        to_login = status == 303 and response.headers["location"].startswith("/login")
        return None if to_login or status == 401 else f"{where}, expected 303 to /login or 401"
    if call.method == "POST" and not csrf and caller.headers is None and call.key not in NO_CSRF:
        if status != 403:
            return f"{where}, expected 403 (no CSRF token)"
        if caller.role in allowed and CSRF_REFUSED not in response.text:
            return f"{where}, refused, but not for the missing CSRF token"
        return None
    if caller.role not in allowed:
        return None if status == 403 else f"{where}, expected 403 (allowed: {sorted(allowed)})"
    if status == 401:
        return f"{where}, but {caller.role} is signed in and allowed"
    if call.method == "GET":
        expected = REFUSED_ROWS.get((call.key, caller.role))
        if expected is not None and status != expected:
            return f"{where}, expected {expected} (REFUSED_ROWS)"
        if expected is None and status >= 400:
            return f"{where}, but {caller.role} is allowed (or add it to REFUSED_ROWS)"
    return None


def test_every_route_has_a_decision_and_every_decision_a_route(app):
    keys = {f"{method} {path}" for method, path in _routes(app)}
    undecided = sorted(key for key in keys if allowed_roles(key) is None)
    assert not undecided, (
        "Routes nobody decided who may call (add them to ROUTES in tests/web/test_route_walk.py):"
        + "".join(f"\n  {key}" for key in undecided)
    )
    stale = sorted(set(ROUTES) - keys) + sorted(
        prefix
        for prefix in set(PREFIXES) - OPTIONAL
        if not any(k.split(" ", 1)[1].startswith(prefix) for k in keys)
    )
    assert not stale, f"Decisions for routes that no longer exist: {stale}"


def test_every_route_answers_every_caller_as_decided(app, browser, world):
    values, overrides = world
    calls, undecided = _calls(app, values, overrides)
    assert not undecided, "\n".join(undecided)
    callers = _callers(app, browser)
    problems = []
    for call in calls:
        if call.key in SIGN_OUTS:
            callers = _callers(app, browser)
        for caller in callers.values():
            attempts = [True]
            if call.method == "POST" and caller.csrf and call.key not in NO_CSRF:
                attempts = [False, True]  # first without the token, which must change nothing
            for csrf in attempts:
                response = caller.send(call, csrf=csrf)
                problem = _check(call, caller, response, csrf=csrf)
                if problem:
                    problems.append(problem)
    assert not problems, f"{len(problems)} unexpected answers:\n" + "\n".join(problems)
