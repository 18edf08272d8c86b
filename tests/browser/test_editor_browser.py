"""The process editor in a real browser: an administrator adds a department's item to the
newborn matter with bpmn-js and the properties panel, checks and deploys it; a new case follows
the new version (its form asks the new item's facts) while a case started before finishes on the
old one; a condition that tries to escape the sandbox is refused and marked on the diagram."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from sqlmodel import Session, select

from engine.layout import BPMNDI
from services.accounts.models import User
from services.cases import decisions
from services.cases.models import Case, CaseItem
from tests.browser.test_lifecycle_browser import apply_newborn
from tests.browser.test_newborn_browser import chromium, server, sign_in  # noqa: F401
from tests.web.conftest import FATHER

pytestmark = pytest.mark.browser

NEW_ITEM = "hrss_social_insurance_enrollment"
BPMN_DIR = Path(__file__).resolve().parents[2] / "bpmn"

# What an administrator does with the mouse, through the modeler's own API: a user task in the
# hrss lane on a new parallel branch between the fan-out and the fan-in gateways.
ADD_TASK = """() => {
  const modeler = window.onethingEditor.modeler;
  const registry = modeler.get("elementRegistry");
  const modeling = modeler.get("modeling");
  const lane = registry.get("Lane_hrss");
  const shape = modeler.get("elementFactory").createShape({ type: "bpmn:UserTask" });
  const task = modeling.createShape(
    shape, { x: lane.x + lane.width - 120, y: lane.y + lane.height / 2 }, lane
  );
  modeling.connect(registry.get("Gateway_fanout"), task);
  modeling.connect(task, registry.get("Gateway_fanin"));
  modeler.get("selection").select(task);
  modeler.get("canvas").scrollToElement(task); // in view, as where the mouse put it
  return task.id;
}"""


def approve_all(rt, case_id: int) -> None:
    """Each department's clerk approves the case's open items (as the workbench would)."""
    for _ in range(10):  # an approval may open the next item
        with Session(rt.db) as session:
            rows = session.exec(
                select(CaseItem).where(CaseItem.case_id == case_id, CaseItem.status == "processing")
            ).all()
            if not rows:
                return
            for row in rows:
                department = rt.catalog.items[row.item_code].department
                clerk = session.exec(select(User).where(User.username == f"{department}01")).one()
                decisions.decide(session, rt, user=clerk, item_id=row.id, decision="approved")


def open_editor(chromium, base):  # noqa: F811
    admin = sign_in(chromium, base, "admin")
    admin.goto(f"{base}/admin/processes/newborn")
    admin.wait_for_function("window.onethingEditor && window.onethingEditor.modeler")
    admin.evaluate("() => window.onethingEditor.ready")
    admin.wait_for_selector("#canvas .djs-element[data-element-id=Gateway_fanout]")
    return admin


def test_add_an_item_deploy_and_old_cases_finish_on_their_version(chromium, server, rt):  # noqa: F811
    _, old_number = apply_newborn(chromium, server)

    admin = open_editor(chromium, server)
    task_id = admin.evaluate(ADD_TASK)
    # The panel offers the items of the lane's department; the new one is marked as new
    admin.wait_for_selector("#prop-item")
    options = admin.locator("#prop-item option").all_inner_texts()
    assert any("社会保险参保登记" in o for o in options), options
    assert not any("出生登记" in o for o in options), "only hrss items belong in the hrss lane"
    admin.fill("#prop-name", "社会保险参保登记")
    admin.press("#prop-name", "Tab")
    admin.select_option("#prop-item", NEW_ITEM)

    admin.click("#validate")
    admin.wait_for_selector("#status.ok")
    assert admin.locator("#problems li.problem").count() == 0
    admin.fill("#deploy-comment", "增加社会保险参保登记")
    admin.click("#deploy")
    admin.wait_for_selector("#status[data-version='1']")
    assert "v1" in admin.inner_text("#status")

    exported = admin.evaluate("() => window.onethingEditor.currentXml()")
    assert f'value="{NEW_ITEM}"' in exported and f'id="{task_id}"' in exported

    # A new case: the form now asks the employer facts the new item needs, and routes it
    citizen = sign_in(chromium, server, FATHER)
    citizen.goto(f"{server}/matters/newborn/apply")
    citizen.click("#consent")
    citizen.wait_for_selector("#f_employer_name")
    citizen.select_option("#f_household_parent", "father")
    citizen.select_option("#f_delivery_method", "online")
    for key, value in {
        "child_name": "张小满",
        "applicant_phone": "13912345678",
        "employer_name": "上海示例科技有限公司",
        "employer_uscc": "91310000MA1FL8LX26",
        "employment_start_date": "2024-03-01",
    }.items():
        citizen.fill(f"#f_{key}", value)
    citizen.click("#submit")
    citizen.wait_for_selector("#case-number, .notice.error")
    assert citizen.locator(".notice.error").count() == 0, citizen.inner_text("main")
    new_number = citizen.inner_text("#case-number")
    assert citizen.locator(f"tr[data-item={NEW_ITEM}]").count() == 1

    with Session(rt.db) as session:
        old = session.exec(select(Case).where(Case.number == old_number)).one()
        new = session.exec(select(Case).where(Case.number == new_number)).one()
        items = {
            case.id: set(
                session.exec(select(CaseItem.item_code).where(CaseItem.case_id == case.id)).all()
            )
            for case in (old, new)
        }
    assert NEW_ITEM in items[new.id] and NEW_ITEM not in items[old.id]

    approve_all(rt, old.id)
    approve_all(rt, new.id)
    with Session(rt.db) as session:
        for case_id in (old.id, new.id):
            case = session.get(Case, case_id)
            assert (case.status, case.outcome) == ("completed", "approved"), case.number


def test_a_malicious_condition_is_refused_and_marked(chromium, server):  # noqa: F811
    admin = open_editor(chromium, server)
    admin.evaluate(
        """() => {
          const modeler = window.onethingEditor.modeler;
          const flow = modeler.get("elementRegistry").get("Flow_birth_certificate_correction");
          modeler.get("selection").select(flow);
        }"""
    )
    admin.wait_for_selector("#prop-condition")
    admin.fill("#prop-condition", "__import__('os').system('id') or True")
    admin.press("#prop-condition", "Tab")
    admin.click("#deploy")
    admin.wait_for_selector("#status.error")
    problem = admin.locator("#problems li[data-element-id=Flow_birth_certificate_correction]")
    assert problem.count() >= 1
    marked = (
        "#canvas .djs-element.onething-problem[data-element-id=Flow_birth_certificate_correction]"
    )
    assert admin.locator(marked).count() == 1
    assert admin.locator("#status").get_attribute("data-version") is None


def _overlap(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def test_lanes_show_department_names_and_the_palette_leaves_the_start_event_clear(
    chromium,  # noqa: F811
    server,  # noqa: F811
):
    admin = open_editor(chromium, server)
    lane = admin.locator("#canvas .djs-element[data-element-id=Lane_hrss] .djs-visual text")
    assert lane.text_content() == "人力资源和社会保障局"
    canvas = admin.locator("#canvas").bounding_box()
    palette = admin.locator("#canvas .djs-palette").bounding_box()
    start = admin.locator("#canvas .djs-element[data-element-id=Event_applied]").bounding_box()
    assert not _overlap(palette, start), (palette, start)
    assert (
        canvas["x"] <= start["x"] and start["x"] + start["width"] <= canvas["x"] + canvas["width"]
    )
    assert (
        canvas["y"] <= start["y"] and start["y"] + start["height"] <= canvas["y"] + canvas["height"]
    )

    # The lane's panel names the department; choosing another binds the lane to its code and
    # shows its name
    admin.evaluate(
        """() => {
          const modeler = window.onethingEditor.modeler;
          modeler.get("selection").select(modeler.get("elementRegistry").get("Lane_hrss"));
        }"""
    )
    admin.wait_for_selector("#prop-department")
    assert admin.input_value("#prop-department") == "hrss"
    admin.select_option("#prop-department", "cdc")
    assert lane.text_content() == "疾病预防控制中心"
    exported = admin.evaluate("() => window.onethingEditor.currentXml()")
    start_of_lane = exported.index('id="Lane_hrss"')
    lane_xml = exported[start_of_lane : exported.index("</bpmn:lane>", start_of_lane)]
    assert 'name="疾病预防控制中心"' in lane_xml and 'value="cdc"' in lane_xml
    assert 'value="hrss"' not in lane_xml


def test_a_file_without_a_diagram_opens_laid_out_with_its_lanes(chromium, server, tmp_path):  # noqa: F811
    root = etree.fromstring((BPMN_DIR / "newborn.bpmn").read_bytes())
    for diagram in root.findall(f"{{{BPMNDI}}}BPMNDiagram"):
        root.remove(diagram)
    root.find(".//{*}participant").set("name", "生成器写的流程")
    bare = tmp_path / "generated.bpmn"
    bare.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))

    admin = open_editor(chromium, server)
    admin.set_input_files("#import-file", str(bare))
    admin.wait_for_function(
        "() => document.querySelector('#status').textContent.includes('generated.bpmn')"
    )
    assert "error" not in (admin.get_attribute("#status", "class") or "")
    pool = admin.locator("#canvas .djs-element[data-element-id=Participant_newborn] .djs-visual")
    assert pool.text_content() == "生成器写的流程"
    for element in ("Lane_applicant", "Task_birth_certificate", "Flow_end"):
        assert admin.locator(f"#canvas .djs-element[data-element-id={element}]").count() == 1
    lane = admin.locator("#canvas .djs-element[data-element-id=Lane_police] .djs-visual text")
    assert lane.text_content() == "公安局"
    exported = admin.evaluate("() => window.onethingEditor.currentXml()")
    assert 'bpmnElement="Task_birth_certificate"' in exported
