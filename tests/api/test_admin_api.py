"""The administrator's side of the JSON API, driven as an integrator would (bearer tokens, JSON
bodies): figures, dashboard and its CSV, the data-access log, incidents, matter settings,
departments, the holiday calendar, staff accounts and processes; refusals name their fields,
and nobody but an administrator gets in (every page's twin: tests/web/test_api_parity.py)."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from demo.seed import DEMO_PASSWORD
from engine.cases import StepFailed
from services.cases import incidents
from services.cases.models import IdempotentRequest
from services.configuration.calendar import CalendarChange
from services.configuration.departments import DepartmentChange
from services.configuration.matters import MatterChange
from services.processes import MAX_BPMN_BYTES
from tests.engine.test_interchange import camunda_copy
from tests.web.conftest import MOTHER, NEWBORN_ANSWERS
from tests.web.test_process_editor import NEWBORN, WITH_NEW_ITEM

ADMIN = "/api/v1/admin"
MASKED_MOTHER = "310105********028X"
MATERNITY = "medical_maternity_allowance"


def sign_in(client: TestClient, username: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
    response = client.post("/api/v1/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture
def admin(api) -> dict[str, str]:
    return sign_in(api, "admin")


def apply(api: TestClient) -> int:
    body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
    response = api.post("/api/v1/cases", json=body, headers=sign_in(api, MOTHER))
    assert response.status_code == 201, response.text
    return response.json()["id"]


def refused_fields(response, status: int = 422) -> dict:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json().get("fields", {})


# ---------------------------------------------------------------- figures and logs


def test_figures_dashboard_and_logs_answer_what_the_pages_show(api, admin, rt):
    apply(api)
    figures = api.get(f"{ADMIN}/matters/figures", headers=admin).json()
    newborn = next(m for m in figures["matters"] if m["matter"] == "newborn")
    assert newborn["cases"] == {"processing": 1}
    assert newborn["facts_combined"] < newborn["facts_separately"]
    assert newborn["facts_to_type"] == newborn["facts_combined"] - newborn["facts_autofilled"]
    assert set(figures["averages"]) == {"materials", "steps", "trips", "facts"}

    dashboard = api.get(f"{ADMIN}/dashboard", headers=admin).json()
    row = next(m for m in dashboard["matters"] if m["matter"] == "newborn")
    assert (row["cases"], row["by_status"], row["burden"]["matter"]) == (
        1,
        {"processing": 1},
        "newborn",
    )
    police = next(d for d in dashboard["departments"] if d["department"] == "police")
    assert police["open"] == 1 and police["instant_rate"] is None

    log = api.get(f"{ADMIN}/data-access", headers=admin)
    assert log.status_code == 200 and MOTHER not in log.text
    accesses = log.json()
    assert accesses["page"] == 1 and not accesses["has_more"] and accesses["items"]
    assert {a["subject"] for a in accesses["items"]} >= {MASKED_MOTHER}
    registry = accesses["items"][0]["registry"]
    only = api.get(f"{ADMIN}/data-access?registry={registry}", headers=admin).json()["items"]
    assert only and {a["registry"] for a in only} == {registry}
    assert api.get(f"{ADMIN}/data-access?page=2", headers=admin).json()["items"] == []

    assert api.get(f"{ADMIN}/incidents", headers=admin).json()["items"] == []
    with Session(rt.db) as session:
        failure = StepFailed("Flow_x", "条件", "name 'x' is not defined")
        incidents.record(session, failure, matter="newborn", step="decision")
    [incident] = api.get(f"{ADMIN}/incidents", headers=admin).json()["items"]
    assert (incident["element_id"], incident["step"], incident["matter"]) == (
        "Flow_x",
        "decision",
        "newborn",
    )


def test_the_csv_is_declared_and_sent_as_csv_with_formulas_escaped(api, admin):
    saved = api.post(
        f"{ADMIN}/config/departments/police",
        json={"name": '=HYPERLINK("http://evil.example","公安")'},
        headers=admin,
    )
    assert saved.status_code == 200, saved.text
    response = api.get(f"{ADMIN}/dashboard.csv?table=departments", headers=admin)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    police = next(r for r in rows if r[0] == "police")
    assert police[1] == '\'=HYPERLINK("http://evil.example","公安")'
    matters = api.get(f"{ADMIN}/dashboard.csv", headers=admin)
    assert matters.content.decode("utf-8-sig").startswith("事项代码,一件事")
    assert api.get(f"{ADMIN}/dashboard.csv?table=cases", headers=admin).status_code == 422

    document = api.get("/openapi.json").json()["paths"]
    assert list(document[f"{ADMIN}/dashboard.csv"]["get"]["responses"]["200"]["content"]) == [
        "text/csv"
    ]
    bpmn = document[f"{ADMIN}/processes/{{matter_code}}/bpmn"]["get"]["responses"]["200"]
    assert list(bpmn["content"]) == ["application/xml"]
    upload = document[f"{ADMIN}/processes/{{matter_code}}/upload"]["post"]
    assert list(upload["requestBody"]["content"]) == ["multipart/form-data"]
    assert {"201", "413", "415", "422"} <= upload["responses"].keys()


# ---------------------------------------------------------------- matter settings


def test_matter_settings_publication_and_a_condition_checked_by_the_sandbox(
    api, admin, rt, user_of
):
    listed = api.get(f"{ADMIN}/config/matters", headers=admin).json()
    newborn = next(m for m in listed if m["code"] == "newborn")
    assert newborn["published"] and newborn["process_version"] is None and newborn["added"] == 0
    matter = f"{ADMIN}/config/matters/newborn"

    paused = api.post(f"{matter}/publication", json={"published": False}, headers=admin)
    assert paused.status_code == 200 and paused.json()["published"] is False
    citizen = sign_in(api, MOTHER)
    body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
    assert api.post("/api/v1/cases", json=body, headers=citizen).status_code == 404
    again = api.post(f"{matter}/publication", json={"published": True}, headers=admin).json()
    assert again["published"] and [c["what"] for c in again["history"]] == [
        "published",
        "published",
    ]
    assert again["history"][0]["user"] == user_of("admin").display_name

    condition = f"{matter}/items/{MATERNITY}/condition"
    for bad, words in (
        ("__import__('os').system('id')", "not an allowed expression"),
        ("no_such_fact == 1", "no_such_fact"),
    ):
        fields = refused_fields(api.post(condition, json={"condition": bad}, headers=admin))
        assert list(fields) == [f"condition_{MATERNITY}"] and words in str(fields)
    too_long = refused_fields(api.post(condition, json={"condition": "x" * 2001}, headers=admin))
    assert "condition" in too_long

    saved = api.post(condition, json={"condition": "applicant_phone != ''"}, headers=admin)
    assert saved.status_code == 200, saved.text
    item = next(i for i in saved.json()["items"] if i["code"] == MATERNITY)
    assert item["condition"] == "applicant_phone != ''" and item["overridden"]
    restored = api.post(condition, json={"condition": None}, headers=admin).json()
    item = next(i for i in restored["items"] if i["code"] == MATERNITY)
    assert not item["overridden"] and item["condition"] == item["catalog_condition"]
    missing = api.post(
        f"{matter}/items/no_such_item/condition", json={"condition": ""}, headers=admin
    )
    assert missing.status_code == 404
    assert api.get(f"{ADMIN}/config/matters/no_such_matter", headers=admin).status_code == 404
    with Session(rt.db) as session:
        recorded = session.exec(select(MatterChange.what).order_by(MatterChange.id)).all()
    assert recorded == ["published", "published", f"condition:{MATERNITY}"] + [
        f"condition:{MATERNITY}"
    ]


# ---------------------------------------------------------------- departments and calendar


def test_a_department_is_edited_field_by_field_and_refused_by_field(api, admin, rt):
    listed = api.get(f"{ADMIN}/config/departments", headers=admin).json()
    police = next(d for d in listed["departments"] if d["code"] == "police")
    assert police["clerks"] >= 1 and police["supervisors"] >= 1 and police["items"]
    assert listed["recent_changes"] == []

    url = f"{ADMIN}/config/departments/police"
    refused = api.post(url, json={"phone": "call us", "supervisor_email": "no"}, headers=admin)
    assert set(refused_fields(refused)) == {"phone", "supervisor_email"}
    saved = api.post(url, json={"phone": "021-12345678"}, headers=admin)
    assert saved.status_code == 200 and saved.json()["changed"] == 1
    department = saved.json()["department"]
    assert department["phone"] == "021-12345678" and department["name"] == police["name"]
    assert [(c["what"], c["old"], c["new"]) for c in department["history"]] == [
        ("phone", "", "021-12345678")
    ]
    unchanged = api.post(url, json={"phone": "021-12345678", "address": None}, headers=admin)
    assert unchanged.json()["changed"] == 0
    assert api.get(f"{ADMIN}/config/departments/nowhere", headers=admin).status_code == 404
    with Session(rt.db) as session:
        assert len(session.exec(select(DepartmentChange)).all()) == 1


def test_calendar_days_and_a_pasted_schedule_with_its_errors_by_line(api, admin, rt):
    url = f"{ADMIN}/config/calendar"
    year = api.get(f"{url}?year=2030", headers=admin).json()
    assert year["year"] == 2030 and len(year["months"]) == 12 and year["overrides"] == []
    assert api.get(f"{url}?year=1999", headers=admin).status_code == 422
    assert api.get(url, headers=admin).json()["year"] == 2026  # this year (the tests' clock)

    bad = api.post(f"{url}/days", json={"day": "2030-02-30", "kind": "rest"}, headers=admin)
    assert list(refused_fields(bad)) == ["day"]
    bad = api.post(f"{url}/days", json={"day": "2030-10-08", "kind": "maybe"}, headers=admin)
    assert list(refused_fields(bad)) == ["kind"]
    day = {"day": "2030-10-08", "kind": "rest", "name": "国庆节", "note": "通知"}
    saved = api.post(f"{url}/days", json=day, headers=admin).json()
    [override] = saved["overrides"]
    assert (override["day"], override["is_working_day"], override["name"]) == (
        "2030-10-08",
        False,
        "国庆节",
    )
    october = saved["months"][9]["days"]
    assert any(d["day"] == "2030-10-08" and not d["working"] for d in october)

    schedule = "2030-01-01 休 元旦\n2030-13-01 休 坏日期\n\n2030-02-03 玩 调休\n"
    refused = api.post(f"{url}/import", json={"year": 2030, "schedule": schedule}, headers=admin)
    fields = refused_fields(refused)
    assert set(fields) == {"schedule:2", "schedule:4"} and "第 2 行" in fields["schedule:2"]["zh"]
    schedule = "2030-01-01 休 元旦\n2030-02-02~2030-02-08 休 春节\n2030-02-10 班 调休上班"
    imported = api.post(
        f"{url}/import", json={"year": 2030, "schedule": schedule, "replace": True}, headers=admin
    ).json()
    assert (imported["changed"], imported["unchanged"], imported["removed"]) == (9, 0, 1)
    assert len(imported["calendar"]["overrides"]) == 9

    pasted = {"year": 2030, "schedule": "2030-01-01 休\n" * 20_000}
    assert api.post(f"{url}/import", json=pasted, headers=admin).status_code == 413

    deleted = api.post(f"{url}/days/2030-02-10/delete", headers=admin)
    assert deleted.status_code == 200 and len(deleted.json()["overrides"]) == 8
    assert api.post(f"{url}/days/2030-02-10/delete", headers=admin).status_code == 404
    assert api.post(f"{url}/days/not-a-day/delete", headers=admin).status_code == 422
    history = api.get(f"{url}?year=2030", headers=admin).json()["history"]
    assert history[0]["day"] == "2030-02-10" and history[0]["new"] == ""
    with Session(rt.db) as session:
        assert len(session.exec(select(CalendarChange)).all()) == 1 + 9 + 1 + 1


# ---------------------------------------------------------------- accounts


def test_staff_accounts_listed_created_edited_disabled_and_reset(api, admin, user_of, rt):
    users = f"{ADMIN}/config/users"
    police = api.get(f"{users}?role=clerk&department=police", headers=admin).json()
    assert police["total"] >= 2 and {u["department"] for u in police["items"]} == {"police"}
    assert set(refused_fields(api.get(f"{users}?role=boss", headers=admin))) == {"role"}
    citizens = api.get(f"{users}?role=citizen&search=3101051994", headers=admin).json()
    assert [u["username"] for u in citizens["items"]] == [MASKED_MOTHER]

    taken = api.post(
        users,
        json={"username": "police01", "display_name": "", "role": "clerk", "password": "short"},
        headers=admin,
    )
    assert set(refused_fields(taken)) == {"username", "display_name", "department", "password"}
    created = api.post(
        users,
        json={
            "username": "police09",
            "display_name": "新警员",
            "role": "clerk",
            "department": "police",
        },
        headers=admin,
    )
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    account, password = created.json()["account"], created.json()["password"]
    assert account["history"][0]["action"] == "created" and password
    new_clerk = sign_in(api, "police09", password)
    assert api.get("/api/v1/tasks", headers=new_clerk).status_code == 200

    one = f"{users}/{account['id']}"
    moved = api.post(one, json={"department": "cdc", "supervisor": True}, headers=admin).json()
    assert (moved["department"], moved["supervisor"], moved["display_name"]) == (
        "cdc",
        True,
        "新警员",
    )
    assert "role" in refused_fields(api.post(one, json={"role": "king"}, headers=admin))

    disabled = api.post(f"{one}/disable", headers=admin).json()
    assert disabled["active"] is False
    assert api.get("/api/v1/tasks", headers=new_clerk).status_code == 401  # its sessions ended
    assert api.post(f"{one}/enable", headers=admin).json()["active"] is True
    reset = api.post(f"{one}/password", headers=admin)
    assert reset.status_code == 200 and reset.headers["cache-control"] == "no-store"
    assert reset.json()["password"] != password
    sign_in(api, "police09", reset.json()["password"])
    actions = [c["action"] for c in api.get(one, headers=admin).json()["history"]]
    assert actions[:4] == ["password_reset", "enabled", "disabled", "updated"]
    assert reset.json()["password"] not in api.get(one, headers=admin).text

    # A password is answered once: never kept for a replay, even with an Idempotency-Key.
    keyed = {**admin, "Idempotency-Key": "reset-police09"}
    first, second = (api.post(f"{one}/password", headers=keyed) for _ in range(2))
    assert "Idempotent-Replayed" not in second.headers
    assert first.json()["password"] != second.json()["password"]
    with Session(rt.db) as session:
        assert session.exec(select(IdempotentRequest)).all() == []
    as_form = api.post(users, data={"username": "police10"}, headers=admin)
    assert as_form.status_code == 415
    document = api.get("/openapi.json").json()["paths"]
    for path in (users, f"{users}/{{user_id}}/password"):
        parameters = document[path]["post"].get("parameters", [])
        assert "Idempotency-Key" not in {p["name"] for p in parameters}
    assert "415" in document[users]["post"]["responses"]

    mother = user_of(MOTHER)
    assert api.get(f"{users}/{mother.id}", headers=admin).json()["username"] == MASKED_MOTHER
    assert api.post(f"{users}/{mother.id}/password", headers=admin).status_code == 403
    assert api.get(f"{users}/999999", headers=admin).status_code == 404


def test_the_last_administrator_cannot_be_disabled_or_demoted(api, admin, user_of):
    me = user_of("admin")
    users = f"{ADMIN}/config/users/{me.id}"
    refused = api.post(f"{users}/disable", headers=admin)
    assert refused.status_code == 403 and "不能停用自己的账号" in refused.json()["detail"]
    demoted = api.post(users, json={"role": "clerk", "department": "police"}, headers=admin)
    assert demoted.status_code == 403
    me = user_of("admin")
    assert (me.active, me.role) == (True, "admin")
    assert api.get(users, headers=admin).json()["history"] == []


# ---------------------------------------------------------------- processes


def test_processes_listed_uploaded_as_a_file_and_rolled_back(api, admin, user_of):
    listed = api.get(f"{ADMIN}/processes", headers=admin).json()
    newborn = next(p for p in listed if p["matter"] == "newborn")
    assert newborn["current"] is None and newborn["versions"] == 0

    url = f"{ADMIN}/processes/newborn"
    file = {"file": ("newborn.bpmn", camunda_copy(), "application/xml")}
    uploaded = api.post(f"{url}/upload", files=file, data={"comment": "Camunda"}, headers=admin)
    assert uploaded.status_code == 201, uploaded.text[:500]
    assert (uploaded.json()["version"], uploaded.json()["author"]) == (
        1,
        user_of("admin").display_name,
    )
    assert b"camunda:property" not in api.get(f"{url}/bpmn", headers=admin).content

    as_json = api.post(f"{url}/upload", json={"xml": NEWBORN.decode()}, headers=admin)
    assert as_json.status_code == 415
    assert as_json.json()["code"] == "unsupported_media_type"
    large = {"file": ("big.bpmn", b" " * (MAX_BPMN_BYTES + 1), "application/xml")}
    assert list(refused_fields(api.post(f"{url}/upload", files=large, headers=admin))) == ["file"]
    juel = camunda_copy().replace(
        b"decision_health_birth_medical_certificate == 'correction'", b"${needsCorrection}"
    )
    refused = api.post(f"{url}/upload", files={"file": ("j.bpmn", juel)}, headers=admin)
    assert refused.status_code == 422
    assert any(
        p["element_id"] == "Flow_birth_certificate_correction" for p in refused.json()["problems"]
    )

    deployed = api.post(f"{url}/deploy", json={"xml": WITH_NEW_ITEM.decode()}, headers=admin)
    assert deployed.status_code == 201 and deployed.json()["version"] == 2
    diff = api.get(f"{url}/diff?a=1&b=2", headers=admin).json()
    assert diff["from"] == 1 and "Task_social_insurance_enrollment" in diff["added"]
    rolled = api.post(f"{url}/rollback", json={"version": 1}, headers=admin)
    assert rolled.status_code == 201 and rolled.json()["comment"] == "回滚到版本 1"
    versions = api.get(f"{url}/versions", headers=admin).json()
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert api.get(f"{url}/versions?page=2", headers=admin).json() == []
    current = next(
        p for p in api.get(f"{ADMIN}/processes", headers=admin).json() if p["matter"] == "newborn"
    )
    assert current["current"]["version"] == 3 and current["versions"] == 3


# ---------------------------------------------------------------- who may call


def test_only_administrators_get_in(api):
    probes = [
        ("GET", f"{ADMIN}/matters/figures"),
        ("GET", f"{ADMIN}/dashboard.csv"),
        ("GET", f"{ADMIN}/data-access"),
        ("GET", f"{ADMIN}/config/users"),
        ("POST", f"{ADMIN}/config/calendar/days"),
        ("POST", f"{ADMIN}/config/matters/newborn/publication"),
        ("POST", f"{ADMIN}/processes/newborn/upload"),
    ]
    callers = {who: sign_in(api, who) for who in (MOTHER, "police01", "police-system")}
    for method, url in probes:
        assert api.request(method, url, json={}).status_code == 401, url
        for who, headers in callers.items():
            response = api.request(method, url, json={}, headers=headers)
            assert response.status_code == 403, (who, url, response.text[:200])
