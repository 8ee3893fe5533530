// Live updates on lists and record pages. htmx's SSE extension keeps the /events stream
// open (and reconnects with Last-Event-ID); each change notice {table, key, action, actor,
// at} arrives here as an "sse:change" event. A list rereads its rows (the same fragment
// htmx swaps) and replaces only the changed ones, which flash; rows it does not show yet
// wait behind a "N new rows — show" bar so nothing shifts under the reader; a deleted row
// greys out. A record page shows a banner when someone else saves or deletes that row.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) {
    return;
  }
  var table = live.getAttribute("data-live-table");
  var recordKey = live.getAttribute("data-live-key");
  var reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  var FLASH_MS = reduced ? 4000 : 2000;

  function notice(evt) {
    try {
      return JSON.parse(evt.detail.data);
    } catch (e) {
      return null;
    }
  }

  function rowOf(key) {
    var rows = document.querySelectorAll("#rows tr[data-key]");
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute("data-key") === key) {
        return rows[i];
      }
    }
    return null;
  }

  function flash(el) {
    el.classList.add("live-flash");
    window.setTimeout(function () {
      el.classList.remove("live-flash");
    }, FLASH_MS);
  }

  // ---- Lists ----
  var bar = document.getElementById("live-bar");
  var waiting = 0;
  var changed = {};
  var timer = null;

  function showBar(text) {
    bar.textContent = "";
    var words = document.createElement("span");
    words.textContent = text + " — ";
    var show = document.createElement("button");
    show.type = "button";
    show.className = "link-button";
    show.textContent = "show";
    show.addEventListener("click", function () {
      waiting = 0;
      bar.textContent = "";
      htmx.ajax("GET", window.location.pathname + window.location.search, {
        target: "#rows",
        swap: "outerHTML"
      });
    });
    bar.appendChild(words);
    bar.appendChild(show);
  }

  function rowsArrived() {
    waiting += 1;
    showBar(waiting === 1 ? "1 new row" : waiting + " new rows");
  }

  // Reread the list as shown (same URL, as htmx asks for it) and replace the changed rows.
  function refresh() {
    timer = null;
    var keys = changed;
    changed = {};
    fetch(window.location.pathname + window.location.search, {
      headers: { "HX-Request": "true" },
      credentials: "same-origin"
    }).then(function (res) {
      return res.ok ? res.text() : null;
    }).then(function (html) {
      if (html === null) {
        return;
      }
      var holder = document.createElement("template");
      holder.innerHTML = html;
      Object.keys(keys).forEach(function (key) {
        var old = rowOf(key);
        var fresh = null;
        var candidates = holder.content.querySelectorAll("#rows tr[data-key]");
        for (var i = 0; i < candidates.length; i++) {
          if (candidates[i].getAttribute("data-key") === key) {
            fresh = candidates[i];
          }
        }
        if (!old) {
          return;
        }
        if (!fresh) {
          // It no longer matches what the list shows.
          old.classList.add("live-gone");
          return;
        }
        old.replaceWith(fresh);
        htmx.process(fresh);
        flash(fresh);
      });
    }).catch(function () {});
  }

  function onList(n) {
    var row = n.key ? rowOf(n.key) : null;
    if (n.action === "deleted") {
      if (row) {
        row.classList.add("live-gone");
        row.setAttribute("title", "Deleted by " + n.actor);
      }
      return;
    }
    if (!row) {
      if (n.action === "imported") {
        showBar("Rows were imported");
      } else if (n.action === "created" || n.action === "restored") {
        rowsArrived();
      }
      return;
    }
    row.classList.remove("live-gone");
    changed[n.key] = true;
    if (timer === null) {
      timer = window.setTimeout(refresh, 150);
    }
  }

  // ---- A record page ----
  var banner = document.getElementById("live-banner");
  var submitting = false;
  var ticker = null;

  document.addEventListener("submit", function () {
    submitting = true;
  }, true);

  function ago(at) {
    var secs = Math.max(0, Math.round((Date.now() - Date.parse(at)) / 1000));
    if (secs < 60) {
      return secs + " s ago";
    }
    return Math.round(secs / 60) + " min ago";
  }

  function onRecord(n) {
    if (n.key !== recordKey || submitting || !banner) {
      return;
    }
    var deleted = n.action === "deleted";
    banner.textContent = "";
    banner.className = "live-banner" + (deleted ? " live-banner-deleted" : "");
    var what = document.createElement("span");
    what.textContent = (deleted ? "Deleted by " : "Changed by ") + n.actor + " ";
    var when = document.createElement("span");
    when.setAttribute("aria-hidden", "true");
    when.textContent = ago(n.at);
    var spoken = document.createElement("span");
    spoken.className = "visually-hidden";
    spoken.textContent = "just now";
    banner.appendChild(what);
    banner.appendChild(when);
    banner.appendChild(spoken);
    if (!deleted) {
      banner.appendChild(document.createTextNode(" — "));
      var review = document.createElement("a");
      review.href = window.location.pathname;
      review.textContent = "review changes";
      banner.appendChild(review);
    }
    if (ticker !== null) {
      window.clearInterval(ticker);
    }
    ticker = window.setInterval(function () {
      when.textContent = ago(n.at);
    }, 1000);
  }

  // Marks the page as listening (tests and styles can tell).
  live.addEventListener("htmx:sseOpen", function () {
    live.setAttribute("data-live-open", "");
  });

  document.body.addEventListener("sse:change", function (evt) {
    var n = notice(evt);
    if (!n || n.table !== table) {
      return;
    }
    if (recordKey !== null) {
      onRecord(n);
    } else if (bar) {
      onList(n);
    }
  });

  // Notices may have been missed (the stream could not resume): offer to reread the list.
  document.body.addEventListener("sse:reset", function () {
    if (recordKey === null && bar) {
      showBar("Rows may have changed");
    }
  });
})();
