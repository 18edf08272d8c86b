// Live progress on the case page: poll the case's JSON and update each item's status in place.
(function () {
  const root = document.getElementById("case-live");
  if (!root) return;
  const id = root.dataset.case;
  async function refresh() {
    try {
      const response = await fetch(`/api/v1/cases/${id}`, { credentials: "same-origin" });
      if (!response.ok) return;
      const data = await response.json();
      const overall = document.getElementById("case-status");
      if (overall.dataset.status !== data.status) { window.location.reload(); return; }
      for (const item of data.items) {
        const cell = root.querySelector(`tr[data-item="${item.item}"] td.status`);
        if (!cell) { window.location.reload(); return; }
        if (cell.dataset.status !== item.status) { window.location.reload(); return; }
      }
    } catch (e) { /* offline: try again later */ }
  }
  setInterval(refresh, 3000);
})();
