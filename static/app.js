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
