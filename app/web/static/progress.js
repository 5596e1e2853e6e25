// An upload's page: the progress bar and the counts follow the upload, polled every second;
// the page reloads once the upload has finished. Without this script the page refreshes
// itself (a <meta refresh> inside <noscript>) while the upload runs.
(function () {
  "use strict";
  var box = document.getElementById("upload-progress");
  if (!box || box.dataset.finished === "true") { return; }
  var url = box.dataset.progressUrl;
  var bar = box.querySelector("progress");

  function show(state) {
    bar.max = state.rows_total || 1;
    bar.value = state.rows_read;
    bar.textContent = state.percent + "%";
    document.querySelectorAll("[data-field]").forEach(function (element) {
      var name = element.dataset.field;
      if (!(name in state)) { return; }
      var value = state[name];
      element.textContent = typeof value === "number"
        ? value.toLocaleString(document.documentElement.lang || "ru")
        : value;
    });
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) {
        if (!state) { window.setTimeout(poll, 3000); return; }
        show(state);
        if (state.finished) { window.location.reload(); return; }
        window.setTimeout(poll, 1000);
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }

  window.setTimeout(poll, 1000);
})();
