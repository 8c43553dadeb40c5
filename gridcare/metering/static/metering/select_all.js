/* "Select all on this page" for tables of checkboxes: <input type="checkbox" data-select-all="ids">
 * ticks or clears every checkbox named "ids" in the same form. Pages work without it. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-select-all]").forEach(function (master) {
      var name = master.getAttribute("data-select-all");
      var boxes = master.form ? master.form.querySelectorAll('input[type="checkbox"][name="' + name + '"]') : [];
      master.addEventListener("change", function () {
        boxes.forEach(function (box) { box.checked = master.checked; });
      });
    });
  });
})();
