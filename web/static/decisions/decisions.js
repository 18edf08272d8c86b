// The decision-table page: the dmn-js modeler shows the decision's table for editing; the
// page's form (which works without script) carries the table's XML, so before the form is sent
// the modeler's XML is written into it. Checking and deploying stay on the server.
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("decision-config").textContent);
  const zh = config.lang !== "en";
  const t = (chinese, english) => (zh ? chinese : english);
  const form = document.getElementById("decision-form");
  const source = document.getElementById("dmn-xml");
  const canvas = document.getElementById("dmn-canvas");
  let modeler = null;
  let sending = false;

  function status(text) {
    let line = document.getElementById("dmn-status");
    if (!line) {
      line = document.createElement("p");
      line.id = "dmn-status";
      line.setAttribute("role", "status");
      canvas.before(line);
    }
    line.textContent = text;
  }

  async function openTable() {
    modeler = new window.DmnJS({ container: canvas });
    try {
      await modeler.importXML(source.value);
    } catch (error) {
      modeler = null;
      canvas.hidden = true;
      document.getElementById("xml-details").open = true;
      status(t("决策表无法在编辑器中显示，请直接编辑下方的 DMN 源文件。",
               "The table cannot be shown in the editor: edit the DMN source below."));
      return;
    }
    const view = modeler.getViews().find(
      (v) => v.type === "decisionTable" && v.element.id === config.decision);
    if (view) await modeler.open(view);
    canvas.dataset.ready = "1";
  }

  // Another empty row for one more case (the last row is always a blank one).
  function addRow() {
    const body = document.querySelector("#cases tbody");
    const blank = body.querySelector("tr.blank");
    const next = Number(blank.dataset.case) + 1;
    const row = blank.cloneNode(true);
    row.dataset.case = String(next);
    for (const input of row.querySelectorAll("input")) {
      input.name = input.name.replace(/^case_\d+_/, `case_${next}_`);
      input.value = "";
    }
    blank.classList.remove("blank");
    body.append(row);
    row.querySelector("input").focus();
  }

  const add = document.createElement("button");
  add.type = "button";
  add.className = "secondary";
  add.id = "add-case";
  add.textContent = t("添加一行用例", "Add a case row");
  add.addEventListener("click", addRow);
  document.getElementById("cases").after(add);

  form.addEventListener("submit", async (event) => {
    if (sending || !modeler) return;
    event.preventDefault();
    const action = document.createElement("input");
    action.type = "hidden";
    action.name = "action";
    action.value = (event.submitter && event.submitter.value) || "run";
    try {
      const { xml } = await modeler.saveXML({ format: true });
      source.value = xml;
    } catch (error) {
      status(t("无法读取编辑器中的决策表", "The table in the editor could not be read"));
      return;
    }
    for (const button of form.querySelectorAll("button[name=action]")) button.name = "";
    form.append(action);
    sending = true;
    form.submit();
  });

  openTable();
})();
