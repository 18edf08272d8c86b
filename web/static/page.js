// Small behaviours of the pages, kept out of the HTML so the Content-Security-Policy can forbid
// inline script: each runs only where its element is on the page.
(function () {
  // A form sent back with errors: move the focus to the summary, so it is read out first.
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();

  // The acceptance receipt's print button.
  const print = document.getElementById("print");
  if (print) print.addEventListener("click", () => window.print());

  // "Go back" on an error page: the previous page when there is one (without script: home).
  for (const link of document.querySelectorAll("a[data-back]")) {
    link.addEventListener("click", (event) => {
      if (window.history.length > 1) {
        event.preventDefault();
        window.history.back();
      }
    });
  }
})();
