// The dashboard's only script: served as a file, so the Content-Security-Policy
// allows scripts from the service itself and nothing inline.
(function () {
  // The server says when the decision log grew; the page then fetches fresh HTML,
  // keeping open trails open.
  var live = document.getElementById("live"), dot = document.getElementById("live-dot");
  if (!live) { return; }
  function refresh() {
    var open = Array.prototype.map.call(live.querySelectorAll("details[open]"), function (d) { return d.id; });
    fetch(live.dataset.liveUrl, {credentials: "same-origin"})
      .then(function (r) { if (r.redirected) { location.reload(); } return r.text(); })
      .then(function (html) {
        live.innerHTML = html;
        open.forEach(function (id) { var d = document.getElementById(id); if (d) { d.open = true; } });
      });
  }
  var source = new EventSource(live.dataset.eventsUrl);
  source.addEventListener("open", function () { dot.classList.add("on"); });
  source.addEventListener("error", function () { dot.classList.remove("on"); });
  source.addEventListener("changed", refresh);
})();
