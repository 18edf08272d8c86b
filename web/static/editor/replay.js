// The process editor's "replay on recent cases": posts the diagram as it is now (not deployed)
// to the replay API and shows which recent cases the change would route differently, in the
// page. Kept apart from editor.js: it only needs the editor's current XML.
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("editor-config").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const zh = config.lang !== "en";
  const t = (chinese, english) => (zh ? chinese : english);
  const byId = (id) => document.getElementById(id);
  const STATUS = {
    processing: ["办理中", "In progress"],
    correction: ["待补正", "Correction needed"],
    completed: ["已办结", "Completed"],
  };

  function names(items) {
    return items.map((item) => (zh ? item.name : item.name_en || item.name)).join(zh ? "、" : ", ");
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.append(td);
    return td;
  }

  function line(parent, text) {
    const p = document.createElement("p");
    p.textContent = text;
    parent.append(p);
  }

  function changes(td, c) {
    if (!c.differs) line(td, t("无变化", "No change"));
    if (c.failed) {
      line(td, t(`候选流程在此办件的数据上运行失败：${c.failed.element_id} ${c.failed.element_name}`, `The candidate fails on this case's data at ${c.failed.element_id} ${c.failed.element_name}`));
    }
    if (c.applies_gained.length) line(td, t("条件成立的事项：", "Items whose condition would hold: ") + names(c.applies_gained));
    if (c.applies_lost.length) line(td, t("条件不再成立的事项：", "Items whose condition would no longer hold: ") + names(c.applies_lost));
    for (const d of c.department_changes) line(td, `${names([d.item])}：${d.old_name} → ${d.new_name}`);
    for (const m of c.deadline_moves) {
      const days = m.days > 0 ? `+${m.days}` : `${m.days}`;
      line(td, `${names([m.item])}：${m.old} → ${m.new}（${days} ${t("个工作日", "working days")}）`);
    }
    if (names(c.first_before) !== names(c.first_after)) {
      line(td, t("首先分送：", "Routed first: ") + `${names(c.first_before)} → ${names(c.first_after)}`);
    }
  }

  function show(data) {
    const s = data.summary;
    byId("replay-summary").textContent = t(
      `比较办件 ${s.compared} · 会有不同 ${s.differing} · 新增事项 ${s.appearing} · 消失事项 ${s.vanishing} · 时限变化 ${s.moved}`,
      `Cases compared ${s.compared} · would differ ${s.differing} · items appearing ${s.appearing} · items vanishing ${s.vanishing} · deadlines moved ${s.moved}`
    );
    const body = byId("replay-cases").tBodies[0];
    body.replaceChildren();
    for (const c of data.cases) {
      const row = document.createElement("tr");
      row.dataset.case = c.case_number;
      row.dataset.differs = c.differs ? "yes" : "no";
      cell(row, c.case_number);
      cell(row, new Date(c.submitted_at).toLocaleString(zh ? "zh-CN" : "en-GB"));
      const label = STATUS[c.status];
      cell(row, label ? t(label[0], label[1]) : c.status);
      cell(row, names(c.appearing), "appearing");
      cell(row, names(c.vanishing), "vanishing");
      changes(cell(row, ""), c);
      body.append(row);
    }
    if (!data.cases.length) {
      const row = document.createElement("tr");
      cell(row, t("该事项还没有办件。", "This matter has no cases yet.")).colSpan = 6;
      body.append(row);
    }
    byId("replay-result").hidden = false;
  }

  function refused(data) {
    const detail = zh ? data.detail : data.detail_en || data.detail;
    const problems = (data.problems || []).map((p) => `${p.element_id || ""} ${zh ? p.message : p.message_en}`.trim());
    return [detail || t("请求无效", "Invalid request"), ...problems].join("；");
  }

  async function replay() {
    const summary = byId("replay-summary");
    byId("replay-result").hidden = false;
    byId("replay-cases").tBodies[0].replaceChildren();
    summary.textContent = t("正在用最近的办件预演……", "Replaying on recent cases…");
    const limit = Number(byId("replay-limit").value) || 50;
    const response = await fetch(config.urls.replay, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ xml: await window.onethingEditor.currentXml(), limit }),
    });
    let data = {};
    try {
      data = await response.json();
    } catch (e) {
      data = { detail: response.statusText };
    }
    if (!response.ok) {
      summary.textContent = refused(data);
      summary.className = "error";
      return null;
    }
    summary.className = "";
    show(data);
    return data;
  }

  const button = byId("replay");
  if (button) {
    button.addEventListener("click", () =>
      window.onethingEditor.ready.then(replay).catch((error) => {
        byId("replay-summary").textContent = t(`预演失败：${error.message}`, `Replay failed: ${error.message}`);
      })
    );
  }
  window.onethingReplay = { replay };
})();
