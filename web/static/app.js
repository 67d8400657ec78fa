// drover's only script of its own. The event stream of a page is closed
// when the page is hidden: a browser may keep a left page alive in its
// back-forward cache, stream open, and after a few navigations its six
// connections to this host are all taken. A page restored from that cache
// reloads, since what it showed is stale anyway.
(function () {
  "use strict";
  var sources = [];
  // htmx's SSE extension opens its streams through this hook when defined.
  htmx.createEventSource = function (url) {
    var source = new EventSource(url, { withCredentials: true });
    sources.push(source);
    return source;
  };
  window.addEventListener("pagehide", function () {
    sources.forEach(function (s) { s.close(); });
    sources = [];
  });
  window.addEventListener("pageshow", function (e) {
    if (e.persisted) { window.location.reload(); }
  });
})();

// A form that htmx submits (the rule tester, say) swaps nothing when the
// server answers with an error, so the page would seem to ignore the
// click: show the server's message where the answer would have gone.
(function () {
  "use strict";
  document.addEventListener("htmx:responseError", function (e) {
    var form = e.detail.elt;
    var target = e.detail.target;
    if (!form || form.tagName !== "FORM" || !target) { return; }
    var xhr = e.detail.xhr;
    var doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    var alert = doc.querySelector("[role=alert]");
    var p = document.createElement("p");
    p.className = "error";
    p.setAttribute("role", "alert");
    p.textContent = (alert && alert.textContent.trim()) ||
      ("The server answered " + xhr.status + " " + xhr.statusText + ".");
    target.replaceChildren(p);
  });
})();

// The run form says what its button will do, and asks before a live run
// of something that acts on the world (its data-confirm says what).
(function () {
  "use strict";
  function wire() {
    var form = document.getElementById("run-form");
    var dry = document.getElementById("dry-run");
    var button = document.getElementById("run-button");
    if (!form || !dry || !button) { return; }
    function label() {
      button.textContent = dry.checked ? button.dataset.dryLabel : button.dataset.liveLabel;
      button.classList.toggle("danger", !dry.checked);
    }
    dry.addEventListener("change", label);
    label();
    form.addEventListener("submit", function (e) {
      var question = button.dataset.confirm;
      if (!dry.checked && question && !window.confirm(question)) { e.preventDefault(); }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", wire);
  } else {
    wire();
  }
})();

// A form with data-confirm asks before it is sent (the fleet's brake
// release and pause): these act on the whole fleet.
(function () {
  "use strict";
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var question = form && form.dataset ? form.dataset.confirm : null;
    if (question && !window.confirm(question)) { e.preventDefault(); }
  });
})();
