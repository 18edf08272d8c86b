"""The editor imports a local file in the encoding it declares and shows the check's two verdicts
apart (can it run here, does it fit this matter), each problem with its element's id and name."""

from __future__ import annotations

import pytest

from tests.browser.test_editor_browser import open_editor
from tests.browser.test_newborn_browser import chromium, server  # noqa: F401
from tests.web.test_import_verdicts_web import _two_pools
from tests.web.test_process_editor import NEWBORN

pytestmark = pytest.mark.browser


def test_a_gbk_file_is_imported_and_its_misfit_shown_under_its_verdict(chromium, server):  # noqa: F811
    admin = open_editor(chromium, server)
    # the vaccination certificate's task bound to the police's item: it runs, but does not fit
    text = NEWBORN.decode().replace(
        '<spiffworkflow:property name="item" value="cdc_vaccination_certificate"/>',
        '<spiffworkflow:property name="item" value="police_birth_registration"/>',
        1,
    )
    declared = text.replace("encoding='UTF-8'", "encoding='GBK'", 1)
    assert declared != text and "police_birth_registration" in declared
    admin.set_input_files(
        "#import-file",
        files=[
            {"name": "gbk.bpmn", "mimeType": "application/xml", "buffer": declared.encode("gbk")}
        ],
    )
    admin.wait_for_selector("#status:has-text('gbk.bpmn')")  # imported
    name = admin.evaluate(
        "() => window.onethingEditor.modeler.get('elementRegistry')"
        ".get('Task_vaccination_certificate').businessObject.name"
    )
    assert name == "预防接种证"  # read as GBK, not as UTF-8

    admin.click("#validate")
    admin.wait_for_selector("#status.error")
    assert admin.inner_text("#verdict-runs-title") == "能否在本系统运行"
    assert admin.inner_text("#verdict-fits-title") == "是否符合本事项"
    assert admin.locator("#verdict-runs li").count() == 0
    problem = admin.locator(
        "#verdict-fits li.problem[data-element-id=Task_vaccination_certificate]"
    )
    assert "预防接种证" in problem.inner_text() and "police" in problem.inner_text()
    marked = "#canvas .djs-element.onething-problem[data-element-id=Task_vaccination_certificate]"
    assert admin.locator(marked).count() == 1


def test_a_file_with_two_filled_pools_asks_which_process_to_use(chromium, server):  # noqa: F811
    admin = open_editor(chromium, server)
    admin.set_input_files(
        "#import-file",
        files=[{"name": "pools.bpmn", "mimeType": "application/xml", "buffer": _two_pools()}],
    )
    admin.wait_for_selector("#status:has-text('pools.bpmn')")
    admin.click("#validate")
    admin.wait_for_selector("#process-choice")
    labels = admin.locator("#process-choice label").all_inner_texts()
    assert any("申请人" in label for label in labels), labels
    admin.check("#process-choice input[value=newborn]")  # checked again with the choice
    admin.wait_for_selector("#status.ok")
    notes = admin.inner_text("#verdict-notes")
    assert "Process_citizen" in notes
