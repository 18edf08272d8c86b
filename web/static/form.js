// The combined form, updated as the applicant answers (progressive enhancement: without
// script, the "update the form" button shows the form again for the answers).
//
// The server stays the one place where conditions are decided: on a change, the form's fields
// (never its files) go to the form's preview address, which answers with the parts that depend
// on the answers (the items, the sections and their fields, the materials), rendered by the
// same macros as the page. They are merged in place: a field or material already on the page
// keeps its element (what was typed, the file chosen, the focus); one no longer asked is hidden
// and disabled (so it is not sent) and comes back as it was if asked again; a new one is added.
// What changed is announced in the page's polite live region.
(function () {
  const form = document.getElementById("application");
  if (!form || !form.dataset.preview || !window.fetch || !window.DOMParser) return;
  const live = document.getElementById("form-updates");
  const refresh = document.getElementById("refresh");
  const refreshHint = document.getElementById("refresh-hint");
  const liveHint = document.getElementById("live-hint");
  if (refresh) refresh.hidden = true;
  if (refreshHint) refreshHint.hidden = true;
  if (liveHint) liveHint.hidden = false;

  let timer = null;
  let sent = 0; // the newest request: an older answer arriving late is dropped

  function answers() {
    const body = new URLSearchParams();
    for (const [key, value] of new FormData(form)) {
      if (typeof value === "string" && key !== "refresh" && key !== "save_draft") {
        body.append(key, value);
      }
    }
    return body;
  }

  function setEnabled(element, enabled) {
    element.hidden = !enabled;
    for (const control of element.querySelectorAll("input, select, textarea")) {
      control.disabled = !enabled;
    }
  }

  function label(element) {
    if (element.dataset.label) return element.dataset.label;
    if (element.dataset.title) return element.dataset.title;
    const strong = element.querySelector("strong");
    return strong ? strong.textContent.trim() : "";
  }

  // Put `wanted` (elements, in order) into `parent`, keeping elements already there (moved
  // only when out of place); the others are hidden at the end. Returns [added, removed] names.
  function merge(parent, wanted, selector) {
    const added = [];
    const removed = [];
    const kept = new Set();
    let previous = null;
    for (const fresh of wanted) {
      let element = fresh.parentElement === parent ? fresh : null; // already in place
      if (!element && fresh.id) element = document.getElementById(fresh.id);
      if (element && element.parentElement !== parent) element = null;
      if (element === fresh) {
        // already this section's own element (its legend): nothing to refresh
      } else if (element) {
        if (element.hidden) added.push(label(element));
        setEnabled(element, true);
        refreshDetails(element, fresh);
      } else {
        element = document.importNode(fresh, true);
        added.push(label(element));
      }
      const expected = previous ? previous.nextElementSibling : parent.firstElementChild;
      if (element !== expected) {
        parent.insertBefore(element, expected ? expected : null);
      }
      kept.add(element);
      previous = element;
    }
    for (const element of Array.from(parent.querySelectorAll(`:scope > ${selector}`))) {
      if (kept.has(element)) continue;
      if (!element.hidden) removed.push(label(element));
      setEnabled(element, false);
      parent.appendChild(element); // hidden ones stay after the shown ones
    }
    return [added, removed];
  }

  // What of a kept field can change with the answers: whether it is required, which items
  // use it. Its control (the value typed, the file chosen) stays as it is.
  function refreshDetails(element, fresh) {
    const usedBy = element.querySelector(".used-by");
    const freshUsedBy = fresh.querySelector(".used-by");
    if (usedBy && freshUsedBy) usedBy.textContent = freshUsedBy.textContent;
    const caption = element.querySelector("label");
    const freshCaption = fresh.querySelector("label");
    if (caption && freshCaption && caption.htmlFor === freshCaption.htmlFor) {
      const marker = caption.querySelector(".req");
      const wanted = freshCaption.querySelector(".req");
      if (wanted && !marker) caption.appendChild(document.importNode(wanted, true));
      if (!wanted && marker) marker.remove();
    }
    const freshControl = fresh.querySelector("input:not([type=hidden]), select");
    const control = element.querySelector("input:not([type=hidden]), select");
    if (freshControl && control && control.type !== "file") {
      if (freshControl.hasAttribute("aria-required")) control.setAttribute("aria-required", "true");
      else control.removeAttribute("aria-required");
    }
  }

  function apply(html) {
    const parsed = new DOMParser().parseFromString(html, "text/html");
    const added = [];
    const removed = [];
    const focused = document.activeElement;

    const items = document.getElementById("items-panel");
    const freshItems = parsed.getElementById("items-panel");
    if (items && freshItems) {
      const before = new Set(Array.from(items.querySelectorAll("[data-item]"), (li) => li.dataset.item));
      const after = new Set(Array.from(freshItems.querySelectorAll("[data-item]"), (li) => li.dataset.item));
      for (const li of freshItems.querySelectorAll("[data-item]")) {
        if (!before.has(li.dataset.item)) added.push(li.dataset.name);
      }
      for (const li of items.querySelectorAll("[data-item]")) {
        if (!after.has(li.dataset.item)) removed.push(li.dataset.name);
      }
      items.replaceWith(document.importNode(freshItems, true));
    }

    const sections = document.getElementById("form-sections");
    const freshSections = parsed.getElementById("form-sections");
    if (sections && freshSections) {
      // The sections: kept, added or hidden; then, in each shown, its fields or materials.
      const wanted = Array.from(freshSections.children).filter((el) => el.tagName === "FIELDSET");
      const shells = wanted.map((fresh) => {
        const shell = fresh.cloneNode(false);
        const legend = fresh.querySelector(":scope > legend");
        if (legend) shell.appendChild(legend.cloneNode(true));
        return shell;
      });
      const [, gone] = merge(sections, shells, "fieldset");
      removed.push(...gone);
      for (const fresh of wanted) {
        const section = document.getElementById(fresh.id);
        if (fresh.id === "section-materials") {
          const list = section.querySelector("ul.checklist");
          const freshList = fresh.querySelector("ul.checklist");
          if (list && freshList) {
            const [plus, minus] = merge(list, Array.from(freshList.children), "li");
            added.push(...plus);
            removed.push(...minus);
          }
          continue;
        }
        const fields = Array.from(fresh.children).filter((el) => el.classList.contains("field"));
        const legend = section.querySelector(":scope > legend");
        // The fields go after the legend: merge into the section, legend first.
        const [plus, minus] = merge(section, [legend, ...fields].filter(Boolean), "div.field");
        added.push(...plus);
        removed.push(...minus);
      }
    }

    if (focused && focused !== document.activeElement && document.contains(focused)) {
      focused.focus({ preventScroll: true });
    }
    announce(added.filter(Boolean), removed.filter(Boolean));
  }

  function announce(added, removed) {
    if (!live || (!added.length && !removed.length)) return;
    const parts = [];
    if (added.length) parts.push(`${live.dataset.added}：${added.join("、")}`);
    if (removed.length) parts.push(`${live.dataset.removed}：${removed.join("、")}`);
    live.textContent = `${live.dataset.prefix}：${parts.join("；")}`;
  }

  function failed() {
    // Without the update, the applicant can still show the form again by the button.
    if (refresh) refresh.hidden = false;
    if (refreshHint) refreshHint.hidden = false;
    if (liveHint) liveHint.hidden = true;
    if (live) live.textContent = live.dataset.failed;
  }

  async function update() {
    const mine = ++sent;
    form.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(form.dataset.preview, {
        method: "POST",
        body: answers(),
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
      if (mine !== sent) return;
      if (!response.ok) {
        failed();
        return;
      }
      apply(await response.text());
      form.dataset.updated = String(mine);
    } catch (e) {
      if (mine === sent) failed();
    } finally {
      if (mine === sent) form.removeAttribute("aria-busy");
    }
  }

  form.addEventListener("change", (event) => {
    const target = event.target;
    if (!target || !target.name || target.type === "file") return;
    window.clearTimeout(timer);
    timer = window.setTimeout(update, 250);
  });
})();
