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
        // Parsed inert (a template loads no image), and put in only if it differs:
        // a refresh for a change elsewhere leaves a playing voicemail alone.
        var fresh = document.createElement("template");
        fresh.innerHTML = html;
        open.forEach(function (id) { var d = fresh.content.getElementById(id); if (d) { d.open = true; } });
        if (fresh.innerHTML !== live.innerHTML) { live.replaceChildren(fresh.content); }
      });
  }
  var source = new EventSource(live.dataset.eventsUrl);
  source.addEventListener("open", function () { dot.classList.add("on"); });
  source.addEventListener("error", function () { dot.classList.remove("on"); });
  source.addEventListener("changed", refresh);
})();
