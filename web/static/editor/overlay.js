// The process editor's "where time goes": on the diagram, a badge on each element with the cases
// that passed it, the median and 90th percentile wait in working days and the bad reviews of its
// department's step (coloured by the 90th percentile against the item's time limit); clicking an
// element, or its badge, lists its cases beside the diagram. Figures and case numbers only. The
// same figures without script: /admin/processes/<matter>/times.
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("editor-config").textContent);
  const zh = config.lang !== "en";
  const t = (chinese, english) => (zh ? chinese : english);
  const byId = (id) => document.getElementById(id);
  const API = config.urls.bpmn.replace(/\/bpmn$/, "/overlay");
  const TYPE = "onething-times";
  const STATUS = {
    processing: ["办理中", "In progress"],
    correction: ["待补正", "Correction needed"],
    completed: ["已办结", "Completed"],
  };
  const PACE = {
    within: ["在时限内", "within the time limit"],
    near: ["接近时限", "near the time limit"],
    over: ["超过时限", "over the time limit"],
  };

  let shown = false;
  let figures = new Map(); // element id -> its figures

  function days(value) {
    return value === null || value === undefined ? "—" : String(Number(value.toFixed(1)));
  }

  function summary(f) {
    if (f.kind === "timer") {
      return [t(`已触发 ${f.cases}`, `fired ${f.cases}`), t(`待触发 ${f.waiting}`, `armed ${f.waiting}`)];
    }
    const lines = [t(`${f.cases} 件`, `${f.cases} cases`)];
    if (f.waiting) lines.push(t(`停留 ${f.waiting}`, `${f.waiting} there now`));
    if (f.median_days !== null) {
      lines.push(t(`中位 ${days(f.median_days)} / P90 ${days(f.p90_days)} 工作日`, `median ${days(f.median_days)} / p90 ${days(f.p90_days)} working days`));
    }
    if (f.bad_reviews) lines.push(t(`差评 ${f.bad_reviews}`, `${f.bad_reviews} bad reviews`));
    return lines;
  }

  function badge(f) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = `times-badge pace-${f.pace || "none"}`;
    button.dataset.elementId = f.element_id;
    const lines = summary(f);
    for (const text of lines) {
      const span = document.createElement("span");
      span.textContent = text;
      button.append(span);
    }
    const pace = f.pace ? `，${t(...PACE[f.pace])}（${t("时限", "limit")} ${f.limit_days}）` : "";
    button.setAttribute("aria-label", `${f.name}：${lines.join("，")}${pace}。${t("查看办件", "Show its cases")}`);
    button.addEventListener("click", (event) => {
      event.stopPropagation();
      showCases(f.element_id).catch(failed);
    });
    return button;
  }

  function status(text, className) {
    const line = byId("times-status");
    line.textContent = text;
    line.className = className || "";
  }

  function failed(error) {
    status(t(`读取办理时长失败：${error.message}`, `Could not read the figures: ${error.message}`), "error");
  }

  async function getJson(url) {
    const response = await fetch(url, { credentials: "same-origin" });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error((zh ? data.detail : data.detail_en || data.detail) || response.statusText);
    return data;
  }

  function draw() {
    const modeler = window.onethingEditor.modeler;
    const overlays = modeler.get("overlays");
    const registry = modeler.get("elementRegistry");
    overlays.remove({ type: TYPE });
    for (const f of figures.values()) {
      if (!registry.get(f.element_id)) continue; // not in the diagram as it is now
      if (!f.cases && !f.waiting && !f.bad_reviews) continue; // nothing to say: no clutter
      // above the element; a deadline timer's below it (it sits on its task's edge)
      const below = f.kind === "timer";
      const position = below ? { bottom: -4, left: 0 } : { top: -4, left: 0 };
      const html = badge(f);
      if (below) html.classList.add("below");
      overlays.add(f.element_id, TYPE, { position, html });
    }
  }

  async function showOverlay() {
    await window.onethingEditor.ready;
    status(t("正在统计办理时长……", "Counting where time goes…"));
    const data = await getJson(API);
    figures = new Map(data.elements.map((f) => [f.element_id, f]));
    shown = true;
    draw();
    byId("canvas").classList.add("times-on");
    status(t(`${data.since} 至 ${data.until}：每个环节的办件数、停留时长（工作日）和差评。点击环节查看其办件。`, `${data.since} to ${data.until}: cases, waits (working days) and bad reviews per element. Click an element to list its cases.`));
  }

  function hideOverlay() {
    shown = false;
    window.onethingEditor.modeler.get("overlays").remove({ type: TYPE });
    byId("canvas").classList.remove("times-on");
    byId("times-panel").hidden = true;
    status("");
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.append(td);
  }

  function when(moment) {
    if (!moment) return t("仍在此环节", "Still there");
    return new Date(moment).toLocaleString(zh ? "zh-CN" : "en-GB", { timeZone: "Asia/Shanghai", dateStyle: "short", timeStyle: "short" });
  }

  async function showCases(elementId) {
    const f = figures.get(elementId);
    if (!shown || !f) return null;
    const panel = byId("times-panel");
    panel.hidden = false;
    byId("times-title").textContent = f.name;
    byId("times-summary").textContent = t("正在读取办件……", "Reading its cases…");
    const body = byId("times-cases").tBodies[0];
    body.replaceChildren();
    const data = await getJson(`${API}/${encodeURIComponent(elementId)}/cases`);
    byId("times-summary").textContent = `${summary(f).join(" · ")} · ${t(`列出 ${data.cases.length} / ${data.total}`, `${data.cases.length} of ${data.total} listed`)}`;
    byId("times-page").href = `/admin/processes/${config.matter}/times/${encodeURIComponent(elementId)}?since=${data.since}&until=${data.until}`;
    for (const c of data.cases) {
      const row = document.createElement("tr");
      row.dataset.case = c.number;
      cell(row, c.number);
      const label = STATUS[c.status];
      cell(row, label ? t(label[0], label[1]) : c.status);
      cell(row, when(c.entered));
      cell(row, when(c.left));
      cell(row, String(c.waited_days));
      body.append(row);
    }
    if (!data.cases.length) {
      const row = document.createElement("tr");
      cell(row, t("时间范围内没有办件经过该环节。", "No case passed this element in the window."));
      row.firstChild.colSpan = 5;
      body.append(row);
    }
    return data;
  }

  const toggle = byId("times-toggle");
  if (!toggle) return;
  toggle.addEventListener("click", () => {
    const on = toggle.getAttribute("aria-pressed") !== "true";
    toggle.setAttribute("aria-pressed", on ? "true" : "false");
    toggle.textContent = on ? t("隐藏办理时长", "Hide where time goes") : t("显示办理时长", "Show where time goes");
    if (on) {
      showOverlay().catch((error) => {
        toggle.setAttribute("aria-pressed", "false");
        toggle.textContent = t("显示办理时长", "Show where time goes");
        failed(error);
      });
    } else {
      hideOverlay();
    }
  });
  byId("times-close").addEventListener("click", () => {
    byId("times-panel").hidden = true;
    toggle.focus();
  });
  window.onethingEditor.ready.then((modeler) => {
    const events = modeler.get("eventBus");
    events.on("element.click", (event) => {
      if (shown) showCases(event.element.id).catch(failed);
    });
    events.on("import.done", () => {
      if (shown) draw();
    });
  });
  window.onethingTimes = { showOverlay, hideOverlay, showCases };
})();
