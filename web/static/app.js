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
