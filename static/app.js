// Gatehouse's only script besides htmx: CSRF header for htmx requests, error toasts.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  document.body.addEventListener("htmx:configRequest", function (evt) {
    if (meta) {
      evt.detail.headers["X-CSRF-Token"] = meta.getAttribute("content");
    }
  });
  // Error responses carry a toast fragment retargeted to #toasts: let htmx swap it.
  document.body.addEventListener("htmx:beforeSwap", function (evt) {
    var xhr = evt.detail.xhr;
    if (xhr && xhr.getResponseHeader("HX-Retarget") === "#toasts") {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    }
  });
  // The navigation's table filter (shown only with JavaScript: it needs it).
  var navFilter = document.getElementById("nav-filter");
  if (navFilter) {
    navFilter.hidden = false;
    navFilter.addEventListener("input", function () {
      var words = navFilter.value.trim().toLowerCase();
      var list = document.querySelector(navFilter.getAttribute("data-filters"));
      if (!list) {
        return;
      }
      Array.prototype.forEach.call(list.children, function (li) {
        var name = (li.getAttribute("data-name") || "").toLowerCase();
        li.hidden = words !== "" && name.indexOf(words) === -1;
      });
    });
  }
  document.body.addEventListener("click", function (evt) {
    var close = evt.target.closest(".toast-close");
    if (close) {
      close.parentElement.remove();
    }
  });
})();
// The SQL console: Ctrl+Enter (Cmd+Enter) in its editor runs the statement.
(function () {
  "use strict";
  document.body.addEventListener("keydown", function (evt) {
    var area = evt.target;
    if (evt.key === "Enter" && (evt.ctrlKey || evt.metaKey) && area.matches && area.matches("textarea[data-ctrl-enter]") && area.form) {
      evt.preventDefault();
      area.form.requestSubmit(area.form.querySelector('button[value="run"]'));
    }
  });
  // A button marked data-full-page submits its form natively to its formaction (a download,
  // or a form answered with a redirect), not through the form's htmx request.
  document.addEventListener("click", function (evt) {
    var button = evt.target.closest && evt.target.closest("button[data-full-page]");
    if (!button || !button.form) {
      return;
    }
    evt.preventDefault();
    var form = button.form;
    var action = form.getAttribute("action");
    form.setAttribute("action", button.getAttribute("formaction") || action);
    form.submit();
    form.setAttribute("action", action);
  }, true);
})();
// The command palette (Ctrl+K, or / outside a text field) and the list keys: j/k move
// between rows, Enter or e opens the chosen one, n makes a new row, ? shows the keys.
(function () {
  "use strict";
  var palette = document.getElementById("palette");
  var help = document.getElementById("keys-help");
  if (!palette) {
    return;
  }
  var input = document.getElementById("palette-input");
  var list = document.getElementById("palette-list");
  var fixed = Array.prototype.slice.call(list.children);
  var record = document.createElement("li");
  record.setAttribute("role", "option");
  record.id = "pal-record";
  var active = null;

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }
  function shown() {
    return Array.prototype.filter.call(list.children, function (li) { return !li.hidden; });
  }
  function choose(li) {
    if (active) {
      active.removeAttribute("aria-selected");
    }
    active = li || null;
    if (active) {
      active.setAttribute("aria-selected", "true");
      input.setAttribute("aria-activedescendant", active.id);
      active.scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }
  // "orders 42" opens row 42 of orders; every other word filters the choices.
  function recordChoice(words) {
    var space = words.indexOf(" ");
    if (space < 1) {
      return null;
    }
    var name = words.slice(0, space).toLowerCase();
    var key = words.slice(space + 1).trim();
    var table = fixed.filter(function (li) {
      return (li.getAttribute("data-table") || "").toLowerCase() === name;
    })[0];
    if (!table || !key) {
      return null;
    }
    var parts = key.split(",").map(function (p) { return encodeURIComponent(p.trim()); });
    record.setAttribute("data-href", table.getAttribute("data-href") + "/" + parts.join(","));
    record.textContent = "";
    var kind = document.createElement("span");
    kind.className = "pal-kind";
    kind.textContent = "Record";
    record.appendChild(kind);
    record.appendChild(document.createTextNode(" " + table.getAttribute("data-table") + " " + key));
    return record;
  }
  function filter() {
    var words = input.value.trim();
    var lower = words.toLowerCase().split(/\s+/);
    fixed.forEach(function (li) {
      var text = (li.getAttribute("data-words") || "").toLowerCase();
      li.hidden = !lower.every(function (w) { return text.indexOf(w) !== -1; });
    });
    var rec = recordChoice(words);
    if (rec) {
      list.insertBefore(rec, list.firstChild);
    } else if (record.parentNode) {
      record.remove();
    }
    choose(shown()[0]);
  }
  function open() {
    if (palette.open) {
      return;
    }
    input.value = "";
    filter();
    palette.showModal();
    input.focus();
  }
  function go(li) {
    if (li && li.getAttribute("data-href")) {
      window.location.assign(li.getAttribute("data-href"));
    }
  }
  input.addEventListener("input", filter);
  input.addEventListener("keydown", function (evt) {
    var items = shown();
    var at = items.indexOf(active);
    if (evt.key === "ArrowDown" || evt.key === "ArrowUp") {
      evt.preventDefault();
      var step = evt.key === "ArrowDown" ? 1 : -1;
      choose(items[(at + step + items.length) % items.length]);
    } else if (evt.key === "Enter") {
      evt.preventDefault();
      go(active);
    } else if (evt.key === "Tab") {
      evt.preventDefault(); // the input is the dialog's only stop: focus stays in it
    }
  });
  list.addEventListener("click", function (evt) {
    go(evt.target.closest("[role=option]"));
  });
  document.addEventListener("click", function (evt) {
    if (evt.target.closest && evt.target.closest("[data-opens=palette]")) {
      open();
    }
  });
  palette.addEventListener("click", function (evt) {
    if (evt.target === palette) {
      palette.close(); // a click on the backdrop
    }
  });

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("#rows tbody td.rowlink a"));
  }
  function moveRow(step) {
    var links = rows();
    if (!links.length) {
      return;
    }
    var at = links.indexOf(document.activeElement);
    var next = at === -1 ? (step > 0 ? 0 : links.length - 1) : Math.min(Math.max(at + step, 0), links.length - 1);
    links[next].focus();
  }
  document.addEventListener("keydown", function (evt) {
    if ((evt.ctrlKey || evt.metaKey) && !evt.altKey && (evt.key === "k" || evt.key === "K")) {
      evt.preventDefault();
      open();
      return;
    }
    if (evt.ctrlKey || evt.metaKey || evt.altKey || typing(evt.target) || palette.open || (help && help.open)) {
      return;
    }
    var onRow = rows().indexOf(document.activeElement) !== -1;
    if (evt.key === "/") {
      evt.preventDefault();
      open();
    } else if (evt.key === "?" && help) {
      evt.preventDefault();
      help.showModal();
    } else if (evt.key === "j" || evt.key === "k") {
      evt.preventDefault();
      moveRow(evt.key === "j" ? 1 : -1);
    } else if (evt.key === "e" && onRow) {
      evt.preventDefault();
      document.activeElement.click();
    } else if (evt.key === "n") {
      var create = document.querySelector("a[data-key=n]");
      if (create) {
        evt.preventDefault();
        create.click();
      }
    }
  });
})();
