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
  const BPMN_MODEL = "http://www.omg.org/spec/BPMN/20100524/MODEL";
  const BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI";

  let modeler;
  let moddle;
  let chosenProcess = null; // the process chosen of a file with several pools
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
          t(
            "泳道即部门：泳道显示部门名称，其中的任务进入该部门窗口人员的待办（按部门代码分办，改名称不影响分办）。",
            "A lane is a department: it shows the department's name and its tasks go to that department's clerks (routed by the department's code: renaming the lane does not change that)."
          )
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

  // One problem or note as a list entry: the element's id (a button that selects it) and name,
  // then what to change; problems are also marked on the diagram.
  function problemEntry(problem, kind) {
    const registry = modeler.get("elementRegistry");
    const canvas = modeler.get("canvas");
    const li = document.createElement("li");
    li.className = kind;
    const message = zh ? problem.message : problem.message_en || problem.message;
    if (!problem.element_id) {
      li.textContent = message;
      return li;
    }
    li.dataset.elementId = problem.element_id;
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
    const name = problem.element_name ? `（${problem.element_name}）` : "";
    li.append(link, document.createTextNode(`${name}：${message}`));
    if (registry.get(problem.element_id) && kind === "problem" && !marked.includes(problem.element_id)) {
      canvas.addMarker(problem.element_id, "onething-problem");
      marked.push(problem.element_id);
    }
    return li;
  }

  // The answer's verdicts under their headings: can it run here, does it fit this matter (and
  // what was converted); an answer without them (a refused request) is one list.
  function showProblems(problems, notes, verdicts) {
    clearMarkers();
    const box = byId("problems");
    box.replaceChildren();
    const group = (title, entries, kind, empty, id) => {
      if (!entries.length && !empty) return;
      const heading = document.createElement("h3");
      heading.textContent = title;
      heading.id = `${id}-title`;
      box.append(heading);
      if (!entries.length) {
        const p = document.createElement("p");
        p.id = id;
        p.textContent = empty;
        box.append(p);
        return;
      }
      const list = document.createElement("ul");
      list.id = id;
      list.setAttribute("aria-labelledby", heading.id);
      for (const entry of entries) list.append(problemEntry(entry, kind));
      box.append(list);
    };
    if (!verdicts || !verdicts.runs) {
      group(t("问题", "Problems"), problems, "problem", "", "verdict-problems");
    } else {
      group(t("能否在本系统运行", "Can it run here"), verdicts.runs, "problem", t("可以运行。", "Yes."), "verdict-runs");
      const fitsEmpty = verdicts.fits_checked
        ? t("符合本事项。", "Yes.")
        : t("尚未检查：文件需先能在本系统运行。", "Not checked yet: the file must be able to run here first.");
      group(t("是否符合本事项", "Does it fit this matter"), verdicts.fits, "problem", fitsEmpty, "verdict-fits");
    }
    group(t("已自动转换", "Converted on import"), notes || [], "note", "", "verdict-notes");
    if (verdicts && verdicts.processes && verdicts.processes.length) box.append(processChoice(verdicts.processes));
  }

  // A file with several pools: the administrator chooses the process to use, then it is
  // checked again (and deployed) with that choice.
  function processChoice(choices) {
    const fieldset = document.createElement("fieldset");
    fieldset.id = "process-choice";
    const legend = document.createElement("legend");
    legend.textContent = t("使用文件中的哪个流程", "Which process of the file to use");
    fieldset.append(legend);
    choices.forEach((choice, index) => {
      const row = document.createElement("p");
      const radio = document.createElement("input");
      radio.type = "radio";
      radio.name = "process-choice";
      radio.id = `process-choice-${index + 1}`;
      radio.value = choice.process_id;
      radio.checked = chosenProcess === choice.process_id;
      radio.addEventListener("change", () => {
        chosenProcess = choice.process_id;
        validate().catch(failed);
      });
      const label = document.createElement("label");
      label.htmlFor = radio.id;
      const pool = choice.participant ? `（${t("泳池", "pool")}：${choice.participant}）` : "";
      label.textContent = `${choice.process_id} ${choice.name}${pool}，${t("任务", "tasks")} ${choice.tasks}`;
      row.append(radio, label);
      fieldset.append(row);
    });
    return fieldset;
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

  // What the server is sent besides the XML: the process chosen of a file with several pools.
  function choiceOf() {
    return chosenProcess ? { process_id: chosenProcess } : {};
  }

  async function validate(xml) {
    status(t("正在校验……", "Checking…"));
    const body = { xml: xml === undefined ? await currentXml() : xml, ...choiceOf() };
    const { response, data } = await post(config.urls.validate, body);
    if (!response.ok) {
      status(errorText(data), "error");
      showProblems(data.problems || [], []);
      return false;
    }
    showProblems(data.problems, data.notes, data);
    if (data.ok) status(t("校验通过，可以发布。", "No problems: ready to deploy."), "ok");
    else status(t(`发现 ${data.problems.length} 个问题，已在图中标出。`, `${data.problems.length} problem(s), marked on the diagram.`), "error");
    return data.ok;
  }

  async function deploy() {
    const comment = byId("deploy-comment").value.trim();
    status(t("正在发布……", "Deploying…"));
    const { response, data } = await post(config.urls.deploy, { xml: await currentXml(), comment, ...choiceOf() });
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
    showProblems(data.problems || [], [], data);
    status(errorText(data), "error");
    return null;
  }

  // The whole diagram in view, clear of the palette that floats over the canvas's left edge (a
  // plain fit-viewport puts the start event under it); a diagram too big to read whole opens at
  // a readable scale from its top left, where the process starts, the rest a scroll away.
  const READABLE = 0.6;
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
    const scale = Math.max(
      Math.min((container.width - left - margin) / inner.width, (container.height - 2 * margin) / inner.height, 1),
      READABLE
    );
    const height = container.height / scale;
    let y = inner.y - margin / scale;
    const start = modeler.get("elementRegistry").find((e) => e.type === "bpmn:StartEvent");
    if (start && start.y + start.height > y + height - margin / scale) y = start.y - height / 3;
    canvas.viewbox({ x: inner.x - left / scale, y, width: container.width / scale, height });
  }

  // How many pools, lanes, flow nodes and sequence flows the file's diagram does not draw
  // (files from generators, and from modelers that draw no diagram or only part of one).
  const FLOW_NODE = /^(task|subProcess|adHocSubProcess|transaction|callActivity)$|Task$|Event$|Gateway$/;
  function undrawn(xml) {
    const doc = new DOMParser().parseFromString(xml, "application/xml");
    if (doc.getElementsByTagName("parsererror").length) return 0;
    const drawn = new Set();
    for (const tag of ["BPMNShape", "BPMNEdge"]) {
      for (const di of doc.getElementsByTagNameNS(BPMNDI, tag)) drawn.add(di.getAttribute("bpmnElement"));
    }
    let missing = 0;
    for (const el of doc.getElementsByTagNameNS(BPMN_MODEL, "*")) {
      const kind = el.localName;
      const inProcess = el.parentNode && el.parentNode.localName === "process";
      const wanted =
        kind === "participant" || kind === "lane" || (inProcess && (kind === "sequenceFlow" || FLOW_NODE.test(kind)));
      if (wanted && el.getAttribute("id") && !drawn.has(el.getAttribute("id"))) missing += 1;
    }
    return missing;
  }

  // The file as the modeler should open it: laid out by the server when its diagram is missing
  // or incomplete (bpmn-auto-layout in the browser would drop the pools and lanes, which are
  // our departments; engine/layout.py keeps them).
  async function laidOut(xml) {
    if (!undrawn(xml)) return xml;
    const { response, data } = await post(config.urls.layout, { xml });
    return response.ok && data.laid_out ? data.xml : xml;
  }

  async function importXml(xml) {
    const result = await modeler.importXML(await laidOut(xml));
    fitBesidePalette();
    clearMarkers();
    renderPanel(null);
    if (result.warnings && result.warnings.length) {
      status(t(`已载入，有 ${result.warnings.length} 条导入提示。`, `Loaded with ${result.warnings.length} import warning(s).`));
    }
    return result;
  }

  // A local file's text in the encoding its XML declaration names (GBK, GB18030, UTF-16…), as
  // the server reads an uploaded file: File.text() would take every file for UTF-8.
  async function readXmlFile(file) {
    const bytes = new Uint8Array(await file.arrayBuffer());
    let label = "utf-8";
    if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0x3c && bytes[1] === 0)) label = "utf-16le";
    else if ((bytes[0] === 0xfe && bytes[1] === 0xff) || (bytes[0] === 0 && bytes[1] === 0x3c)) label = "utf-16be";
    else {
      const head = new TextDecoder("latin1").decode(bytes.slice(0, 300));
      const declared = /^(?:\ufeff|\u00ef\u00bb\u00bf)?\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(head);
      if (declared) label = declared[1];
    }
    let decoder;
    try {
      decoder = new TextDecoder(label);
    } catch (error) {
      decoder = new TextDecoder("utf-8"); // a label the browser does not know: the server will say
    }
    return decoder.decode(bytes);
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
      const xml = await readXmlFile(file);
      try {
        await importXml(xml);
        chosenProcess = null;
        dirty = true;
        status(t(`已导入 ${file.name}：请校验后发布。`, `Imported ${file.name}: check it, then deploy.`));
      } catch (error) {
        // the modeler's own parse error is not for people: the server says where and what
        await validate(xml).catch(failed);
        status(t(`无法读取 ${file.name}：它不是编辑器能打开的 BPMN 文件，问题见下方。`, `Cannot open ${file.name}: it is not a BPMN file the editor can read; see the problems below.`), "error");
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
    readXmlFile,
  };
})();
