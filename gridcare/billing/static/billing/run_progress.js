/* Billing run job page: while the run is running, poll its JSON progress every 2 s, move
 * the progress bar, and reload once it has finished so holds and review flags appear.
 * Without JavaScript the page refreshes itself (<noscript> meta refresh). */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var card = document.getElementById("run-progress");
    if (!card || card.getAttribute("data-in-progress") !== "true" || !window.fetch) {
      return;
    }
    var url = card.getAttribute("data-progress-url");
    var interval = parseInt(card.getAttribute("data-interval-ms"), 10) || 2000;
    var bar = document.getElementById("run-progress-bar");
    var text = card.querySelector("[data-progress-text]");
    var status = card.querySelector("[data-progress-status]");

    function poll() {
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.json();
        })
        .then(function (data) {
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
