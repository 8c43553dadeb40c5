/* Import job page: while the job is queued or running, poll its JSON progress every 2 s
 * (plain fetch), move the progress bar, and reload the page once the job has finished so
 * the counts and rejected rows appear. Without JavaScript the page refreshes itself
 * (<noscript> meta refresh) and has a "Refresh" link. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var card = document.getElementById("import-progress");
    if (!card || card.getAttribute("data-in-progress") !== "true" || !window.fetch) {
      return;
    }
    var url = card.getAttribute("data-progress-url");
    var interval = parseInt(card.getAttribute("data-interval-ms"), 10) || 2000;
    var bar = document.getElementById("import-progress-bar");
    var text = card.querySelector("[data-progress-text]");
    var status = card.querySelector("[data-progress-status]");

    function show(data) {
      if (bar) {
        bar.value = data.percent;
        bar.textContent = data.percent + "%";
      }
      if (status) {
        status.textContent = data.status_label;
      }
      if (text) {
        text.textContent = data.text;
      }
    }

    function poll() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.json();
        })
        .then(function (data) {
          show(data);
          if (data.in_progress) {
            window.setTimeout(poll, interval);
          } else {
            window.location.reload();
          }
        })
        .catch(function () {
          window.setTimeout(poll, interval * 2);
        });
    }
    window.setTimeout(poll, interval);
  });
})();
