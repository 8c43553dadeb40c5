/* SLA countdowns of the queue and board: every 30 s each [data-countdown] badge recomputes the
 * time left to its deadline and its colour — green (ok, more than a quarter of the allowed
 * time left), amber (warned: a quarter or less, or warned by the tick), red (breached). A
 * paused clock (data-paused = seconds left when it paused) does not tick. Format as the
 * server's: "1d 3h", "5h 12m", "40m", "-2h 5m". */
(function () {
  "use strict";
  var RANK = { ok: 0, warned: 1, breached: 2 };
  var BADGE = { ok: "badge--ok", warned: "badge--warn", breached: "badge--danger" };

  function text(seconds) {
    var sign = seconds < 0 ? "-" : "";
    var minutes = Math.floor(Math.abs(seconds) / 60);
    var days = Math.floor(minutes / 1440);
    var hours = Math.floor((minutes % 1440) / 60);
    var mins = minutes % 60;
    if (days) { return sign + days + "d " + hours + "h"; }
    if (hours) { return sign + hours + "h " + mins + "m"; }
    return sign + mins + "m";
  }

  function tick() {
    var now = Date.now();
    Array.prototype.forEach.call(document.querySelectorAll("[data-countdown]"), function (badge) {
      if (badge.hasAttribute("data-paused")) { return; }
      var due = Date.parse(badge.getAttribute("data-due"));
      var start = Date.parse(badge.getAttribute("data-start"));
      if (isNaN(due)) { return; }
      var left = Math.floor((due - now) / 1000);
      var total = Math.max(1, (due - start) / 1000);
      var status = left <= 0 ? "breached" : left <= total * 0.25 ? "warned" : "ok";
      var known = badge.getAttribute("data-status");
      if (RANK[known] > RANK[status]) { status = known; } /* the tick's warning/breach stays */
      badge.setAttribute("data-status", status);
      Object.keys(BADGE).forEach(function (key) { badge.classList.toggle(BADGE[key], key === status); });
      var label = badge.querySelector("[data-countdown-text]");
      if (label) { label.textContent = text(left); }
      var word = badge.getAttribute("data-label-" + status);
      if (word && badge.firstChild && badge.firstChild.nodeType === 3) { badge.firstChild.textContent = word + " "; }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    window.setInterval(tick, 30000);
  });
})();
