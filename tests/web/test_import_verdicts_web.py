"""Importing a process file over the API and the upload page: two verdicts kept apart (can it run
here, does it fit this matter), elements named, a choice among pools, declared encodings."""

from __future__ import annotations

import re
from pathlib import Path

from tests.bpmn_edit import add_item_task
from tests.web.test_process_editor import API, NEWBORN, _admin, _post_json, _versions

NEW_ITEM = "hrss_social_insurance_enrollment"
LEAKS = re.compile(r"Error|Exception|Traceback|0x[0-9a-f]+|<\w+ object|\w+\.\w+\(")
OTHER_POOL = (
    b'<bpmn:participant id="Participant_citizen" name="\xe7\x94\xb3\xe8\xaf\xb7\xe4\xba\xba" '
    b'processRef="Process_citizen"/>'
)
OTHER_PROCESS = (
    b'<bpmn:process id="Process_citizen" isExecutable="false">'
    b'<bpmn:startEvent id="Citizen_start"/><bpmn:task id="Citizen_wait" name="wait"/>'
    b'<bpmn:endEvent id="Citizen_end"/>'
    b'<bpmn:sequenceFlow id="Citizen_f1" sourceRef="Citizen_start" targetRef="Citizen_wait"/>'
    b'<bpmn:sequenceFlow id="Citizen_f2" sourceRef="Citizen_wait" targetRef="Citizen_end"/>'
    b"</bpmn:process>"
)


def _two_pools() -> bytes:
    """The newborn process beside a second, filled pool (as a modeler draws the applicant)."""
    with_pool = re.sub(
        rb"(<bpmn:participant [^>]*/>)", lambda m: m[1] + OTHER_POOL, NEWBORN, count=1
    )
    return with_pool.replace(b"</bpmn:collaboration>", b"</bpmn:collaboration>" + OTHER_PROCESS)


def _wrong_lane() -> bytes:
    return add_item_task(
        NEWBORN,
        item=NEW_ITEM,
        lane="police",
        task_id="Task_wrong_lane",
        fork="Gateway_fanout",
        join="Gateway_fanin",
        name="社保登记",
    )


def test_validate_keeps_runs_and_fits_apart_and_names_elements(browser):
    admin = _admin(browser)
    fine = _post_json(admin, f"{API}/validate", {"xml": NEWBORN.decode()}).json()
    assert fine["ok"] and fine["runs"] == fine["fits"] == [] and fine["fits_checked"]

    misfit = _post_json(admin, f"{API}/validate", {"xml": _wrong_lane().decode()}).json()
    assert misfit["runs"] == []
    [problem] = misfit["fits"]
    assert problem["element_id"] == "Task_wrong_lane" and problem["element_name"] == "社保登记"
    assert "move the task" in problem["message_en"] and problem["message"]
    assert misfit["problems"] == misfit["fits"]

    broken = NEWBORN.replace(b"mother_maternity_insurance == True", b"mother_maternity ==")
    unrunnable = _post_json(admin, f"{API}/validate", {"xml": broken.decode()}).json()
    assert [p["element_id"] for p in unrunnable["runs"]] == ["Flow_has_maternity"]
    assert unrunnable["fits"] == [] and unrunnable["fits_checked"]

    not_xml = _post_json(admin, f"{API}/validate", {"xml": "<definitions><process>"}).json()
    assert not not_xml["fits_checked"] and len(not_xml["runs"]) == 1
    for problem in not_xml["runs"] + unrunnable["runs"]:
        assert not LEAKS.search(problem["message"] + problem["message_en"]), problem


def test_a_file_with_two_filled_pools_asks_which_process_then_deploys_it(browser, rt):
    admin = _admin(browser)
    asked = _post_json(admin, f"{API}/validate", {"xml": _two_pools().decode()}).json()
    assert asked["ok"] is False and not asked["fits_checked"]
    assert {(c["process_id"], c["participant"]) for c in asked["processes"]} == {
        ("newborn", "新生儿出生一件事"),
        ("Process_citizen", "申请人"),
    }
    chosen = _post_json(
        admin, f"{API}/validate", {"xml": _two_pools().decode(), "process_id": "newborn"}
    ).json()
    assert chosen["ok"], chosen
    assert any("Process_citizen" in n["message_en"] for n in chosen["notes"])
    bad_choice = _post_json(
        admin, f"{API}/validate", {"xml": NEWBORN.decode(), "process_id": "no such id!"}
    )
    assert bad_choice.status_code == 422

    refused = _post_json(admin, f"{API}/deploy", {"xml": _two_pools().decode()})
    assert refused.status_code == 422 and refused.json()["processes"]
    deployed = _post_json(
        admin, f"{API}/deploy", {"xml": _two_pools().decode(), "process_id": "newborn"}
    )
    assert deployed.status_code == 201, deployed.text[:500]
    assert b"Process_citizen" not in admin.client.get(f"{API}/bpmn").content
    assert _versions(rt) == 1


def test_the_upload_page_shows_both_verdicts_and_offers_the_pools(browser, rt):
    admin = _admin(browser)
    admin.get("/admin/processes/newborn/versions")
    misfit = admin.client.post(
        "/admin/processes/newborn/upload",
        data={"csrf_token": admin.csrf},
        files={"file": ("misfit.bpmn", _wrong_lane(), "application/xml")},
    )
    assert misfit.status_code == 422
    assert "能否在本系统运行" in misfit.text and "是否符合本事项" in misfit.text
    fits = misfit.text.split('id="verdict-fits-title"')[1]
    assert 'data-element-id="Task_wrong_lane"' in fits and "社保登记" in fits

    asked = admin.client.post(
        "/admin/processes/newborn/upload",
        data={"csrf_token": admin.csrf},
        files={"file": ("pools.bpmn", _two_pools(), "application/xml")},
    )
    assert asked.status_code == 422
    choice = asked.text.split('id="process-choice"')[1].split("</fieldset>")[0]
    assert re.findall(r'type="radio" name="process_id" id="process-\d" value="(\w+)"', choice) == [
        "Process_citizen",
        "newborn",
    ]
    assert "申请人" in choice and "新生儿出生一件事" in choice
    uploaded = admin.client.post(
        "/admin/processes/newborn/upload",
        data={"csrf_token": admin.csrf, "process_id": "newborn"},
        files={"file": ("pools.bpmn", _two_pools(), "application/xml")},
    )
    assert uploaded.status_code == 303, uploaded.text[:500]
    assert _versions(rt) == 1


def test_a_gbk_file_is_read_as_declared_by_upload_and_by_json(browser, rt):
    admin = _admin(browser)
    text = NEWBORN.decode().replace("encoding='UTF-8'", "encoding='GBK'", 1)
    assert "encoding='GBK'" in text
    gbk = text.encode("gbk")
    uploaded = admin.client.post(
        f"{API}/upload",
        data={"comment": "GBK"},
        files={"file": ("gbk.bpmn", gbk, "application/xml")},
        headers={"X-CSRF-Token": admin.csrf},
    )
    assert uploaded.status_code == 201, uploaded.text[:500]
    stored = admin.client.get(f"{API}/bpmn").content
    assert stored.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert "新生儿出生一件事" in stored.decode()
    checked = _post_json(admin, f"{API}/validate", {"xml": text}).json()
    assert checked["ok"], checked
    assert _versions(rt) == 1


def test_the_openapi_document_describes_the_verdicts():
    document = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
    text = document.read_text()
    assert '"ProcessChoicePublic"' in text and '"fits_checked"' in text
    assert "Can it run here" in text and "Does it fit this matter" in text
