/* Agent workbench (坐席工作台): caller lookup without a page load, prefill of the intake form
 * from the caller, kind-dependent fields and categories, category suggestions while the
 * description is typed, Ctrl+Enter to accept. Vanilla JS; without it the page still works
 * (the lookup reloads the page, every field shows). */
(function () {
  "use strict";

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

  document.addEventListener("DOMContentLoaded", function () {
    var lookup = $("[data-caller-form]");
    var slot = $("[data-caller-slot]");
    var form = $("[data-intake-form]");
    if (!lookup || !slot || !form) {
      return;
    }
    var field = function (name) { return form.elements.namedItem(name); };
    var kindsSource = document.getElementById("category-kinds");
    var categoryKinds = kindsSource ? JSON.parse(kindsSource.textContent) : {};

    /* --- caller lookup ------------------------------------------------------------------- */
    function setValue(name, value, overwrite) {
      var input = field(name);
      if (input && value !== undefined && value !== null && (overwrite || !input.value)) {
        input.value = value;
      }
    }

    function useCaller(overwrite) {
      var panel = $("[data-caller-panel]", slot);
      if (!panel || !panel.hasAttribute("data-prefill-phone")) {
        return;
      }
      setValue("customer_id", panel.getAttribute("data-prefill-customer"), true);
      setValue("contact_name", panel.getAttribute("data-prefill-name"), overwrite);
      setValue("contact_phone", panel.getAttribute("data-prefill-phone"), overwrite);
      setValue("account_number", panel.getAttribute("data-prefill-account"), overwrite);
      if (field("kind").value === "report") {
        setValue("reporter_name", panel.getAttribute("data-prefill-name"), overwrite);
        setValue("reporter_phone", panel.getAttribute("data-prefill-phone"), overwrite);
      }
    }

    function load(query) {
      var url = lookup.getAttribute("data-caller-url") + "?" + query;
      slot.setAttribute("aria-busy", "true");
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "XMLHttpRequest" } })
        .then(function (response) {
          if (!response.ok) { throw new Error(String(response.status)); }
          return response.text();
        })
        .then(function (html) {
          slot.innerHTML = html;
          useCaller(false);
          var pick = $("[data-caller-pick]", slot);
          if (pick) { pick.focus(); }
        })
        .catch(function () { window.location.search = query; })
        .then(function () { slot.removeAttribute("aria-busy"); });
    }

    lookup.addEventListener("submit", function (event) {
      event.preventDefault();
      var q = lookup.elements.namedItem("q").value.trim();
      var query = "q=" + encodeURIComponent(q);
      if (window.history && window.history.replaceState) {
        window.history.replaceState(null, "", "?" + query);
      }
      load(query);
    });

    slot.addEventListener("click", function (event) {
      var target = event.target;
      var pick = target.closest ? target.closest("[data-caller-pick]") : null;
      if (pick) {
        event.preventDefault();
        load(pick.getAttribute("href").split("?")[1] || "");
        return;
      }
      if (target.closest && target.closest("[data-caller-use]")) {
        useCaller(true);
        field("subject").focus();
        return;
      }
      var account = target.closest ? target.closest("[data-use-account]") : null;
      if (account) {
        var name = field("kind").value === "report" ? "reported_account" : "account_number";
        setValue(name, account.getAttribute("data-use-account"), true);
      }
    });

    /* --- kind: sections and categories --------------------------------------------------- */
    var category = field("category");
    function applyKind() {
      var kind = field("kind").value;
      $all("fieldset[data-for-kinds]", form).forEach(function (set) {
        var on = set.getAttribute("data-for-kinds").split(" ").indexOf(kind) >= 0;
        set.hidden = !on;
        set.disabled = !on;
      });
      if (kind === "report") {
        setValue("reporter_name", field("contact_name").value, false);
        setValue("reporter_phone", field("contact_phone").value, false);
      }
      $all("option", category).forEach(function (option) {
        if (!option.value) { return; }
        var own = categoryKinds[option.value] === kind;
        option.hidden = !own;
        option.disabled = !own;
      });
      $all("optgroup", category).forEach(function (group) {
        group.hidden = $all("option", group).every(function (o) { return o.disabled; });
      });
      var selected = category.options[category.selectedIndex];
      if (selected && selected.disabled) { category.value = ""; }
    }
    field("kind").addEventListener("change", function () { applyKind(); suggest(); });
    applyKind();

    /* --- category suggestions while the description is typed ----------------------------- */
    var box = $("[data-suggestions]", form);
    var list = $("[data-suggestion-list]", form);
    var timer = null;
    var last = "";
    function suggest() {
      var url = form.getAttribute("data-suggest-url");
      var text = (field("subject").value + " " + field("description").value).trim();
      var key = text + "|" + field("kind").value;
      if (!url || !box || key === last) { return; }
      last = key;
      if (text.length < 2) { box.hidden = true; return; }
      var query = "?text=" + encodeURIComponent(text) + "&kind=" + encodeURIComponent(field("kind").value);
      fetch(url + query, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : []; })
        .then(function (items) {
          list.innerHTML = "";
          items.forEach(function (item) {
            var button = document.createElement("button");
            button.type = "button";
            button.className = "btn btn--small btn--secondary";
            button.textContent = item.name + " (" + item.name_en + ")";
            button.addEventListener("click", function () {
              if (field("kind").value !== item.kind) { field("kind").value = item.kind; applyKind(); }
              category.value = item.code;
              category.focus();
            });
            list.appendChild(button);
          });
          box.hidden = items.length === 0;
        })
        .catch(function () { box.hidden = true; });
    }
    ["input", "change"].forEach(function (type) {
      [field("description"), field("subject")].forEach(function (input) {
        input.addEventListener(type, function () {
          window.clearTimeout(timer);
          timer = window.setTimeout(suggest, 300);
        });
      });
    });

    /* --- Ctrl+Enter accepts ---------------------------------------------------------------- */
    document.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
      }
    });
  });
})();
