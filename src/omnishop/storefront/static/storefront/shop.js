// Omnishop web shop: progressive enhancement only. Every form works without this file.
(function () {
  "use strict";

  // Type-ahead under the search box (a combobox with a listbox of links).
  var input = document.getElementById("q");
  var list = document.getElementById("suggestions");
  if (input && list) {
    var timer = null, active = -1, last = "";
    var close = function () { list.hidden = true; list.textContent = ""; active = -1; input.setAttribute("aria-expanded", "false"); input.removeAttribute("aria-activedescendant"); };
    var show = function (items) {
      list.textContent = "";
      items.forEach(function (item, i) {
        var li = document.createElement("li");
        li.setAttribute("role", "option");
        li.id = "suggestion-" + i;
        var a = document.createElement("a");
        a.href = item.url; a.textContent = item.title; a.tabIndex = -1;
        li.appendChild(a); list.appendChild(li);
      });
      list.hidden = items.length === 0;
      input.setAttribute("aria-expanded", items.length ? "true" : "false");
    };
    var mark = function () {
      Array.prototype.forEach.call(list.children, function (li, i) { li.setAttribute("aria-selected", i === active ? "true" : "false"); });
      if (active >= 0) { input.setAttribute("aria-activedescendant", "suggestion-" + active); } else { input.removeAttribute("aria-activedescendant"); }
    };
    input.addEventListener("input", function () {
      clearTimeout(timer);
      var q = input.value.trim();
      if (q.length < 1) { close(); return; }
      timer = setTimeout(function () {
        if (q === last) { return; }
        last = q;
        fetch(input.dataset.suggest + "?q=" + encodeURIComponent(q), { headers: { Accept: "application/json" } })
          .then(function (r) { return r.ok ? r.json() : { items: [] }; })
          .then(function (data) { if (input.value.trim() === q) { active = -1; show(data.items || []); } })
          .catch(close);
      }, 150);
    });
    input.addEventListener("keydown", function (e) {
      var n = list.children.length;
      if (list.hidden || !n) { return; }
      if (e.key === "ArrowDown") { active = (active + 1) % n; mark(); e.preventDefault(); }
      else if (e.key === "ArrowUp") { active = (active - 1 + n) % n; mark(); e.preventDefault(); }
      else if (e.key === "Enter" && active >= 0) { window.location.href = list.children[active].firstChild.href; e.preventDefault(); }
      else if (e.key === "Escape") { close(); }
    });
    document.addEventListener("click", function (e) { if (!list.contains(e.target) && e.target !== input) { close(); } });
  }

  // "Add to cart" without leaving the page; the count in the header is announced (aria-live).
  document.querySelectorAll("form[data-cart]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      var button = e.submitter;
      if (button && button.getAttribute("formaction")) { return; } // "Buy now" goes through the server
      e.preventDefault();
      var status = form.querySelector("[data-cart-status]");
      fetch(form.action, { method: "POST", body: new FormData(form), headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.json().then(function (data) { return { ok: r.ok, data: data }; }); })
        .then(function (res) {
          if (res.ok) {
            var count = document.getElementById("cart-count");
            if (count) { count.textContent = res.data.count; }
            status.textContent = res.data.message;
            status.className = "live msg success";
          } else {
            status.textContent = res.data.error.message;
            status.className = "live msg error";
          }
        })
        .catch(function () { form.submit(); });
    });
  });

  // A form that places an order is sent once, however often it is clicked.
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (form.dataset.sent) { e.preventDefault(); return; }
      form.dataset.sent = "1";
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.setAttribute("aria-disabled", "true"); });
    });
  });

  // Ask before cancelling.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) { if (!window.confirm(form.dataset.confirm)) { e.preventDefault(); } });
  });
})();
