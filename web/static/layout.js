// Narrow screens show each table row as a card, every cell under its column's name (app.css,
// td[data-label]). Templates may set data-label themselves; this fills in the rest from the
// table's header row, so every table reads the same on a phone.
(function () {
  for (const table of document.querySelectorAll("main table")) {
    const names = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
    if (!names.length) continue;
    for (const row of table.querySelectorAll("tbody tr")) {
      let column = 0;
      for (const cell of row.children) {
        const name = names[column];
        if (name && !cell.hasAttribute("data-label") && !cell.hasAttribute("colspan")) {
          cell.setAttribute("data-label", name);
        }
        column += cell.colSpan || 1;
      }
    }
  }
})();
