"""A process that fails at run time (code that passed the checks but breaks on some data) fails
that one step: nothing of it is kept, the caller is told plainly (503, with an incident number),
and the incident is listed for administrators."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from demo.seed import DEMO_PASSWORD
from engine import clock
from engine.store import ProcessInstance, TimerJob
from services import processes
from services.cases.deadlines import run_deadlines
from services.cases.models import Case, CaseItem, Incident
from tests.web.conftest import FATHER, MOTHER, NEWBORN_ANSWERS

NEWBORN = Path(__file__).resolve().parents[2] / "bpmn" / "newborn.bpmn"
DECISIONS = NEWBORN.with_suffix(".dmn")
# Valid code that divides by zero for an 11-digit phone number or an empty comment.
AT_SUBMISSION = (
    "mother_maternity_insurance == True",
    "mother_maternity_insurance == True and 1 // (len(str(applicant_phone)) - 11) == 0",
)
AT_DECISION = (
    "decision_police_birth_registration == 'correction'",
    "decision_police_birth_registration == 'correction' or "
    "1 // len(str(comment_police_birth_registration or '')) == 0",
)


def _deploy(rt, user_of, old: str, new: str) -> None:
    content = NEWBORN.read_text(encoding="utf-8")
    assert content.count(old) == 1
    with Session(rt.db) as session:
        processes.deploy(
            session,
            rt,
            matter_code="newborn",
            content=content.replace(old, new).encode(),
            decisions=((DECISIONS.name, DECISIONS.read_bytes()),),
            author=user_of("admin"),
            comment="a condition that breaks on some data",
        )
        session.commit()


def _bearer(client: TestClient, username: str) -> dict[str, str]:
    login = client.post("/api/v1/login", json={"username": username, "password": DEMO_PASSWORD})
    return {"Authorization": f"Bearer {login.json()['token']}"}


def test_a_condition_failing_at_submission_fails_it_with_an_incident(app, rt, user_of, browser):
    _deploy(rt, user_of, *AT_SUBMISSION)
    body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
    with TestClient(app) as client:
        failed = client.post("/api/v1/cases", json=body, headers=_bearer(client, MOTHER))
    assert failed.status_code == 503
    assert "已记录故障" in failed.json()["detail"] and "Incident" in failed.json()["detail_en"]
    with Session(rt.db) as session:
        assert session.exec(select(func.count()).select_from(Case)).one() == 0
        assert session.exec(select(func.count()).select_from(ProcessInstance)).one() == 0
        [incident] = session.exec(select(Incident)).all()
    assert incident.step == "submission" and incident.matter == "newborn"
    assert "ZeroDivisionError" in incident.reason or "division" in incident.reason
    page = browser("admin").get("/admin/incidents").text
    assert f'data-incident="{incident.id}"' in page and incident.element_id in page


def test_a_condition_failing_at_a_decision_fails_that_decision_only(app, rt, user_of):
    _deploy(rt, user_of, *AT_DECISION)
    body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
    with TestClient(app) as client:
        case = client.post("/api/v1/cases", json=body, headers=_bearer(client, MOTHER)).json()
        police = [i for i in case["items"] if i["department"] == "police"][0]
        clerk = _bearer(client, "police01")
        url = f"/api/v1/tasks/{police['id']}/complete"
        failed = client.post(url, json={"decision": "approved"}, headers=clerk)
        assert failed.status_code == 503, failed.text
        # nothing of the decision was kept: the task is still open, and others go on
        with Session(rt.db) as session:
            assert session.get(CaseItem, police["id"]).status == "processing"
            [incident] = session.exec(select(Incident)).all()
        assert incident.step == "decision" and incident.case_item_id == police["id"]
        cdc = [i for i in case["items"] if i["department"] == "cdc"][0]
        done = client.post(
            f"/api/v1/tasks/{cdc['id']}/complete",
            json={"decision": "approved"},
            headers=_bearer(client, "cdc01"),
        )
        assert done.status_code == 200


WARNING_PATH = (
    """<bpmn:sequenceFlow id="Flow_birth_certificate_warning" sourceRef="Timer_birth_certificate_warning" targetRef="Event_birth_certificate_warning"/>
    <bpmn:endEvent id="Event_birth_certificate_warning" name="临近办结时限">
      <bpmn:incoming>Flow_birth_certificate_warning</bpmn:incoming>
    </bpmn:endEvent>""",
    """<bpmn:sequenceFlow id="Flow_birth_certificate_warning" sourceRef="Timer_birth_certificate_warning" targetRef="Script_warning_breaks"/>
    <bpmn:scriptTask id="Script_warning_breaks" name="提醒记录">
      <bpmn:incoming>Flow_birth_certificate_warning</bpmn:incoming>
      <bpmn:outgoing>Flow_warning_recorded</bpmn:outgoing>
      <bpmn:script>reminded = 1 // len(str(comment_health_birth_medical_certificate or ''))</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="Flow_warning_recorded" sourceRef="Script_warning_breaks" targetRef="Event_birth_certificate_warning"/>
    <bpmn:endEvent id="Event_birth_certificate_warning" name="临近办结时限">
      <bpmn:incoming>Flow_warning_recorded</bpmn:incoming>
    </bpmn:endEvent>""",
)
IN_LANE = (
    "<bpmn:flowNodeRef>Event_birth_certificate_warning</bpmn:flowNodeRef>",
    "<bpmn:flowNodeRef>Event_birth_certificate_warning</bpmn:flowNodeRef>"
    "<bpmn:flowNodeRef>Script_warning_breaks</bpmn:flowNodeRef>",
)


def test_a_deadline_timer_failing_in_the_process_becomes_one_incident_not_a_retry(app, rt, user_of):
    body = {"matter": "newborn", "answers": NEWBORN_ANSWERS, "consent": True}
    with TestClient(app) as client:  # a case on the shipped version: its timers work
        assert (
            client.post("/api/v1/cases", json=body, headers=_bearer(client, FATHER)).status_code
            == 201
        )
    content = NEWBORN.read_text(encoding="utf-8")
    for old, new in (WARNING_PATH, IN_LANE):
        assert content.count(old) == 1
        content = content.replace(old, new)
    with Session(rt.db) as session:
        processes.deploy(
            session,
            rt,
            matter_code="newborn",
            content=content.encode(),
            decisions=((DECISIONS.name, DECISIONS.read_bytes()),),
            author=user_of("admin"),
            comment="a reminder script that breaks",
        )
        session.commit()
    with TestClient(app) as client:
        broken = client.post("/api/v1/cases", json=body, headers=_bearer(client, MOTHER)).json()
    clock.advance(timedelta(days=40))
    assert run_deadlines(rt) > 0  # the other case's timers fire
    assert run_deadlines(rt) == 0  # nothing is retried
    with Session(rt.db) as session:
        [incident] = session.exec(select(Incident)).all()
        instance = session.get(Case, broken["id"]).instance_id
        failed = session.exec(select(TimerJob).where(TimerJob.status == "failed")).all()
    assert incident.step == "deadline" and incident.element_id == "Script_warning_breaks"
    assert incident.case_id == broken["id"]
    assert failed and {job.instance_id for job in failed} == {instance}
