// The process editor: the bpmn-js modeler (served from node_modules by the app, no CDN) with a
// properties panel for what OneThing reads from a process: lane -> department, user task ->
// service item, flow conditions and default flows, timers, business rule decisions. Check and
// deploy go to the server, which answers with problems by element id; those are marked on the
// diagram and listed below it.
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("editor-config").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const zh = config.lang !== "en";
  const t = (chinese, english) => (zh ? chinese : english);
  const byId = (id) => document.getElementById(id);

  const departments = new Map(config.departments.map((d) => [d.code, d]));
  const items = new Map(config.items.map((i) => [i.code, i]));
  const APPLICANT = "applicant"; // the lane of the applicant's correction tasks
  const APPLICANT_NAME = "申请人（补正）"; // the name it shows, as the shipped diagrams write it

  let modeler;
  let moddle;
  let dirty = false;
  let marked = [];

  function status(text, kind) {
    const line = byId("status");
    line.textContent = text;
    line.className = kind || "";
  }

  // ------------------------------------------------------------------ moddle helpers

  function spiffProperties(bo) {
    const values = (bo.extensionElements && bo.extensionElements.values) || [];
    return values.find((v) => v.$type === "spiffworkflow:Properties");
  }

  function spiffProperty(bo, name) {
    const found = spiffProperties(bo);
    const property = found && (found.properties || []).find((p) => p.name === name);
    return property ? property.value || "" : "";
  }

  function extensionsOf(bo) {
    const existing = bo.extensionElements;
    if (existing) return existing;
    const created = moddle.create("bpmn:ExtensionElements", { values: [] });
    created.$parent = bo;
    return created;
  }

  function setSpiffProperty(element, name, value) {
    const bo = element.businessObject;
    const extensions = extensionsOf(bo);
    extensions.values = extensions.values || [];
    let properties = spiffProperties(bo);
    if (!properties) {
      properties = moddle.create("spiffworkflow:Properties", { properties: [] });
      properties.$parent = extensions;
      extensions.values.push(properties);
    }
    properties.properties = properties.properties || [];
    const index = properties.properties.findIndex((p) => p.name === name);
    if (!value) {
      if (index >= 0) properties.properties.splice(index, 1);
    } else if (index >= 0) {
      properties.properties[index].value = value;
    } else {
      const property = moddle.create("spiffworkflow:Property", { name, value });
      property.$parent = properties;
      properties.properties.push(property);
    }
    modeler.get("modeling").updateProperties(element, { extensionElements: extensions });
  }

  function decisionOf(bo) {
    const values = (bo.extensionElements && bo.extensionElements.values) || [];
    const found = values.find((v) => v.$type === "spiffworkflow:CalledDecisionId");
    return found ? found.value || "" : "";
  }

  function setDecision(element, decision) {
    const bo = element.businessObject;
    const extensions = extensionsOf(bo);
    extensions.values = (extensions.values || []).filter(
      (v) => v.$type !== "spiffworkflow:CalledDecisionId"
    );
    if (decision) {
      const called = moddle.create("spiffworkflow:CalledDecisionId", { value: decision });
      called.$parent = extensions;
      extensions.values.unshift(called);
    }
    modeler.get("modeling").updateProperties(element, { extensionElements: extensions });
  }

  // A lane's department code: its `department` property; a lane without it (drawn before
  // lanes were named, or in another modeler) is its own code, as the engine reads it.
  function laneCode(laneBo) {
    return spiffProperty(laneBo, "department") || laneBo.name || "";
  }

  function laneOf(element) {
    const bo = element.businessObject;
    const lanes = modeler.get("elementRegistry").filter((e) => e.type === "bpmn:Lane");
    const lane = lanes.find((l) => (l.businessObject.flowNodeRef || []).includes(bo));
    return lane ? laneCode(lane.businessObject) : "";
  }

  // Bind a lane to a department: the code goes in its property, the department's name (as the
  // catalog writes it) is what the diagram shows.
  function bindLane(element, code) {
    setSpiffProperty(element, "department", code);
    const name = code === APPLICANT ? APPLICANT_NAME : departments.has(code) ? departments.get(code).name : "";
    if (name) modeler.get("modeling").updateLabel(element, name);
  }

  function timerOf(bo) {
    return (bo.eventDefinitions || []).find((d) => d.$type === "bpmn:TimerEventDefinition");
  }

  // ------------------------------------------------------------------ the properties panel

  function field(labelText, control, hint) {
    const wrap = document.createElement("div");
    wrap.className = "field";
    const label = document.createElement("label");
    label.textContent = labelText;
    label.htmlFor = control.id;
    wrap.append(label, control);
    if (hint) {
      const p = document.createElement("p");
      p.className = "hint";
      p.textContent = hint;
      wrap.append(p);
    }
    return wrap;
  }

  function select(id, options, value, onChange) {
    const control = document.createElement("select");
    control.id = id;
    for (const [code, text] of options) {
      const option = document.createElement("option");
      option.value = code;
      option.textContent = text;
      control.append(option);
    }
    if (value && !options.some(([code]) => code === value)) {
      const unknown = document.createElement("option");
      unknown.value = value;
      unknown.textContent = `${value}（${t("未知", "unknown")}）`;
      control.append(unknown);
    }
    control.value = value || "";
    control.addEventListener("change", () => onChange(control.value));
    return control;
  }

  function text(id, value, onChange, multiline) {
    const control = document.createElement(multiline ? "textarea" : "input");
    control.id = id;
    if (!multiline) control.type = "text";
    else control.rows = 3;
    control.value = value || "";
    control.spellcheck = false;
    control.addEventListener("change", () => onChange(control.value.trim()));
    return control;
  }

  const departmentName = (code) => {
    const d = departments.get(code);
    return d ? (zh ? d.name : d.name_en) : code;
  };
  const itemName = (code) => {
    const i = items.get(code);
    return i ? (zh ? i.name : i.name_en) : code;
  };

  function renderPanel(element) {
    const panel = byId("properties");
    panel.replaceChildren();
    if (!element || element.type === "label") {
      const hint = document.createElement("p");
      hint.className = "hint";
      hint.textContent = t("选择流程图中的元素以编辑其属性。", "Select an element of the diagram to edit its properties.");
      panel.append(hint);
      return;
    }
    const bo = element.businessObject;
    const modeling = modeler.get("modeling");
    const title = document.createElement("h2");
    title.textContent = `${bo.$type.replace("bpmn:", "")} · ${bo.id}`;
    panel.append(title);
    panel.dataset.elementId = bo.id;

    if (element.type !== "bpmn:Process" && element.type !== "bpmn:Collaboration") {
      panel.append(
        field(t("名称", "Name"), text("prop-name", bo.name, (v) => modeling.updateLabel(element, v)))
      );
    }

    if (element.type === "bpmn:Lane") {
      const options = [["", t("（请选择部门）", "(choose a department)")]];
      for (const d of config.departments) options.push([d.code, zh ? d.name : d.name_en]);
      options.push([APPLICANT, t("申请人（补正）", "Applicant (corrections)")]);
      panel.append(
        field(
          t("部门", "Department"),
          select("prop-department", options, laneCode(bo), (v) => bindLane(element, v)),
          t("泳道即部门：泳道中的任务进入该部门窗口人员的待办。", "A lane is a department: its tasks go to that department's clerks.")
        )
      );
    }

    if (element.type === "bpmn:UserTask" || element.type === "bpmn:BusinessRuleTask") {
      const lane = laneOf(element);
      const kind = spiffProperty(bo, "kind");
      const candidates = config.items.filter((i) =>
        lane && lane !== APPLICANT ? i.department === lane : lane === APPLICANT ? i.in_matter : true
      );
      const options = [["", t("（请选择事项）", "(choose an item)")]];
      for (const i of candidates) {
        const mark = i.in_matter ? "" : t(" · 新增", " · new");
        options.push([i.code, `${zh ? i.name : i.name_en} · ${departmentName(i.department)}${mark}`]);
      }
      panel.append(
        field(
          t("办理事项", "Service item"),
          select("prop-item", options, spiffProperty(bo, "item"), (v) => setSpiffProperty(element, "item", v)),
          lane
            ? t(`所在泳道：${departmentName(lane)}`, `In the lane of: ${departmentName(lane)}`)
            : t("任务不在任何泳道中：请拖入部门泳道。", "The task is in no lane: move it into a department's lane.")
        )
      );
      if (element.type === "bpmn:UserTask") {
        panel.append(
          field(
            t("任务类型", "Task kind"),
            select(
              "prop-kind",
              [["", t("部门审批", "Department decision")], ["correction", t("申请人补正", "Applicant correction")]],
              kind,
              (v) => setSpiffProperty(element, "kind", v)
            )
          )
        );
      }
    }

    if (element.type === "bpmn:BusinessRuleTask") {
      const options = [["", t("（请选择决策表）", "(choose a decision table)")]];
      for (const d of config.decisions) options.push([d, d]);
      panel.append(
        field(
          t("决策表（DMN）", "Decision table (DMN)"),
          select("prop-decision", options, decisionOf(bo), (v) => setDecision(element, v))
        )
      );
    }

    if (element.type === "bpmn:SequenceFlow") {
      const expression = bo.conditionExpression ? bo.conditionExpression.body || "" : "";
      panel.append(
        field(
          t("条件（Python 表达式）", "Condition (Python expression)"),
          text(
            "prop-condition",
            expression,
            (v) =>
              modeling.updateProperties(element, {
                conditionExpression: v ? moddle.create("bpmn:FormalExpression", { body: v }) : undefined,
              }),
            true
          ),
          t("例如 decision_police_birth_registration == 'correction'；发布前在沙箱中检查。", "e.g. decision_police_birth_registration == 'correction'; checked in the sandbox before deploy.")
        )
      );
      const source = element.source;
      if (source && /Gateway$/.test(source.type)) {
        const box = document.createElement("input");
        box.type = "checkbox";
        box.id = "prop-default";
        box.checked = source.businessObject.default === bo;
        box.addEventListener("change", () =>
          modeling.updateProperties(source, { default: box.checked ? bo : undefined })
        );
        panel.append(field(t("默认路径（其他条件都不满足时）", "Default path (when no other condition holds)"), box));
      }
    }

    const timer = timerOf(bo);
    if (timer) {
      const kinds = ["timeDate", "timeDuration", "timeCycle"];
      const current = kinds.find((k) => timer[k]) || "timeDate";
      const value = timer[current] ? timer[current].body || "" : "";
      let chosen = current;
      const expression = text("prop-timer", value, (v) => saveTimer(v));
      function saveTimer(v) {
        const props = { timeDate: undefined, timeDuration: undefined, timeCycle: undefined };
        if (v) props[chosen] = moddle.create("bpmn:FormalExpression", { body: v });
        modeling.updateModdleProperties(element, timer, props);
      }
      panel.append(
        field(
          t("定时器类型", "Timer type"),
          select(
            "prop-timer-kind",
            [["timeDate", t("到期时间", "Date")], ["timeDuration", t("持续时间", "Duration")], ["timeCycle", t("循环", "Cycle")]],
            current,
            (k) => { chosen = k; saveTimer(expression.value.trim()); }
          )
        ),
        field(
          t("定时器表达式", "Timer expression"),
          expression,
          t("例如 due_in_working_days(time_limits['police_birth_registration'])，或 'P3D'", "e.g. due_in_working_days(time_limits['police_birth_registration']), or 'P3D'")
        )
      );
      const deadline = spiffProperty(bo, "deadline");
      panel.append(
        field(
          t("时限提醒", "Deadline signal"),
          select(
            "prop-deadline",
            [["", t("无", "None")], ["warning", t("即将到期预警", "Warning")], ["overdue", t("超期", "Overdue")]],
            deadline,
            (v) => setSpiffProperty(element, "deadline", v)
          )
        )
      );
    }
  }

  // ------------------------------------------------------------------ problems

  function clearMarkers() {
    const canvas = modeler.get("canvas");
    for (const id of marked) canvas.removeMarker(id, "onething-problem");
    marked = [];
  }

  function showProblems(problems, notes) {
    clearMarkers();
    const list = byId("problems");
    list.replaceChildren();
    const registry = modeler.get("elementRegistry");
    const canvas = modeler.get("canvas");
    const entries = problems.map((p) => [p, "problem"]).concat((notes || []).map((n) => [n, "note"]));
    for (const [problem, kind] of entries) {
      const li = document.createElement("li");
      li.className = kind;
      const message = zh ? problem.message : problem.message_en || problem.message;
      if (problem.element_id) {
        li.dataset.elementId = problem.element_id;
        const element = registry.get(problem.element_id);
        const link = document.createElement("button");
        link.type = "button";
        link.className = "link";
        link.textContent = problem.element_id;
        link.addEventListener("click", () => {
          const target = registry.get(problem.element_id);
          if (!target) return;
          modeler.get("selection").select(target);
          canvas.scrollToElement(target);
        });
        li.append(link, document.createTextNode(`：${message}`));
        if (element && kind === "problem" && !marked.includes(problem.element_id)) {
          canvas.addMarker(problem.element_id, "onething-problem");
          marked.push(problem.element_id);
        }
      } else {
        li.textContent = message;
      }
      list.append(li);
    }
  }

  // ------------------------------------------------------------------ server calls

  async function currentXml() {
    const { xml } = await modeler.saveXML({ format: true });
    return xml;
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
    let data = {};
    try {
      data = await response.json();
    } catch (e) {
      data = { detail: response.statusText };
    }
    return { response, data };
  }

  function errorText(data) {
    if (typeof data.detail === "string") return zh ? data.detail : data.detail_en || data.detail;
    return t("请求无效", "Invalid request");
  }

  async function validate() {
    status(t("正在校验……", "Checking…"));
    const { response, data } = await post(config.urls.validate, { xml: await currentXml() });
    if (!response.ok) {
      status(errorText(data), "error");
      showProblems(data.problems || [], []);
      return false;
    }
    showProblems(data.problems, data.notes);
    if (data.ok) status(t("校验通过，可以发布。", "No problems: ready to deploy."), "ok");
    else status(t(`发现 ${data.problems.length} 个问题，已在图中标出。`, `${data.problems.length} problem(s), marked on the diagram.`), "error");
    return data.ok;
  }

  async function deploy() {
    const comment = byId("deploy-comment").value.trim();
    status(t("正在发布……", "Deploying…"));
    const { response, data } = await post(config.urls.deploy, { xml: await currentXml(), comment });
    if (response.status === 201) {
      dirty = false;
      showProblems([], []);
      status(
        t(`已发布 v${data.version}：新办件使用此版本，在办件按原版本办结。`, `Deployed v${data.version}: new cases use it, running cases finish on their own version.`),
        "ok"
      );
      byId("status").dataset.version = data.version;
      return data;
    }
    showProblems(data.problems || [], []);
    status(errorText(data), "error");
    return null;
  }

  // The whole diagram in view, clear of the palette that floats over the canvas's left edge (a
  // plain fit-viewport puts the start event under it).
  function fitBesidePalette() {
    const canvas = modeler.get("canvas");
    canvas.zoom("fit-viewport");
    const container = byId("canvas").getBoundingClientRect();
    const palette = byId("canvas").querySelector(".djs-palette");
    const reserved = palette ? palette.getBoundingClientRect().right - container.left : 0;
    const inner = canvas.viewbox().inner;
    if (!inner.width || !inner.height) return;
    const margin = 16;
    const left = reserved + margin;
    const scale = Math.min(
      (container.width - left - margin) / inner.width,
      (container.height - 2 * margin) / inner.height,
      1
    );
    canvas.viewbox({
      x: inner.x - left / scale,
      y: inner.y - margin / scale,
      width: container.width / scale,
      height: container.height / scale,
    });
  }

  async function importXml(xml) {
    const result = await modeler.importXML(xml);
    fitBesidePalette();
    clearMarkers();
    renderPanel(null);
    if (result.warnings && result.warnings.length) {
      status(t(`已载入，有 ${result.warnings.length} 条导入提示。`, `Loaded with ${result.warnings.length} import warning(s).`));
    }
    return result;
  }

  function exportXml() {
    currentXml().then((xml) => {
      const blob = new Blob([xml], { type: "application/xml" });
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = `${config.matter}.bpmn`;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    });
  }

  // ------------------------------------------------------------------ start

  async function start() {
    const descriptor = await (await fetch("/static/editor/spiffworkflow-moddle.json")).json();
    modeler = new window.BpmnJS({
      container: "#canvas",
      moddleExtensions: { spiffworkflow: descriptor },
    });
    moddle = modeler.get("moddle");
    const events = modeler.get("eventBus");
    let selected = null;
    events.on("selection.changed", (event) => {
      selected = event.newSelection.length === 1 ? event.newSelection[0] : null;
      renderPanel(selected);
    });
    events.on("elements.changed", (event) => {
      if (selected && event.elements.includes(selected) && !byId("properties").contains(document.activeElement)) {
        renderPanel(selected);
      }
    });
    events.on("commandStack.changed", () => {
      dirty = true;
    });
    window.addEventListener("beforeunload", (event) => {
      if (dirty) event.preventDefault();
    });

    byId("validate").addEventListener("click", () => validate().catch(failed));
    byId("deploy").addEventListener("click", () => deploy().catch(failed));
    byId("export").addEventListener("click", exportXml);
    byId("import-file").addEventListener("change", async (event) => {
      const file = event.target.files[0];
      if (!file) return;
      try {
        await importXml(await file.text());
        dirty = true;
        status(t(`已导入 ${file.name}：请校验后发布。`, `Imported ${file.name}: check it, then deploy.`));
      } catch (error) {
        status(t(`无法读取 ${file.name}：${error.message}`, `Cannot read ${file.name}: ${error.message}`), "error");
      }
      event.target.value = "";
    });

    const response = await fetch(config.urls.bpmn, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`${response.status}`);
    await importXml(await response.text());
    dirty = false;
    return modeler;
  }

  function failed(error) {
    status(t(`操作失败：${error.message}`, `Failed: ${error.message}`), "error");
  }

  const ready = start().catch((error) => {
    failed(error);
    throw error;
  });
  window.onethingEditor = {
    ready,
    get modeler() {
      return modeler;
    },
    validate,
    deploy,
    importXml,
    currentXml,
  };
})();
